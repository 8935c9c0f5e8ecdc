"""Engine construction: pooled asyncpg for PostgreSQL, aiosqlite with foreign keys on for SQLite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from portfolio.adapters.tracing import instrument_engine


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    connect_timeout: float = 5.0,
    statement_timeout: float = 5.0,
    echo: bool = False,
) -> AsyncEngine:
    """``statement_timeout`` bounds every statement twice: the server cancels it (SQLSTATE
    57014), and the client gives up on its own when the server itself does not answer (a
    frozen server cancels nothing)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_async_engine(parsed, echo=echo, connect_args={"timeout": connect_timeout})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        instrument_engine(engine)
        return engine
    engine = create_async_engine(
        parsed,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_timeout=connect_timeout,
        connect_args={
            "timeout": connect_timeout,
            "command_timeout": statement_timeout + 1,
            "server_settings": {"statement_timeout": str(int(statement_timeout * 1000))},
        },
    )
    instrument_engine(engine)  # (statements as spans, when traces are on)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """SQLite leaves foreign keys (and so ON DELETE CASCADE) off unless asked, per connection."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def insert_for(dialect: str, model: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of ``model`` that can say what to do on a conflict (``on_conflict_do_*``,
    ``excluded``): the two dialects spell it alike, from their own modules."""
    if dialect == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)
