"""Tenants' marks on tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.models import TokenMarkRow
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Mark


class SqlTokenMarkRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def marks(self, tenant: str) -> dict[tuple[Chain, str], Mark]:
        query = select(TokenMarkRow).where(TokenMarkRow.tenant == tenant)
        async with storage_errors(), self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return {(Chain(row.chain), row.token_key): Mark(row.mark) for row in rows}

    async def set_mark(
        self, tenant: str, chain: Chain, key: str, mark: Mark | None, now: datetime
    ) -> None:
        """One statement pair in one transaction: the mark replaced, or cleared."""
        async with storage_errors(), self._sessions.begin() as session:
            await session.execute(
                delete(TokenMarkRow).where(
                    TokenMarkRow.tenant == tenant,
                    TokenMarkRow.chain == chain.value,
                    TokenMarkRow.token_key == key,
                )
            )
            if mark is not None:
                session.add(TokenMarkRow(tenant=tenant, chain=chain.value, token_key=key,
                                         mark=mark.value, updated_at=now))  # fmt: skip
