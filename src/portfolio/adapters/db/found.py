"""Tokens on no list found in Transfer logs (services/discovery.py): the chains' cursors, the
contracts read, and each wallet's finds."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.engine import insert_for
from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.models import (
    FoundContractRow,
    FoundTokenRow,
    LogBackfillRow,
    LogCursorRow,
    WalletRow,
)
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Token

IN_LIST = 5000  # addresses a statement names


class SqlFoundTokens:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._dialect = dialect

    async def cursor(self, chain: Chain) -> int | None:
        async with storage_errors(), self._sessions() as session:
            return await session.scalar(
                select(LogCursorRow.block).where(LogCursorRow.chain == chain.value)
            )

    async def contracts(self, chain: Chain, addresses: Collection[str]) -> dict[str, Token | None]:
        c = FoundContractRow
        query = select(c).where(c.chain == chain.value, c.address.in_(list(addresses)))
        async with storage_errors(), self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return {row.address: _token(chain, row) for row in rows}

    async def record(
        self,
        chain: Chain,
        block: int,
        contracts: Mapping[str, Token | None],
        found: Collection[tuple[UUID, str, int]],
        now: datetime,
        backfilled: Mapping[str, int] | None = None,
    ) -> None:
        contract_rows = [
            {"chain": chain.value, "address": address, "checked_at": now,
             "decimals": None if token is None else token.decimals,
             "symbol": None if token is None else token.symbol,
             "name": None if token is None else token.name}
            for address, token in contracts.items()
        ]  # fmt: skip
        found_rows = [
            {"wallet_id": wallet, "address": address, "block": at, "found_at": now}
            for wallet, address, at in found
        ]
        backfill_rows = [
            {"chain": chain.value, "address": address, "block": first}
            for address, first in (backfilled or {}).items()
        ]
        async with storage_errors(), self._sessions.begin() as session:
            if backfill_rows:
                await session.execute(
                    insert_for(self._dialect, LogBackfillRow).on_conflict_do_nothing(),
                    backfill_rows,
                )
            if contract_rows:
                await session.execute(
                    insert_for(self._dialect, FoundContractRow).on_conflict_do_nothing(),
                    contract_rows,
                )
            if found_rows:
                await session.execute(
                    insert_for(self._dialect, FoundTokenRow).on_conflict_do_nothing(),
                    found_rows,
                )
            statement = insert_for(self._dialect, LogCursorRow).values(
                chain=chain.value, block=block
            )
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["chain"], set_={"block": statement.excluded.block}
                )
            )

    async def backfilled(self, chain: Chain, addresses: Collection[str]) -> set[str]:
        b = LogBackfillRow
        done: set[str] = set()
        async with storage_errors(), self._sessions() as session:
            every = list(addresses)
            for start in range(0, len(every), IN_LIST):  # (bound parameters are limited)
                part = every[start : start + IN_LIST]
                query = select(b.address).where(b.chain == chain.value, b.address.in_(part))
                done.update((await session.scalars(query)).all())
        return done

    async def found(self, wallet_ids: Collection[UUID]) -> dict[UUID, list[Token]]:
        if not wallet_ids:
            return {}
        t = FoundTokenRow
        query = (
            _tokens_found(t.wallet_id, WalletRow.chain, FoundContractRow)
            .where(t.wallet_id.in_(list(wallet_ids)))
            .order_by(t.found_at, t.address)
        )
        async with storage_errors(), self._sessions() as session:
            rows = (await session.execute(query)).all()
        tokens: dict[UUID, list[Token]] = {}
        for wallet, chain, contract in rows:
            token = _token(Chain(chain), contract)
            if token is not None:
                tokens.setdefault(wallet, []).append(token)
        return tokens

    async def found_by(self, tenant: str) -> set[tuple[Chain, str]]:
        query = (
            _tokens_found(WalletRow.chain, FoundTokenRow.address)
            .where(WalletRow.tenant == tenant)
            .distinct()
        )
        async with storage_errors(), self._sessions() as session:
            rows = (await session.execute(query)).all()
        return {(Chain(chain), address) for chain, address in rows}


def _tokens_found(*columns: Any) -> Select[Any]:
    """``columns`` of each wallet's finds that are tokens (a contract with decimals), with
    the wallet and the contract joined."""
    t, c = FoundTokenRow, FoundContractRow
    return (
        select(*columns)
        .select_from(t)
        .join(WalletRow, WalletRow.id == t.wallet_id)
        .join(c, (c.chain == WalletRow.chain) & (c.address == t.address))
        .where(c.decimals.is_not(None))
    )


def _token(chain: Chain, row: FoundContractRow) -> Token | None:
    if row.decimals is None:
        return None
    return Token(chain, row.address, row.symbol, row.name, row.decimals, False)
