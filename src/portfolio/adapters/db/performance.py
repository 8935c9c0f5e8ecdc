"""What a performance is computed from, read in one transaction: the positions at a window's
start (each wallet's token's last change at or before it), the changes after it and each
token's prices at the window's boundaries (from the price series of the window's step and the
longer ones: each kept price is the last of its bucket, all a boundary needs)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from sqlalchemy import select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.history import STEPS, _held_rows, _prices_at
from portfolio.adapters.db.models import BalanceChangeRow, PricePointRow, WalletRow
from portfolio.domain.amounts import Amount
from portfolio.domain.chains import Chain
from portfolio.domain.history import TokenKey, Window, earliest_before
from portfolio.domain.performance import (
    Moved,
    Position,
    Recorded,
    WalletSeen,
    by_boundary,
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
    wallets = await _wallets(session, tenant, wallet_id, chain)
    held: dict[Position, Decimal] = {}
    symbols: dict[TokenKey, str | None] = {}
    first_record = None
    for wallet, _, _, _, key, symbol, decimals, raw, at in await _held_rows(
        session, tenant, window.start, wallet_id, dialect
    ):
        if wallet not in wallets:  # another chain's
            continue
        position = Position(wallet, wallets[wallet].chain, key)
        held[position] = Amount(int(raw), decimals).value
        symbols[position.token_key] = symbol
        first_record = at if first_record is None else min(first_record, at)
    read = _summed_changes if dialect == "postgresql" else _changes
    changes, first_change = await read(session, window, wallets, symbols)
    prices = await _prices(session, window, set(symbols))
    named: dict[Hashable, WalletSeen] = {wallet: seen for wallet, seen in wallets.items()}
    return Recorded(window, held, changes, prices, first_record or first_change, symbols, named)


async def _wallets(
    session: AsyncSession, tenant: str, wallet_id: UUID | None, chain: Chain | None
) -> dict[UUID, WalletSeen]:
    w = WalletRow
    query = select(w.id, w.chain, w.address, w.label).where(w.tenant == tenant)
    if wallet_id is not None:
        query = query.where(w.id == wallet_id)
    if chain is not None:
        query = query.where(w.chain == chain.value)
    chains: dict[str, Chain] = {}
    return {
        wallet: WalletSeen(chains.setdefault(name, Chain(name)), address, label)
        for wallet, name, address, label in await session.execute(query)
    }


Changes = dict[Position, dict[int, Decimal]]


async def _changes(
    session: AsyncSession,
    window: Window,
    wallets: Mapping[UUID, WalletSeen],
    symbols: dict[TokenKey, str | None],
) -> tuple[Changes, datetime | None]:
    """The changes in the window, each read and placed at its boundary here; the time of the
    first. (SQLite keeps amounts as text, which it cannot sum exactly.)"""
    c = BalanceChangeRow
    query = (
        select(c.wallet_id, c.token_key, c.symbol, c.changed_at, c.delta)
        .where(
            c.wallet_id.in_(list(wallets)),
            c.changed_at > window.start,
            c.changed_at <= window.last_end,
        )
        .order_by(c.changed_at, c.id)
    )
    moves = []
    for wallet, key, symbol, at, delta in await session.execute(query):
        position = Position(wallet, wallets[wallet].chain, key)
        moves.append(Moved(position, at, delta))
        symbols[position.token_key] = symbol
    return by_boundary(window, moves), moves[0].at if moves else None


# The changes in a window summed by (wallet, token, boundary) in the database: a boundary is
# the first one at or after the change (the bucket's end), counted from the window's start.
SUMMED_CHANGES = text(
    """
    SELECT wallet_id::text, token_key, max(symbol), boundary, sum(delta), min(changed_at)
    FROM (
        SELECT wallet_id, token_key, symbol, delta, changed_at,
               CAST(ceil(extract(epoch FROM changed_at - :start) / :step) AS integer)
                 AS boundary
        FROM balance_changes
        WHERE wallet_id = ANY(:wallets) AND changed_at > :start AND changed_at <= :end
    ) placed
    GROUP BY wallet_id, token_key, boundary
    """
)


async def _summed_changes(
    session: AsyncSession,
    window: Window,
    wallets: Mapping[UUID, WalletSeen],
    symbols: dict[TokenKey, str | None],
) -> tuple[Changes, datetime | None]:
    """PostgreSQL: the changes summed by boundary there (exact NUMERIC), one row for each
    (wallet, token, boundary) with changes, however many changes it holds."""
    if not wallets:
        return {}, None
    ids = {str(wallet): wallet for wallet in wallets}
    connection = await session.connection()  # rows as the driver gives them: no ORM on top
    rows = await connection.execute(
        SUMMED_CHANGES,
        {"start": window.start, "end": window.last_end, "wallets": list(wallets),
         "step": int(window.step.total_seconds())},
    )  # fmt: skip
    changes: Changes = {}
    positions: dict[tuple[str, str], Position] = {}
    first: datetime | None = None
    for wallet, key, symbol, boundary, delta, at in rows:
        position = positions.get((wallet, key))
        if position is None:
            uuid = ids[wallet]
            position = positions[(wallet, key)] = Position(uuid, wallets[uuid].chain, key)
            symbols[position.token_key] = symbol
            changes[position] = {}
        changes[position][boundary] = delta
        first = at if first is None or at < first else first
    return changes, first


async def _prices(
    session: AsyncSession, window: Window, tokens: set[TokenKey]
) -> dict[TokenKey, list[Decimal | None]]:
    """Each token's price at each boundary: its last at or before the window's start, then
    the series of the window's step and the longer ones, read by their key (token, step,
    bucket)."""
    if not tokens:
        return {}
    first = await _prices_at(session, tokens, window.start)
    p = PricePointRow
    step = int(window.step.total_seconds())
    steps = [s for s in STEPS if s >= step]
    keys = [(chain.value, key, s) for chain, key in sorted(tokens) for s in steps]
    seen: dict[TokenKey, list[tuple[datetime, Decimal]]] = {token: [] for token in tokens}
    for start in range(0, len(keys), 300):  # statements of a bounded size
        query = (
            select(p.chain, p.token_key, p.priced_at, p.usd_price)
            .where(
                tuple_(p.chain, p.token_key, p.step_seconds).in_(keys[start : start + 300]),
                # By the key alone (times outside the window are left out by
                # prices_at_boundaries): the priced_at index would read every step's rows.
                p.bucket >= earliest_before(window.start, timedelta(seconds=max(steps))),
                p.bucket < window.last_end,
            )
            .order_by(p.priced_at, p.step_seconds)
        )
        for chain_name, key, at, usd in await session.execute(query):
            seen[(Chain(chain_name), key)].append((at, usd))
    return {
        token: prices_at_boundaries(window, first.get(token), sorted(seen[token]))
        for token in tokens
    }


class SqlPerformanceReader:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._dialect = dialect

    async def recorded(
        self, tenant: str, window: Window, wallet_id: UUID | None = None, chain: Chain | None = None
    ) -> Recorded:
        async with storage_errors(), self._sessions() as session:
            return await recorded(session, self._dialect, tenant, window, wallet_id, chain)
