"""Tenants' marks on tokens, and the tokens they track."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.models import TokenMarkRow, TrackedTokenRow
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Mark, Token


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


class SqlTrackedTokenRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def track(self, tenant: str, token: Token, now: datetime) -> bool:
        """Track the token for the tenant; False when it already was."""
        row = TrackedTokenRow(tenant=tenant, chain=token.chain.value, token_key=token.key,
                              symbol=token.symbol, name=token.name, decimals=token.decimals,
                              created_at=now)  # fmt: skip
        async with storage_errors():
            try:
                async with self._sessions.begin() as session:
                    session.add(row)
            except IntegrityError:
                return False
        return True

    async def tracked(
        self, tenants: Collection[str], chain: Chain | None = None
    ) -> dict[str, list[Token]]:
        """Each tenant's tracked tokens (of one chain, when given)."""
        query = select(TrackedTokenRow).where(TrackedTokenRow.tenant.in_(set(tenants)))
        if chain is not None:
            query = query.where(TrackedTokenRow.chain == chain.value)
        async with storage_errors(), self._sessions() as session:
            rows = (await session.scalars(query.order_by(TrackedTokenRow.created_at))).all()
        found: dict[str, list[Token]] = {}
        for row in rows:
            token = Token(Chain(row.chain), row.token_key, row.symbol, row.name, row.decimals,
                          False)  # fmt: skip
            found.setdefault(row.tenant, []).append(token)
        return found
