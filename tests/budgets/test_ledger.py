"""The ledger against a real database (SQLite, and PostgreSQL with -m db): worst-case
reservations in conditional UPDATEs never pass the cap however many calls race, settlements
and releases, period turns, and soft thresholds firing once each."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, update

from vibeforge.budgets.amounts import NANO, Amount, to_nano
from vibeforge.budgets.ledger import BudgetExceeded, BudgetLedger, CallScope, Warning
from vibeforge.budgets.periods import BEGINNING, period_start
from vibeforge.db.engine import Database
from vibeforge.db.tables import User
from vibeforge.db.types import new_id, utcnow
from vibeforge.db.usage_tables import Budget

SCOPE_USER = "u-budget"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database with one user."""
    database = Database(database_url)
    await database.upgrade()
    async with database.transaction() as session:
        session.add(User(id=SCOPE_USER, email="b@example.com", is_admin=False, created_at=utcnow()))
    yield database
    await database.dispose()


async def add_budget(
    db: Database, unit: str, cap: int, period: str = "total", thresholds: list[float] | None = None
) -> str:
    budget_id = new_id()
    now = utcnow()
    async with db.transaction() as session:
        session.add(
            Budget(
                id=budget_id,
                owner_id=SCOPE_USER,
                scope="user",
                subject_id=SCOPE_USER,
                name="team",
                period=period,
                unit=unit,
                cap=cap,
                thresholds=thresholds or [],
                warned=0,
                spent=0,
                reserved=0,
                period_start=period_start(period, now),
                created_by=SCOPE_USER,
                created_at=now,
                updated_at=now,
            )
        )
    return budget_id


async def counters(db: Database, budget_id: str) -> tuple[int, int]:
    async with db.transaction() as session:
        row = await session.get(Budget, budget_id)
        assert row is not None
        return row.spent, row.reserved


def test_periods_start_at_utc_midnight_monday_the_first_and_the_beginning() -> None:
    moment = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)  # a Thursday
    assert period_start("day", moment) == datetime(2026, 12, 3, tzinfo=UTC)
    assert period_start("week", moment) == datetime(2026, 11, 30, tzinfo=UTC)
    assert period_start("month", moment) == datetime(2026, 12, 1, tzinfo=UTC)
    assert period_start("total", moment) == BEGINNING


async def test_a_thousand_concurrent_calls_never_pass_a_five_dollar_cap(db: Database) -> None:
    ledger = BudgetLedger(db)
    budget_id = await add_budget(db, "usd", 5 * NANO)
    budgets = await ledger.applicable(CallScope(SCOPE_USER, None, None))
    call = Amount(to_nano(0.07), 1000)  # worst case; each uses a little less
    admitted = refused = 0

    async def one() -> None:
        nonlocal admitted, refused
        try:
            reservation = await ledger.reserve(budgets, call)
        except BudgetExceeded as error:
            refused += 1
            assert error.budget_id == budget_id
            assert "'team'" in error.detail
            return
        admitted += 1
        await asyncio.sleep(0)
        await ledger.settle(reservation, Amount(to_nano(0.05), 700))

    await asyncio.gather(*(one() for _ in range(1000)))
    spent, reserved = await counters(db, budget_id)
    assert reserved == 0
    assert spent <= 5 * NANO
    assert admitted + refused == 1000 and refused > 0
    assert admitted == spent // to_nano(0.05)
    # While calls are under way, reservations alone never pass the cap either.
    assert admitted >= 5 * NANO // to_nano(0.07)


async def test_a_failed_call_releases_its_reservation(db: Database) -> None:
    ledger = BudgetLedger(db)
    budget_id = await add_budget(db, "tokens", 1000)
    budgets = await ledger.applicable(CallScope(SCOPE_USER, None, None))
    held = await ledger.reserve(budgets, Amount(None, 800))
    assert await counters(db, budget_id) == (0, 800)
    with pytest.raises(BudgetExceeded):
        await ledger.reserve(budgets, Amount(None, 300))
    await ledger.settle(held, Amount(0, 0))
    assert await counters(db, budget_id) == (0, 0)
    await ledger.reserve(budgets, Amount(None, 1000))  # the whole cap is free again


async def test_a_dollar_budget_refuses_an_unpriced_model(db: Database) -> None:
    ledger = BudgetLedger(db)
    await add_budget(db, "usd", NANO)
    budgets = await ledger.applicable(CallScope(SCOPE_USER, None, None))
    with pytest.raises(BudgetExceeded, match="no prices"):
        await ledger.reserve(budgets, Amount(None, 10))


async def test_a_new_period_starts_from_nothing(db: Database) -> None:
    ledger = BudgetLedger(db)
    budget_id = await add_budget(db, "tokens", 100, period="day")
    budgets = await ledger.applicable(CallScope(SCOPE_USER, None, None))
    held = await ledger.reserve(budgets, Amount(None, 100))
    await ledger.settle(held, Amount(0, 100))
    with pytest.raises(BudgetExceeded):
        await ledger.reserve(budgets, Amount(None, 1))
    yesterday = period_start("day", utcnow()) - timedelta(days=1)
    async with db.transaction() as session:
        await session.execute(
            update(Budget).where(Budget.id == budget_id).values(period_start=yesterday)
        )
    held = await ledger.reserve(budgets, Amount(None, 60))
    assert await counters(db, budget_id) == (0, 60)


async def test_each_threshold_fires_once_however_many_calls_cross_it(db: Database) -> None:
    ledger = BudgetLedger(db)
    await add_budget(db, "tokens", 10_000, thresholds=[0.5, 0.8])
    heard: list[Warning] = []
    ledger.on_warning = heard.append
    budgets = await ledger.applicable(CallScope(SCOPE_USER, None, None))

    async def one() -> None:
        try:
            held = await ledger.reserve(budgets, Amount(None, 100))
        except BudgetExceeded:
            return
        await ledger.settle(held, Amount(0, 100))

    await asyncio.gather(*(one() for _ in range(150)))
    assert [warning.threshold for warning in heard] == [0.5, 0.8]
    assert heard[0].as_dict()["cap"] == 10_000


async def test_calls_of_one_scope_starting_together_look_their_budgets_up_once(
    db: Database,
) -> None:
    budget_id = await add_budget(db, "tokens", 1000)
    ledger = BudgetLedger(db)
    selects: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "budgets" in statement:
            selects.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        scope = CallScope(SCOPE_USER, None, None)
        found = await asyncio.gather(*(ledger.applicable(scope) for _ in range(20)))
        assert [[ref.id for ref in refs] for refs in found] == [[budget_id]] * 20
        assert len(selects) == 1
        ledger.changed()  # a budget changed meanwhile: the next call asks again
        assert [ref.id for ref in await ledger.applicable(scope)] == [budget_id]
        assert len(selects) == 2
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
