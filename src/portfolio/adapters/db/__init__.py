"""SQLAlchemy asyncio storage: asyncpg on PostgreSQL, aiosqlite for the embedded default."""
