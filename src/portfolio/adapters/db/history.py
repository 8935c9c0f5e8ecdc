"""Portfolio history in SQL. PostgreSQL does it in one query over the history marks (DISTINCT
ON and window functions); SQLite, the small embedded default without exact wide numbers, walks
the samples in Python. Both give the same exact sums."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.models import BalanceHistoryRow, WalletRow
from portfolio.domain.chains import Chain
from portfolio.domain.history import (
    CarryForward,
    HeldAt,
    HistoryPoint,
    Level,
    LevelWalk,
    Sample,
    Window,
    carry_forward,
    floor_time,
    history_points,
)

# From the marks (see marks.py): the last sample of each (wallet, token) in each bucket of the
# window, and for the state at the window's start the daily marks before its first day plus the
# marks of the asked step from that day on, all folded into the first bucket. Each mark then
# counts as the change from the previous one of its (wallet, token); a running sum over the
# buckets carries values forward.
POSTGRES_HISTORY = text(
    """
    WITH candidates AS (
        SELECT wallet_id, token_key, CAST(:first AS timestamptz) AS bucket, usd_value,
               recorded_at, history_id
        FROM history_marks
        WHERE step_seconds = 86400 AND bucket < :first_day
        UNION ALL
        SELECT wallet_id, token_key, GREATEST(bucket, :first), usd_value, recorded_at, history_id
        FROM history_marks
        WHERE step_seconds = :step AND bucket >= :first_day AND bucket <= :last
    ),
    marks AS (
        SELECT DISTINCT ON (wallet_id, token_key, bucket)
               wallet_id, token_key, bucket, COALESCE(usd_value, 0) AS value
        FROM candidates
        ORDER BY wallet_id, token_key, bucket, recorded_at DESC, history_id DESC
    ),
    deltas AS (
        SELECT w.chain, m.bucket,
               m.value - COALESCE(
                   LAG(m.value) OVER (PARTITION BY m.wallet_id, m.token_key ORDER BY m.bucket), 0
               ) AS delta
        FROM marks m JOIN wallets w ON w.id = m.wallet_id
        WHERE w.tenant = :tenant
    ),
    per_bucket AS (
        SELECT chain, bucket, SUM(delta) AS delta FROM deltas GROUP BY chain, bucket
    )
    SELECT chain, bucket, SUM(delta) OVER (PARTITION BY chain ORDER BY bucket) AS value
    FROM per_bucket
    ORDER BY bucket
    """
)


STREAM_ROWS = 1000  # rows fetched at a time by a streamed export


class SqlHistoryRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._postgres = dialect == "postgresql"

    async def portfolio_history(self, tenant: str, window: Window) -> list[HistoryPoint]:
        async with storage_errors(), self._sessions() as session:
            if self._postgres:
                return carry_forward(window, await _postgres_levels(session, tenant, window))
            return history_points(window, await _samples(session, tenant, window))

    async def stream_history(self, tenant: str, window: Window) -> AsyncIterator[HistoryPoint]:
        """Rows streamed from a server-side cursor, levels and points made as they come."""
        carry = CarryForward(window)
        async with storage_errors(), self._sessions() as session:
            if self._postgres:
                rows = await session.stream(
                    POSTGRES_HISTORY.execution_options(yield_per=STREAM_ROWS),
                    _postgres_parameters(tenant, window),
                )
                async for chain, bucket, value in rows:
                    for point in carry.feed((bucket, Chain(chain), Decimal(value))):
                        yield point
            else:
                walk = LevelWalk(window)
                samples = _samples_query(tenant, window).execution_options(yield_per=STREAM_ROWS)
                async for wallet_id, token, chain, at, value in await session.stream(samples):
                    for level in walk.feed(Sample(wallet_id, token, Chain(chain), at, value)):
                        for point in carry.feed(level):
                            yield point
                for level in walk.finish():
                    for point in carry.feed(level):
                        yield point
        for point in carry.finish():
            yield point

    async def chains_of(self, tenant: str) -> list[Chain]:
        query = select(WalletRow.chain).where(WalletRow.tenant == tenant).distinct()
        async with storage_errors(), self._sessions() as session:
            return sorted(Chain(chain) for chain in await session.scalars(query))

    async def held_at(
        self, tenant: str, moment: datetime, wallet_id: UUID | None = None
    ) -> list[HeldAt]:
        """One window-function query on both databases: each (wallet, token)'s samples up to
        the moment ranked newest first (the later insert first in a tie), the first kept."""
        h = BalanceHistoryRow
        rank = func.row_number().over(
            partition_by=(h.wallet_id, h.token_key), order_by=(h.recorded_at.desc(), h.id.desc())
        )
        ranked = (
            select(h.wallet_id, WalletRow.chain, WalletRow.address, WalletRow.label,
                   h.token_key, h.symbol, h.decimals,
                   h.raw_balance, h.usd_price, h.usd_value, h.recorded_at, rank.label("rank"))
            .join(WalletRow, WalletRow.id == h.wallet_id)
            .where(h.recorded_at <= moment, WalletRow.tenant == tenant)
        )  # fmt: skip
        if wallet_id is not None:
            ranked = ranked.where(h.wallet_id == wallet_id)
        latest = ranked.subquery()
        query = select(*(c for c in latest.c if c.name != "rank")).where(latest.c.rank == 1)
        async with storage_errors(), self._sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            HeldAt(
                wallet,
                Chain(chain),
                address,
                label,
                key,
                symbol,
                decimals,
                int(raw),
                price,
                value,
                at,
            )
            for wallet, chain, address, label, key, symbol, decimals, raw, price, value, at in rows
        ]


async def _postgres_levels(session: AsyncSession, tenant: str, window: Window) -> list[Level]:
    rows = await session.execute(POSTGRES_HISTORY, _postgres_parameters(tenant, window))
    return [(bucket, Chain(chain), Decimal(value)) for chain, bucket, value in rows]


def _postgres_parameters(tenant: str, window: Window) -> dict[str, object]:
    return {
        "tenant": tenant,
        "step": int(window.step.total_seconds()),
        "first": window.start,
        "first_day": floor_time(window.start, timedelta(days=1)),
        "last": window.last_end - window.step,
    }


async def _samples(session: AsyncSession, tenant: str, window: Window) -> list[Sample]:
    """Every sample of the tenant up to the window's end, in recording order."""
    return [
        Sample(wallet_id, token, Chain(chain), at, value)
        for wallet_id, token, chain, at, value in await session.execute(
            _samples_query(tenant, window)
        )
    ]


def _samples_query(tenant: str, window: Window) -> Select[UUID, str, str, datetime, Decimal | None]:
    return (
        select(
            BalanceHistoryRow.wallet_id,
            BalanceHistoryRow.token_key,
            WalletRow.chain,
            BalanceHistoryRow.recorded_at,
            BalanceHistoryRow.usd_value,
        )
        .join(WalletRow, WalletRow.id == BalanceHistoryRow.wallet_id)
        .where(BalanceHistoryRow.recorded_at <= window.last_end, WalletRow.tenant == tenant)
        .order_by(BalanceHistoryRow.recorded_at, BalanceHistoryRow.id)
    )
