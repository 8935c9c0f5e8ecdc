"""The migrations: every step reversible on both databases, and in step with the models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from portfolio.adapters.db.engine import create_engine
from portfolio.adapters.db.models import Base
from tests.databases import alembic_config, downgrade, fresh_postgres_database, migrate


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
