"""API keys in SQL."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.models import ApiKeyRow
from portfolio.domain.keys import ApiKey


class SqlApiKeyRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, key: ApiKey) -> None:
        async with storage_errors(), self._sessions.begin() as session:
            session.add(
                ApiKeyRow(
                    id=key.id,
                    tenant=key.tenant,
                    read_only=key.read_only,
                    secret_hash=key.secret_hash,
                    created_at=key.created_at,
                    revoked_at=key.revoked_at,
                )
            )

    async def get(self, key_id: UUID) -> ApiKey | None:
        async with storage_errors(), self._sessions() as session:
            row = await session.get(ApiKeyRow, key_id)
            return None if row is None else _key(row)

    async def list(self) -> list[ApiKey]:
        query = select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.id)
        async with storage_errors(), self._sessions() as session:
            return [_key(row) for row in await session.scalars(query)]

    async def revoke(self, key_id: UUID, at: datetime) -> bool:
        async with storage_errors(), self._sessions.begin() as session:
            result = await session.execute(
                update(ApiKeyRow)
                .where(ApiKeyRow.id == key_id, ApiKeyRow.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            if result.rowcount:  # type: ignore[attr-defined]
                return True
            return await session.get(ApiKeyRow, key_id) is not None


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        row.id, row.tenant, row.read_only, row.secret_hash, row.created_at, row.revoked_at
    )
