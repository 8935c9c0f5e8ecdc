"""The database's readiness: it answers, and its schema is the one this version needs."""

from __future__ import annotations

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.domain.errors import NotReadyError

# The migration this code needs (alembic's head); a test keeps it equal to migrations/.
SCHEMA_REVISION = "0023"


class DatabaseHealthCheck:
    def __init__(
        self, engine: AsyncEngine, revision: str = SCHEMA_REVISION, name: str = "database"
    ) -> None:
        self.name = name
        self._engine = engine
        self._revision = revision

    async def check(self) -> None:
        """A replica on a database that was not migrated to its schema is not ready: every
        route would fail on it."""
        async with self._engine.connect() as connection:
            if not await connection.run_sync(_has_versions):
                raise NotReadyError(
                    f"the database was never migrated; run the migrations to {self._revision}"
                )
            versions = await connection.execute(text("SELECT version_num FROM alembic_version"))
            found = versions.scalars().all()
        if list(found) != [self._revision]:
            at = ", ".join(found) or "none"
            raise NotReadyError(
                f"the database schema is at revision {at}, this version needs {self._revision}:"
                " run the migrations"
            )


def _has_versions(connection: Connection) -> bool:
    return inspect(connection).has_table("alembic_version")
