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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, literal, or_, select, update

from vibeforge.budgets.amounts import NANO, Amount
from vibeforge.budgets.periods import period_start
from vibeforge.caching import SharedLookups
from vibeforge.db.engine import Database
from vibeforge.db.types import UTCDateTime, utcnow
from vibeforge.db.usage_tables import Budget
from vibeforge.llm.errors import ProviderError

log = logging.getLogger("vibeforge.budgets")
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


_WARNING_COLUMNS = (
    "id",
    "owner_id",
    "name",
    "scope",
    "subject_id",
    "unit",
    "spent",
    "cap",
    "thresholds",
    "warned",
    "webhook_url",
    "webhook_secret_encrypted",
)


def _by_id(values: dict[str, Any]) -> Any:
    """A SQL expression worth `values[id]` for each budget row."""
    return case(values, value=Budget.__table__.c.id)


def _at(moment: datetime) -> Any:
    """A timestamp bound as the column's own type (UTC, as the rows store it)."""
    return literal(moment, UTCDateTime())


class BudgetLedger:
    """Reservations and settlements against the budgets table."""

    def __init__(self, db: Database) -> None:
        self._db = db
        # Which budgets apply to a scope: a burst of run starts with one scope asks once.
        self._applicable: SharedLookups[CallScope, list[BudgetRef]] = SharedLookups(CACHE_TTL_S)
        self.on_warning: Callable[[Warning], None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def changed(self) -> None:
        """Forget which budgets apply (one was created, changed or deleted)."""
        self._applicable.forget()

    async def applicable(self, scope: CallScope) -> list[BudgetRef]:
        """The budgets a call of `scope` counts against."""
        return await self._applicable.get(scope, lambda: self._look_up(scope))

    async def _look_up(self, scope: CallScope) -> list[BudgetRef]:
        subjects = [and_(Budget.scope == "user", Budget.subject_id == scope.owner_id)]
        if scope.project_id:
            subjects.append(and_(Budget.scope == "project", Budget.subject_id == scope.project_id))
        if scope.config_id:
            subjects.append(
                and_(Budget.scope == "model_config", Budget.subject_id == scope.config_id)
            )
        async with self._db.engine.connect() as connection:
            rows = await connection.execute(
                select(Budget.id, Budget.name, Budget.scope, Budget.unit, Budget.period, Budget.cap)
                .where(or_(*subjects))
                .order_by(Budget.id)
            )
            return [BudgetRef(*row) for row in rows]

    async def reserve(self, budgets: list[BudgetRef], worst: Amount) -> Reservation:
        """Hold `worst` in every budget, or none of them (BudgetExceeded naming a budget that
        has no room, or that counts dollars for a model without prices)."""
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
        if not held:
            return Reservation(())
        table = Budget.__table__
        amounts = _by_id({part.budget.id: part.amount for part in held})
        starts = _by_id({part.budget.id: _at(part.period_start) for part in held})
        # A budget whose period turned starts from nothing (calls still under way from the
        # old period settle into the new one's spending).
        stale = table.c.period_start < starts
        reserve = (
            update(table)
            .where(
                table.c.id.in_([part.budget.id for part in held]),
                case((stale, 0), else_=table.c.spent + table.c.reserved) + amounts <= table.c.cap,
            )
            .values(
                period_start=case((stale, starts), else_=table.c.period_start),
                spent=case((stale, 0), else_=table.c.spent),
                reserved=case((stale, 0), else_=table.c.reserved) + amounts,
                warned=case((stale, 0), else_=table.c.warned),
            )
        )
        # One conditional UPDATE for all of the call's budgets: every row fits, or the
        # transaction rolls back and nothing is held.
        async with self._db.engine.begin() as connection:
            result = await connection.execute(reserve)
            if result.rowcount == len(held):
                return Reservation(tuple(held))
            await connection.rollback()
        full = await self._full(held)
        raise BudgetExceeded(describe(full.budget, full.amount), full.budget.id, unsent=True)

    async def _full(self, held: list[Held]) -> Held:
        """The budget a refused reservation did not fit (as far as it can be told now)."""
        table = Budget.__table__
        async with self._db.engine.connect() as connection:
            rows = await connection.execute(
                select(table.c.id, table.c.spent, table.c.reserved, table.c.cap).where(
                    table.c.id.in_([part.budget.id for part in held])
                )
            )
            room = {row.id: row.cap - row.spent - row.reserved for row in rows}
        for part in held:
            if room.get(part.budget.id, 0) < part.amount:
                return part
        return held[0]

    async def settle(
        self, reservation: Reservation, used: Amount, project_id: str | None = None
    ) -> None:
        """Turn the reservation into what the call used (0 to release it), then tell of
        each soft threshold newly crossed."""
        if not reservation.held:
            return
        table = Budget.__table__
        held = reservation.held
        amounts = _by_id({part.budget.id: part.amount for part in held})
        starts = _by_id({part.budget.id: _at(part.period_start) for part in held})
        spent = _by_id(
            {
                part.budget.id: used.tokens
                if part.budget.unit == "tokens"
                else used.nanodollars or 0
                for part in held
            }
        )
        settle = (
            update(table)
            .where(table.c.id.in_([part.budget.id for part in held]))
            .values(
                # A period that turned meanwhile dropped this reservation already.
                reserved=case(
                    (table.c.period_start == starts, table.c.reserved - amounts),
                    else_=table.c.reserved,
                ),
                spent=table.c.spent + spent,
            )
            .returning(*(table.c[name] for name in _WARNING_COLUMNS))
        )
        async with self._db.engine.begin() as connection:
            rows = list(await connection.execute(settle))
            warnings = await self._crossed(connection, rows, project_id)
        if self.on_warning is not None:
            for warning in warnings:
                self.on_warning(warning)

    async def _crossed(
        self, connection: Any, rows: list[Any], project_id: str | None
    ) -> list[Warning]:
        table = Budget.__table__
        warnings = []
        for row in rows:
            levels = sorted(row.thresholds or [])
            reached = sum(1 for level in levels if row.spent >= level * row.cap)
            if reached <= row.warned:
                continue
            # Conditional, so concurrent settlements fire each threshold once.
            claimed = await connection.execute(
                update(table)
                .where(table.c.id == row.id, table.c.warned < reached)
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
