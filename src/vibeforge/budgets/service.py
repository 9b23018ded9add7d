"""Budgets as the API manages them: administrators create, change and delete anyone's;
every user reads the budgets on what they own (another user's budget is not found)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from vibeforge.budgets.amounts import NANO
from vibeforge.budgets.ledger import BudgetLedger
from vibeforge.budgets.periods import period_start
from vibeforge.budgets.views import BudgetOut
from vibeforge.crypto import SecretBox
from vibeforge.db.chat_tables import ModelConfig
from vibeforge.db.engine import Database
from vibeforge.db.tables import Project, User
from vibeforge.db.types import new_id, utcnow
from vibeforge.db.usage_tables import Budget
from vibeforge.errors import Forbidden, NotFound

SUBJECTS: dict[str, Any] = {"user": User, "project": Project, "model_config": ModelConfig}


def _units(unit: str, amount: float) -> int:
    """A cap in the ledger's integers: nanodollars or tokens."""
    return round(amount * NANO) if unit == "usd" else round(amount)


def budget_out(row: Budget) -> BudgetOut:
    """A budget as the API shows it, its counters those of the current period."""
    scale = NANO if row.unit == "usd" else 1
    current = period_start(row.period, utcnow())
    stale = row.period_start < current  # no call since the period turned
    spent = 0 if stale else row.spent
    reserved = 0 if stale else row.reserved
    return BudgetOut(
        id=row.id,
        name=row.name,
        scope=row.scope,
        subject_id=row.subject_id,
        owner_id=row.owner_id,
        period=row.period,
        unit=row.unit,
        cap=row.cap / scale,
        spent=spent / scale,
        reserved=reserved / scale,
        remaining=max(0, row.cap - spent - reserved) / scale,
        thresholds=list(row.thresholds or []),
        period_start=current if stale else row.period_start,
        webhook_url=row.webhook_url,
        has_webhook_secret=row.webhook_secret_encrypted is not None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class BudgetService:
    """CRUD of budgets, scoped to who asks."""

    def __init__(self, db: Database, ledger: BudgetLedger, box: SecretBox) -> None:
        self._db = db
        self.ledger = ledger
        self._box = box

    def _visible(self, actor: User) -> Any:
        return True if actor.is_admin else Budget.owner_id == actor.id

    async def list(self, actor: User) -> list[Budget]:
        """The budgets the actor may see, oldest first."""
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(Budget).where(self._visible(actor)).order_by(Budget.created_at)
            )
            return list(rows)

    async def get(self, actor: User, budget_id: str) -> Budget:
        """One budget the actor may see."""
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(Budget).where(Budget.id == budget_id, self._visible(actor))
            )
        if row is None:
            raise NotFound(f"no budget {budget_id!r}")
        return row

    def _admin(self, actor: User) -> None:
        if not actor.is_admin:
            raise Forbidden("only an administrator may create, change or delete budgets")

    async def create(self, actor: User, values: dict[str, Any]) -> Budget:
        """A new budget on an existing user, project or model config."""
        self._admin(actor)
        now = utcnow()
        async with self._db.transaction() as session:
            table = SUBJECTS[values["scope"]]
            subject = await session.get(table, values["subject_id"])
            if subject is None:
                raise NotFound(f"no {values['scope'].replace('_', ' ')} {values['subject_id']!r}")
            secret = values.get("webhook_secret")
            row = Budget(
                id=new_id(),
                owner_id=subject.id if isinstance(subject, User) else subject.owner_id,
                scope=values["scope"],
                subject_id=subject.id,
                name=values.get("name") or "",
                period=values["period"],
                unit=values["unit"],
                cap=_units(values["unit"], values["cap"]),
                thresholds=values.get("thresholds") or [],
                warned=0,
                spent=0,
                reserved=0,
                period_start=period_start(values["period"], now),
                webhook_url=values.get("webhook_url"),
                webhook_secret_encrypted=self._box.encrypt(secret) if secret else None,
                created_by=actor.id,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
        self.ledger.changed()
        return row

    async def update(self, actor: User, budget_id: str, changes: dict[str, Any]) -> Budget:
        """Change the cap, thresholds, name or webhook of a budget."""
        self._admin(actor)
        async with self._db.transaction() as session:
            row = await session.get(Budget, budget_id)
            if row is None:
                raise NotFound(f"no budget {budget_id!r}")
            if "cap" in changes:
                row.cap = _units(row.unit, changes["cap"])
            if "thresholds" in changes:
                row.thresholds = changes["thresholds"]
                # Thresholds already passed are not announced again.
                row.warned = sum(1 for t in row.thresholds if row.spent >= t * row.cap)
            if "name" in changes:
                row.name = changes["name"]
            if "webhook_url" in changes:
                row.webhook_url = changes["webhook_url"]
            if "webhook_secret" in changes:
                secret = changes["webhook_secret"]
                row.webhook_secret_encrypted = self._box.encrypt(secret) if secret else None
            row.updated_at = utcnow()
        self.ledger.changed()
        return row

    async def delete(self, actor: User, budget_id: str) -> None:
        """Remove a budget (calls under way settle into nothing)."""
        self._admin(actor)
        async with self._db.transaction() as session:
            row = await session.get(Budget, budget_id)
            if row is None:
                raise NotFound(f"no budget {budget_id!r}")
            await session.delete(row)
        self.ledger.changed()
