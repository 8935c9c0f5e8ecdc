"""Portfolio history in SQL. PostgreSQL does it in one query over the history marks (DISTINCT
ON and window functions); SQLite, the small embedded default without exact wide numbers, walks
the samples in Python. Both give the same exact sums."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.models import BalanceHistoryRow, WalletRow
from portfolio.domain.chains import Chain
from portfolio.domain.history import HistoryPoint, Window, floor_time
from portfolio.domain.prices import VALUE_CONTEXT

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
    ),
    per_bucket AS (
        SELECT chain, bucket, SUM(delta) AS delta FROM deltas GROUP BY chain, bucket
    )
    SELECT chain, bucket, SUM(delta) OVER (PARTITION BY chain ORDER BY bucket) AS value
    FROM per_bucket
    ORDER BY bucket
    """
)


class SqlHistoryRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._postgres = dialect == "postgresql"

    async def portfolio_history(self, window: Window) -> list[HistoryPoint]:
        async with storage_errors(), self._sessions() as session:
            if self._postgres:
                levels = await _postgres_levels(session, window)
            else:
                levels = await _walked_levels(session, window)
        return _points(window, levels)


async def _postgres_levels(
    session: AsyncSession, window: Window
) -> list[tuple[datetime, Chain, Decimal]]:
    rows = await session.execute(
        POSTGRES_HISTORY,
        {
            "step": int(window.step.total_seconds()),
            "first": window.start,
            "first_day": floor_time(window.start, timedelta(days=1)),
            "last": window.last_end - window.step,
        },
    )
    return [(bucket, Chain(chain), Decimal(value)) for chain, bucket, value in rows]


async def _walked_levels(
    session: AsyncSession, window: Window
) -> list[tuple[datetime, Chain, Decimal]]:
    """The same levels as the PostgreSQL query: each chain's total at the end of each bucket in
    which one of its samples changed."""
    query = (
        select(
            BalanceHistoryRow.wallet_id,
            BalanceHistoryRow.token_key,
            WalletRow.chain,
            BalanceHistoryRow.recorded_at,
            BalanceHistoryRow.usd_value,
        )
        .join(WalletRow, WalletRow.id == BalanceHistoryRow.wallet_id)
        .where(BalanceHistoryRow.recorded_at <= window.last_end)
        .order_by(BalanceHistoryRow.recorded_at, BalanceHistoryRow.id)
    )
    samples = await session.execute(query)
    return _levels(window, samples)


def _levels(window: Window, samples: Iterable[Any]) -> list[tuple[datetime, Chain, Decimal]]:
    current: dict[tuple[Any, str], Decimal] = {}
    totals: dict[Chain, Decimal] = {}
    levels: dict[tuple[datetime, Chain], Decimal] = {}
    with localcontext(VALUE_CONTEXT):
        for wallet_id, token_key, chain_name, recorded_at, usd_value in samples:
            chain = Chain(chain_name)
            bucket = max(_bucket_of(recorded_at, window), window.start)
            value = usd_value or Decimal(0)
            key = (wallet_id, token_key)
            totals[chain] = totals.get(chain, Decimal(0)) + value - current.get(key, Decimal(0))
            current[key] = value
            levels[(bucket, chain)] = totals[chain]
    return [(bucket, chain, value) for (bucket, chain), value in levels.items()]


def _bucket_of(moment: datetime, window: Window) -> datetime:
    """The start of the bucket whose end is the first at or after ``moment``."""
    steps = -(-(moment - window.start) // window.step) - 1  # ceil((t - start) / step) - 1
    return window.start + steps * window.step


def _points(window: Window, levels: list[tuple[datetime, Chain, Decimal]]) -> list[HistoryPoint]:
    """Every bucket of the window, each chain's level carried forward from its last change."""
    by_bucket: dict[datetime, dict[Chain, Decimal]] = {}
    for bucket, chain, value in levels:
        by_bucket.setdefault(bucket, {})[chain] = value
    points = []
    carried: dict[Chain, Decimal] = {}
    with localcontext(VALUE_CONTEXT):
        for bucket in window.buckets():
            carried.update(by_bucket.get(bucket, {}))
            points.append(HistoryPoint(bucket, sum(carried.values(), Decimal(0)), dict(carried)))
    return points
