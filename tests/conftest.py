from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db.engine import create_engine
from portfolio.adapters.db.models import Base
from tests.databases import fresh_postgres_database, migrate

pytest_plugins = ["tests.chains.worlds"]

DATABASES = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
async def postgres_url() -> str:
    url = await fresh_postgres_database("portfolio_test")
    await migrate(url)
    return url


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "portfolio.db"
    url = f"sqlite+aiosqlite:///{path}"
    await migrate(url)
    return url


@pytest.fixture(params=DATABASES)
def db_engine(request: pytest.FixtureRequest) -> AsyncEngine:
    """A migrated database of each kind, emptied after the test."""
    engine: AsyncEngine = request.getfixturevalue(f"{request.param}_engine")
    return engine


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated database of each kind, emptied after the test."""
    request.getfixturevalue(f"{request.param}_engine")
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated SQLite database, emptied after the test."""
    async for engine in _emptied_after(sqlite_url):
        yield engine


@pytest.fixture
async def postgres_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated PostgreSQL database, emptied after the test."""
    async for engine in _emptied_after(postgres_url):
        yield engine


async def _emptied_after(url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(url, pool_size=5)
    try:
        yield engine
    finally:
        async with engine.begin() as connection:  # every row of every table (not the revision)
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(delete(table))
        await engine.dispose()
