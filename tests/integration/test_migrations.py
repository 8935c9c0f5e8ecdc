"""The migrations: every step reversible on both databases, and in step with the models."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, func, insert, select

from portfolio.adapters.db.balances import SqlBalanceRepository
from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.health import SCHEMA_REVISION, DatabaseHealthCheck
from portfolio.adapters.db.history import SqlHistoryRepository
from portfolio.adapters.db.models import BalanceChangeRow, Base, PricePointRow, WalletRow
from portfolio.adapters.db.types import BaseUnits, ExactDecimal, UtcDateTime
from portfolio.domain.history import Interval, Window
from portfolio.services.health import HealthService
from tests.databases import ROOT, alembic_config, downgrade, fresh_postgres_database, migrate
from tests.fakes import FakeClock

# Tables of revisions before 0013, as they were (the models no longer have them).
OLD = sa.MetaData()
USD = ExactDecimal()
OLD_HISTORY = sa.Table(
    "balance_history",
    OLD,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("wallet_id", sa.Uuid),
    sa.Column("token_key", sa.String),
    sa.Column("symbol", sa.String),
    sa.Column("decimals", sa.Integer),
    sa.Column("raw_balance", BaseUnits()),
    sa.Column("usd_price", USD),
    sa.Column("usd_value", USD),
    sa.Column("recorded_at", UtcDateTime()),
)
OLD_BALANCES = sa.Table(
    "balances",
    OLD,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("wallet_id", sa.Uuid),
    sa.Column("token_key", sa.String),
    sa.Column("symbol", sa.String),
    sa.Column("name", sa.String),
    sa.Column("decimals", sa.Integer),
    sa.Column("verified", sa.Boolean),
    sa.Column("raw_balance", BaseUnits()),
    sa.Column("fetched_at", UtcDateTime()),
)
OLD_MARKS = sa.Table(
    "history_marks",
    OLD,
    sa.Column("wallet_id", sa.Uuid, primary_key=True),
    sa.Column("token_key", sa.String, primary_key=True),
    sa.Column("step_seconds", sa.Integer, primary_key=True),
    sa.Column("bucket", UtcDateTime(), primary_key=True),
    sa.Column("usd_value", USD),
)


def revisions() -> Iterator[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return (rev.revision for rev in reversed(list(script.walk_revisions())))


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'stairway.db'}"
    return await fresh_postgres_database("portfolio_test_migrations")


async def test_stairway_up_down_up_at_every_revision(empty_url: str) -> None:
    previous = "base"
    for revision in revisions():
        await migrate(empty_url, revision)
        await downgrade(empty_url, previous)
        await migrate(empty_url, revision)
        previous = revision
    await downgrade(empty_url, "base")


async def test_the_models_and_the_migrations_agree(empty_url: str) -> None:
    await migrate(empty_url)
    engine = create_engine(empty_url)

    def diff(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []


async def test_existing_history_is_marked_by_the_marks_migration(empty_url: str) -> None:
    await migrate(empty_url, "0004")
    engine = create_engine(empty_url)
    at = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(WalletRow),
                [{"id": UUID(int=9), "chain": "ethereum", "address": "0x9", "label": None,
                  "created_at": at, "updated_at": at}],
            )  # fmt: skip
            await connection.execute(
                insert(OLD_HISTORY),
                [
                    {"wallet_id": UUID(int=9), "token_key": "native", "symbol": "ETH",
                     "decimals": 18, "raw_balance": n, "usd_price": None,
                     "usd_value": Decimal(n), "recorded_at": at + timedelta(minutes=2 * n)}
                    for n in range(1, 5)
                ],
            )  # fmt: skip
        await migrate(empty_url, "0005")
        async with engine.connect() as connection:
            marks = (
                await connection.execute(
                    select(
                        OLD_MARKS.c.step_seconds, OLD_MARKS.c.bucket, OLD_MARKS.c.usd_value
                    ).order_by(OLD_MARKS.c.step_seconds, OLD_MARKS.c.bucket)
                )
            ).all()
    finally:
        await engine.dispose()
    # samples at 10:02, 10:04, 10:06, 10:08: 5-minute buckets (10:00, 10:05] and (10:05, 10:10]
    assert [(step, bucket, value) for step, bucket, value in marks] == [
        (300, at, Decimal(2)),
        (300, at + timedelta(minutes=5), Decimal(4)),
        (3600, at, Decimal(4)),
        (86400, at - timedelta(hours=10), Decimal(4)),
    ]


def test_the_code_names_the_head_revision_it_needs() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert script.get_current_head() == SCHEMA_REVISION


async def test_a_database_behind_the_head_is_not_ready_and_says_why(empty_url: str) -> None:
    engine = create_engine(empty_url, pool_size=1)
    service = HealthService([DatabaseHealthCheck(engine)], [], 5)
    try:
        never = await service.report()
        assert not never.ready
        assert "never migrated" in (never.checks["database"].detail or "")
        previous = list(revisions())[-2]
        await migrate(empty_url, previous)
        behind = await service.report()
        assert not behind.ready
        assert f"at revision {previous}" in (behind.checks["database"].detail or "")
        await migrate(empty_url)
        assert (await service.report()).ready
    finally:
        await engine.dispose()


def test_migrations_import_no_application_code() -> None:
    """A migration that ran is history: importing live code would let a later change of that
    code rewrite what the migration does on the next database it runs on."""
    for path in sorted((ROOT / "migrations" / "versions").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] != "portfolio", f"{path.name} imports {module}"


async def test_an_upgrade_to_tenants_keeps_every_row_under_the_default_tenant(
    empty_url: str,
) -> None:
    await migrate(empty_url, "0007")
    engine = create_engine(empty_url)
    at = datetime(2026, 5, 1, tzinfo=UTC)
    wallet = {"id": UUID(int=7), "chain": "ethereum", "address": "0x7", "label": "old",
              "created_at": at, "updated_at": at}  # fmt: skip
    sample = {"wallet_id": UUID(int=7), "token_key": "native", "symbol": "ETH", "decimals": 18,
              "raw_balance": 5, "usd_price": None, "usd_value": Decimal(5),
              "recorded_at": at}  # fmt: skip
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(WalletRow).values(wallet))  # no tenant column yet
            await connection.execute(insert(OLD_HISTORY), [sample])
        await migrate(empty_url, "0008")
        async with engine.connect() as connection:
            tenants = (await connection.execute(select(WalletRow.tenant))).scalars().all()
            history = (await connection.execute(select(OLD_HISTORY.c.raw_balance))).all()
    finally:
        await engine.dispose()
    assert tenants == ["default"]
    assert [row[0] for row in history] == [5]


async def test_current_balances_move_into_their_wallets_and_back(empty_url: str) -> None:
    """Revision 0015 turns each wallet's rows of ``balances`` into its document, in the order
    they were inserted, exactly; going back restores the rows."""
    await migrate(empty_url, "0014")
    engine = create_engine(empty_url)
    at = datetime(2026, 5, 1, 8, 30, 15, 123456, tzinfo=UTC)
    wallets = [
        {"id": UUID(int=n), "chain": "ethereum", "address": f"0x{n:040x}", "label": None,
         "created_at": at, "updated_at": at, "last_fetched_at": at}
        for n in (1, 2, 3)
    ]  # fmt: skip
    rows = [
        {"id": 1, "wallet_id": UUID(int=2), "token_key": "0x" + "ab" * 20, "symbol": "Ünï",
         "name": None, "decimals": 6, "verified": True, "raw_balance": 10**12 + 1,
         "fetched_at": at},
        {"id": 2, "wallet_id": UUID(int=1), "token_key": "native", "symbol": "ETH",
         "name": "Ether", "decimals": 18, "verified": False, "raw_balance": 2**256 - 1,
         "fetched_at": at - timedelta(days=3)},
        {"id": 3, "wallet_id": UUID(int=2), "token_key": "native", "symbol": "ETH",
         "name": "Ether", "decimals": 18, "verified": False, "raw_balance": 5,
         "fetched_at": at},
    ]  # fmt: skip
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(WalletRow), wallets)
            await connection.execute(insert(OLD_BALANCES), rows)
        await migrate(empty_url, "0015")
        await migrate(empty_url)  # read with today's models
        balances = SqlBalanceRepository(session_factory(engine), engine.dialect.name)
        got = {n: await balances.get(UUID(int=n)) for n in (1, 2, 3)}
        await downgrade(empty_url, "0014")
        async with engine.connect() as connection:
            back = (
                await connection.execute(select(OLD_BALANCES).order_by(OLD_BALANCES.c.id))
            ).all()
    finally:
        await engine.dispose()
    held = {n: [(b.token.key, b.token.symbol, b.token.name, b.token.decimals, b.token.verified,
                 b.raw) for b in snapshot.balances]
            for n, snapshot in got.items() if snapshot is not None}  # fmt: skip
    assert held == {
        1: [("native", "ETH", "Ether", 18, False, 2**256 - 1)],
        2: [("0x" + "ab" * 20, "Ünï", None, 6, True, 10**12 + 1),
            ("native", "ETH", "Ether", 18, False, 5)],
        3: [],
    }  # fmt: skip
    by_wallet = sorted(rows, key=lambda r: (r["wallet_id"], r["id"]))
    assert [r._mapping["raw_balance"] for r in back] == [r["raw_balance"] for r in by_wallet]
    assert [(r.wallet_id, r.token_key, r.symbol, r.name, r.decimals, r.verified, r.fetched_at)
            for r in back] == [(r["wallet_id"], r["token_key"], r["symbol"], r["name"],
                                r["decimals"], r["verified"], r["fetched_at"])
                               for r in by_wallet]  # fmt: skip


T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
CYCLES = 24  # two hours of 5-minute refreshes, each 30 s into its bucket
A, B, C = UUID(int=21), UUID(int=22), UUID(int=23)


def _old_samples() -> list[dict[str, Any]]:
    """What the old model stored: every balance of every wallet at every refresh, each valued
    at the price of its refresh; a token gone as one zero sample."""
    samples = []
    for k in range(CYCLES):
        at = T0 + timedelta(minutes=5 * k, seconds=30)
        eth, sol = Decimal(2000 + k), Decimal("150.5") + Decimal(k) / 2
        held = [
            (A, "native", 18, 10**18 * (1 + k // 6), eth),
            (B, "native", 18, 2 * 10**18, eth),
            (C, "native", 9, (3 if k < 18 else 4) * 10**9, sol),
        ]
        if k < 12:
            held.append((A, "0xusdc", 6, 5_000_000, Decimal(1)))
        for wallet, token, decimals, raw, price in held:
            samples.append(
                {"wallet_id": wallet, "token_key": token, "symbol": None, "decimals": decimals,
                 "raw_balance": raw, "usd_price": price,
                 "usd_value": Decimal(raw).scaleb(-decimals) * price, "recorded_at": at}
            )  # fmt: skip
        if k == 12:
            samples.append(
                {"wallet_id": A, "token_key": "0xusdc", "symbol": None, "decimals": 6,
                 "raw_balance": 0, "usd_price": None, "usd_value": Decimal(0),
                 "recorded_at": at}
            )  # fmt: skip
    return samples


def _old_points(samples: list[dict[str, Any]], window: Window) -> list[Decimal]:
    """What an old client read: at each bucket's end, each (wallet, token)'s last sample's
    value, summed."""
    totals = []
    for start in window.buckets():
        last: dict[tuple[UUID, str], Decimal] = {}
        for sample in samples:
            if sample["recorded_at"] <= start + window.step:
                last[(sample["wallet_id"], sample["token_key"])] = sample["usd_value"]
        totals.append(sum(last.values(), Decimal(0)))
    return totals


async def test_old_samples_become_changes_and_prices_and_old_points_stand(
    empty_url: str,
) -> None:
    await migrate(empty_url, "0012")
    engine = create_engine(empty_url)
    samples = _old_samples()
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(WalletRow),
                [{"id": wallet, "chain": chain, "address": str(wallet), "label": None,
                  "created_at": T0, "updated_at": T0, "tenant": "default"}
                 for wallet, chain in ((A, "ethereum"), (B, "ethereum"), (C, "solana"))],
            )  # fmt: skip
            await connection.execute(insert(OLD_HISTORY), samples)
        await migrate(empty_url)
        async with session_factory(engine)() as session:
            changes = (
                await session.execute(
                    select(BalanceChangeRow.wallet_id, BalanceChangeRow.token_key,
                           BalanceChangeRow.raw_balance, BalanceChangeRow.delta,
                           BalanceChangeRow.changed_at)
                    .order_by(BalanceChangeRow.changed_at, BalanceChangeRow.id)
                )
            ).all()  # fmt: skip
            prices = (
                await session.execute(
                    select(PricePointRow.token_key, PricePointRow.usd_price).where(
                        PricePointRow.step_seconds == 300, PricePointRow.chain == "ethereum"
                    )
                )
            ).all()
        # A's ETH changes every 30 minutes, its USDC comes and goes, B's ETH never changes
        # after the first sample, C's SOL changes once.
        assert len(changes) == 4 + 2 + 1 + 2
        at = T0 + timedelta(seconds=30)
        assert (A, "0xusdc", 5_000_000, Decimal(5), at) in changes
        assert (A, "0xusdc", 0, Decimal(-5), at + timedelta(hours=1)) in changes
        assert (C, "native", 4 * 10**9, Decimal(1), at + timedelta(minutes=90)) in changes
        assert sorted(p for t, p in prices if t == "native") == [
            Decimal(2000 + k) for k in range(CYCLES)
        ]
        history = SqlHistoryRepository(
            session_factory(engine), engine.dialect.name, FakeClock(T0 + timedelta(days=1))
        )
        for interval in (Interval.FIVE_MINUTES, Interval.HOUR):
            window = Window.of(T0, T0 + timedelta(hours=2), interval)
            points = await history.portfolio_history("default", window)
            assert [p.total for p in points] == _old_points(samples, window)
        held = await history.held_at("default", T0 + timedelta(minutes=37))
        assert {(h.wallet_id, h.token_key): (h.raw, h.usd_value) for h in held} == {
            (A, "native"): (2 * 10**18, Decimal(2 * 2007)),
            (A, "0xusdc"): (5_000_000, Decimal(5)),
            (B, "native"): (2 * 10**18, Decimal(2 * 2007)),
            (C, "native"): (3 * 10**9, Decimal(3) * Decimal("154")),
        }
        await downgrade(empty_url, "0012")  # back to samples: one a change
        async with engine.connect() as connection:
            back = await connection.execute(select(func.count()).select_from(OLD_HISTORY))
            assert back.scalar() == len(changes)
        await migrate(empty_url)
    finally:
        await engine.dispose()
