"""The budget ledger: reserve a call's worst case in one conditional UPDATE per budget (all
of a call's budgets in one transaction, all or none), settle to what it used, and notice the
soft thresholds crossed, each once per period.

Counters are integers (nanodollars or tokens) updated in SQL (`reserved = reserved + n`
where `spent + reserved + n <= cap`), so concurrent calls on any number of processes can
never reserve past the cap on SQLite or PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update

from vibeforge.budgets.amounts import NANO, Amount
from vibeforge.budgets.periods import period_start
from vibeforge.db.engine import Database
from vibeforge.db.types import utcnow
from vibeforge.db.usage_tables import Budget
from vibeforge.llm.errors import ProviderError

log = logging.getLogger("vibeforge.budgets")
QUIET = {"synchronize_session": False}  # counters are never read back through the session
# How long the list of budgets that apply to a caller is reused; a change made through this
# process is seen at once, one made by another process within this many seconds.
CACHE_TTL_S = 2.0


class BudgetExceeded(ProviderError):
    """A call that does not fit a budget (refused before it starts), or one cut off when its
    running cost reached what it had reserved."""

    code = "budget_exceeded"
    status = 429

    def __init__(self, detail: str, budget_id: str | None = None, unsent: bool = False) -> None:
        ProviderError.__init__(self, "budget", detail)
        self.detail = detail
        self.budget_id = budget_id
        self.unsent = unsent  # refused before the provider heard of the call


@dataclass(frozen=True, slots=True)
class CallScope:
    """Whose call it is: the budgets of this user, project and model config apply."""

    owner_id: str
    project_id: str | None
    config_id: str | None


@dataclass(frozen=True, slots=True)
class BudgetRef:
    """What a reservation needs to know of a budget."""

    id: str
    name: str
    scope: str
    unit: str
    period: str
    cap: int


@dataclass(frozen=True, slots=True)
class Held:
    """One budget's part of a reservation."""

    budget: BudgetRef
    amount: int
    period_start: datetime


@dataclass(frozen=True, slots=True)
class Reservation:
    """What a call reserved: the most it may spend in each unit (None: unlimited)."""

    held: tuple[Held, ...]

    def allowance(self, unit: str) -> int | None:
        """The most the call may use in `unit` (the least held by a budget of that unit)."""
        amounts = [held.amount for held in self.held if held.budget.unit == unit]
        return min(amounts) if amounts else None


@dataclass(frozen=True, slots=True)
class Warning:
    """A soft threshold a budget's spending crossed."""

    budget_id: str
    owner_id: str
    name: str
    scope: str
    subject_id: str
    unit: str
    threshold: float
    spent: int
    cap: int
    project_id: str | None  # the project of the call that crossed it, if any
    webhook_url: str | None
    webhook_secret_encrypted: str | None

    def as_dict(self) -> dict[str, Any]:
        """The warning as an event or webhook body (dollars as dollars)."""
        scale = NANO if self.unit == "usd" else 1
        return {
            "budget_id": self.budget_id,
            "name": self.name,
            "scope": self.scope,
            "subject_id": self.subject_id,
            "unit": self.unit,
            "threshold": self.threshold,
            "spent": self.spent / scale,
            "cap": self.cap / scale,
        }


def describe(budget: BudgetRef, unit_amount: int) -> str:
    """A budget and an amount in words."""
    if budget.unit == "usd":
        amount, cap = f"${unit_amount / NANO:.6f}", f"${budget.cap / NANO:.2f}"
    else:
        amount, cap = f"{unit_amount} tokens", f"{budget.cap} tokens"
    label = budget.name or budget.id
    return f"the {budget.period} {budget.scope} budget {label!r} ({cap}) has no room for {amount}"


class BudgetLedger:
    """Reservations and settlements against the budgets table."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[CallScope, tuple[float, int, list[BudgetRef]]] = {}
        self._generation = 0
        self.on_warning: Callable[[Warning], None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def changed(self) -> None:
        """Forget which budgets apply (one was created, changed or deleted)."""
        self._generation += 1
        self._cache.clear()

    async def applicable(self, scope: CallScope) -> list[BudgetRef]:
        """The budgets a call of `scope` counts against."""
        now = time.monotonic()
        cached = self._cache.get(scope)
        if cached is not None and cached[0] > now and cached[1] == self._generation:
            return cached[2]
        generation = self._generation
        subjects = [and_(Budget.scope == "user", Budget.subject_id == scope.owner_id)]
        if scope.project_id:
            subjects.append(and_(Budget.scope == "project", Budget.subject_id == scope.project_id))
        if scope.config_id:
            subjects.append(
                and_(Budget.scope == "model_config", Budget.subject_id == scope.config_id)
            )
        async with self._db.transaction() as session:
            rows = await session.execute(
                select(Budget.id, Budget.name, Budget.scope, Budget.unit, Budget.period, Budget.cap)
                .where(or_(*subjects))
                .order_by(Budget.id)  # one lock order for every transaction: no deadlocks
            )
            refs = [BudgetRef(*row) for row in rows]
        if generation == self._generation:
            self._cache[scope] = (now + CACHE_TTL_S, generation, refs)
        return refs

    async def reserve(self, budgets: list[BudgetRef], worst: Amount) -> Reservation:
        """Hold `worst` in every budget, or none of them (BudgetExceeded naming the first
        that has no room, or that counts dollars for a model without prices)."""
        now = utcnow()
        held: list[Held] = []
        for budget in budgets:
            amount = worst.tokens if budget.unit == "tokens" else worst.nanodollars
            if amount is None:
                raise BudgetExceeded(
                    f"the {budget.scope} budget {budget.name or budget.id!r} counts dollars and"
                    " this model has no prices: give its config prices to use it",
                    budget.id,
                    unsent=True,
                )
            held.append(Held(budget, amount, period_start(budget.period, now)))
        async with self._db.transaction() as session:
            for part in held:
                table_id = Budget.id == part.budget.id
                # A new period starts from nothing (in-flight calls of the old one settle
                # into the new one's spending, see settle).
                await session.execute(
                    update(Budget)
                    .execution_options(**QUIET)
                    .where(table_id, Budget.period_start < part.period_start)
                    .values(period_start=part.period_start, spent=0, reserved=0, warned=0)
                )
                result = await session.execute(
                    update(Budget)
                    .execution_options(**QUIET)
                    .where(table_id, Budget.spent + Budget.reserved + part.amount <= Budget.cap)
                    .values(reserved=Budget.reserved + part.amount)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    raise BudgetExceeded(
                        describe(part.budget, part.amount), part.budget.id, unsent=True
                    )
        return Reservation(tuple(held))

    async def settle(
        self, reservation: Reservation, used: Amount, project_id: str | None = None
    ) -> None:
        """Turn the reservation into what the call used (0 to release it), then tell of
        each soft threshold newly crossed."""
        if not reservation.held:
            return
        warnings: list[Warning] = []
        async with self._db.transaction() as session:
            for part in reservation.held:
                spent = used.tokens if part.budget.unit == "tokens" else used.nanodollars or 0
                result = await session.execute(
                    update(Budget)
                    .execution_options(**QUIET)
                    .where(Budget.id == part.budget.id, Budget.period_start == part.period_start)
                    .values(reserved=Budget.reserved - part.amount, spent=Budget.spent + spent)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    # The period turned (its reservations were dropped): count the spending
                    # in the new one.
                    await session.execute(
                        update(Budget)
                        .execution_options(**QUIET)
                        .where(Budget.id == part.budget.id)
                        .values(spent=Budget.spent + spent)
                    )
            warnings = await self._crossed(session, reservation, project_id)
        if self.on_warning is not None:
            for warning in warnings:
                self.on_warning(warning)

    async def _crossed(
        self, session: Any, reservation: Reservation, project_id: str | None
    ) -> list[Warning]:
        rows = list(
            await session.scalars(
                select(Budget).where(Budget.id.in_([part.budget.id for part in reservation.held]))
            )
        )
        warnings = []
        for row in rows:
            levels = sorted(row.thresholds or [])
            reached = sum(1 for level in levels if row.spent >= level * row.cap)
            if reached <= row.warned:
                continue
            # Conditional, so concurrent settlements fire each threshold once.
            claimed = await session.execute(
                update(Budget)
                .execution_options(**QUIET)
                .where(Budget.id == row.id, Budget.warned == row.warned)
                .values(warned=reached)
            )
            if claimed.rowcount != 1:
                continue
            for level in levels[row.warned : reached]:
                warnings.append(
                    Warning(
                        row.id,
                        row.owner_id,
                        row.name,
                        row.scope,
                        row.subject_id,
                        row.unit,
                        level,
                        row.spent,
                        row.cap,
                        project_id,
                        row.webhook_url,
                        row.webhook_secret_encrypted,
                    )
                )
        return warnings

    def settle_soon(
        self, reservation: Reservation, used: Amount, project_id: str | None = None
    ) -> asyncio.Task[None]:
        """Settle in a task of its own: a call being cancelled still settles."""
        task = asyncio.get_running_loop().create_task(
            self._settle_logged(reservation, used, project_id), name="budget-settle"
        )
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return task

    async def _settle_logged(
        self, reservation: Reservation, used: Amount, project_id: str | None
    ) -> None:
        try:
            await self.settle(reservation, used, project_id)
        except Exception:
            # The call's outcome stands; its reservation stays held until the period turns.
            log.exception("could not settle a budget reservation")

    async def drain(self) -> None:
        """Wait for the settlements under way."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
