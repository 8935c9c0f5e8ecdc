"""What a performance is computed from, read in one transaction: the positions at a window's
start (each wallet's token's last change at or before it), the changes after it and each
token's prices at the window's boundaries (from the price series of the window's step and the
longer ones: each kept price is the last of its bucket, all a boundary needs)."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.history import _held_rows, _prices_at
from portfolio.adapters.db.models import BalanceChangeRow, PricePointRow, WalletRow
from portfolio.domain.amounts import Amount
from portfolio.domain.chains import Chain
from portfolio.domain.history import TokenKey, Window
from portfolio.domain.performance import (
    Moved,
    Position,
    Recorded,
    WalletSeen,
    prices_at_boundaries,
)


async def recorded(
    session: AsyncSession,
    dialect: str,
    tenant: str,
    window: Window,
    wallet_id: UUID | None = None,
    chain: Chain | None = None,
) -> Recorded:
    """The tenant's positions (of one wallet, or of one chain's wallets) over the window."""
    start, end = window.start, window.last_end
    held: dict[Position, Decimal] = {}
    symbols: dict[TokenKey, str | None] = {}
    wallets: dict[Hashable, WalletSeen] = {}
    first_record = None
    for wallet, chain_name, address, label, key, symbol, decimals, raw, at in await _held_rows(
        session, tenant, start, wallet_id, dialect
    ):
        position = Position(wallet, Chain(chain_name), key)
        if chain is not None and position.chain != chain:
            continue
        held[position] = Amount(int(raw), decimals).value
        symbols[position.token_key] = symbol
        wallets[wallet] = WalletSeen(position.chain, address, label)
        first_record = at if first_record is None else min(first_record, at)
    moves = await _moves(session, tenant, start, end, wallet_id, chain, symbols, wallets)
    if first_record is None and moves:
        first_record = moves[0].at
    tokens = set(symbols)
    prices = await _prices(session, window, tokens)
    return Recorded(window, held, moves, prices, first_record, symbols, wallets)


async def _moves(
    session: AsyncSession,
    tenant: str,
    after: datetime,
    until: datetime,
    wallet_id: UUID | None,
    chain: Chain | None,
    symbols: dict[TokenKey, str | None],
    wallets: dict[Hashable, WalletSeen],
) -> list[Moved]:
    """The changes in (after, until], in time order; their tokens' symbols and wallets noted."""
    c, w = BalanceChangeRow, WalletRow
    query = (
        select(
            c.wallet_id, w.chain, w.address, w.label, c.token_key, c.symbol, c.changed_at, c.delta
        )
        .join(w, w.id == c.wallet_id)
        .where(w.tenant == tenant, c.changed_at > after, c.changed_at <= until)
        .order_by(c.changed_at, c.id)
    )
    if wallet_id is not None:
        query = query.where(w.id == wallet_id)
    if chain is not None:
        query = query.where(w.chain == chain.value)
    moves = []
    for wallet, chain_name, address, label, key, symbol, at, delta in await session.execute(query):
        position = Position(wallet, Chain(chain_name), key)
        moves.append(Moved(position, at, delta))
        symbols[position.token_key] = symbol
        if wallet not in wallets:
            wallets[wallet] = WalletSeen(position.chain, address, label)
    return moves


async def _prices(
    session: AsyncSession, window: Window, tokens: set[TokenKey]
) -> dict[TokenKey, list[Decimal | None]]:
    if not tokens:
        return {}
    first = await _prices_at(session, tokens, window.start)
    p = PricePointRow
    seen: dict[TokenKey, list[tuple[datetime, Decimal]]] = {token: [] for token in tokens}
    for chain_name, key, at, usd in await session.execute(
        select(p.chain, p.token_key, p.priced_at, p.usd_price)
        .where(
            tuple_(p.chain, p.token_key).in_([(ch.value, key) for ch, key in sorted(tokens)]),
            p.step_seconds >= int(window.step.total_seconds()),
            p.priced_at > window.start,
            p.priced_at <= window.last_end,
        )
        .order_by(p.priced_at, p.step_seconds)
    ):
        seen[(Chain(chain_name), key)].append((at, usd))
    return {token: prices_at_boundaries(window, first.get(token), seen[token]) for token in tokens}


class SqlPerformanceReader:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._dialect = dialect

    async def recorded(
        self, tenant: str, window: Window, wallet_id: UUID | None = None, chain: Chain | None = None
    ) -> Recorded:
        async with storage_errors(), self._sessions() as session:
            return await recorded(session, self._dialect, tenant, window, wallet_id, chain)
