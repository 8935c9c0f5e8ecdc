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
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, select

from portfolio.adapters.db.engine import create_engine
from portfolio.adapters.db.health import SCHEMA_REVISION, DatabaseHealthCheck
from portfolio.adapters.db.models import BalanceHistoryRow, Base, HistoryMarkRow, WalletRow
from portfolio.services.health import HealthService
from tests.databases import ROOT, alembic_config, downgrade, fresh_postgres_database, migrate


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
                insert(BalanceHistoryRow),
                [
                    {"wallet_id": UUID(int=9), "token_key": "native", "symbol": "ETH",
                     "decimals": 18, "raw_balance": n, "usd_price": None,
                     "usd_value": Decimal(n), "recorded_at": at + timedelta(minutes=2 * n)}
                    for n in range(1, 5)
                ],
            )  # fmt: skip
        await migrate(empty_url)
        async with engine.connect() as connection:
            marks = (
                await connection.execute(
                    select(
                        HistoryMarkRow.step_seconds, HistoryMarkRow.bucket, HistoryMarkRow.usd_value
                    ).order_by(HistoryMarkRow.step_seconds, HistoryMarkRow.bucket)
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
            await connection.execute(insert(BalanceHistoryRow), [sample])
        await migrate(empty_url)
        async with engine.connect() as connection:
            tenants = (await connection.execute(select(WalletRow.tenant))).scalars().all()
            history = (await connection.execute(select(BalanceHistoryRow.raw_balance))).all()
    finally:
        await engine.dispose()
    assert tenants == ["default"]
    assert [row[0] for row in history] == [5]
