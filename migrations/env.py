"""Alembic, async: one code path for PostgreSQL (asyncpg) and SQLite (aiosqlite).

The URL is ``config.attributes["url"]`` when a caller (a test) sets it, else the settings'
``PORTFOLIO_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from portfolio.adapters.db.engine import create_engine
from portfolio.adapters.db.models import Base
from portfolio.config import load_settings

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url")
    return str(url) if url else load_settings().database_url


def _configure(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        # Batch migrations rebuild a SQLite table by copying it and dropping the old one; with
        # foreign keys on, dropping wallets would cascade and delete every balance and history
        # row. The pragma only takes effect outside a transaction, so it goes first.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(_url(), pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
