"""Portfolio history in SQL. PostgreSQL does it in one query over the history marks (DISTINCT
ON and window functions); SQLite, the small embedded default without exact wide numbers, walks
the samples in Python. Both give the same exact sums."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Executable, Select, and_, func, or_, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

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

# From the marks (see marks.py), of the tenant's wallets only, each wallet's read by the index
# on (wallet, step, bucket) (never another tenant's marks, nor a sort of them): the last sample
# of each (wallet, token) in each bucket of the window, and for the state at the window's start
# the daily marks before its first day plus the marks of the asked step from that day on, all
# folded into the first bucket. Each mark then
# counts as the change from the previous one of its (wallet, token); a running sum over the
# buckets carries values forward.
POSTGRES_HISTORY = text(
    """
    WITH candidates AS (
        SELECT m.*
        FROM wallets w CROSS JOIN LATERAL (
            SELECT wallet_id, token_key, CAST(:first AS timestamptz) AS bucket, usd_value,
                   recorded_at, history_id
            FROM history_marks
            WHERE wallet_id = w.id AND step_seconds = 86400 AND bucket < :first_day
            UNION ALL
            SELECT wallet_id, token_key, GREATEST(bucket, :first), usd_value, recorded_at,
                   history_id
            FROM history_marks
            WHERE wallet_id = w.id AND step_seconds = :step AND bucket >= :first_day
              AND bucket <= :last
        ) m
        WHERE w.tenant = :tenant
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


STREAM_ROWS = 1000  # samples read in one page of a streamed export (SQLite)
STREAM_BUCKETS = 2000  # buckets read in one page of a streamed export (PostgreSQL)


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
        """Points made as rows come, read in pages, each page in a short transaction of its
        own: a client that reads a long export slowly holds no database connection between
        pages (a slow reader held one, and a transaction, for the whole download)."""
        carry = CarryForward(window)
        levels = self._paged_levels if self._postgres else self._walked_levels
        async for level in levels(tenant, window):
            for point in carry.feed(level):
                yield point
        for point in carry.finish():
            yield point

    async def _paged_levels(self, tenant: str, window: Window) -> AsyncIterator[Level]:
        """PostgreSQL, by pages of buckets: a page's first bucket folds in what came before,
        so each page stands alone."""
        for part in _parts(window, STREAM_BUCKETS):
            async with storage_errors(), self._sessions() as session:
                rows = await _postgres_levels(session, tenant, part)
            for level in rows:
                yield level

    async def _walked_levels(self, tenant: str, window: Window) -> AsyncIterator[Level]:
        """SQLite, by pages of samples in (time, id) order, the walk carried from page to
        page."""
        walk = LevelWalk(window)
        after: tuple[datetime, int] | None = None
        while True:
            async with storage_errors(), self._sessions() as session:
                query = _samples_query(tenant, window, after, STREAM_ROWS)
                page = (await session.execute(query)).all()
            for wallet_id, token, chain, at, value, _ in page:
                for level in walk.feed(Sample(wallet_id, token, Chain(chain), at, value)):
                    yield level
            if len(page) < STREAM_ROWS:
                break
            after = (page[-1][3], page[-1][5])
        for level in walk.finish():
            yield level

    async def chains_of(self, tenant: str) -> list[Chain]:
        query = select(WalletRow.chain).where(WalletRow.tenant == tenant).distinct()
        async with storage_errors(), self._sessions() as session:
            return sorted(Chain(chain) for chain in await session.scalars(query))

    async def held_at(
        self, tenant: str, moment: datetime, wallet_id: UUID | None = None
    ) -> list[HeldAt]:
        """One query on both databases, led by the index on (wallet, token, time): each of
        the tenant's wallets' tokens found by skipping from one token to the next in the index
        (a recursive CTE), then each token's last sample at or before the moment (the later
        insert first in a tie) by one index lookup. The cost follows the tokens, not the
        length of the history."""
        query = _held_at_query(tenant, moment, wallet_id, lateral=self._postgres)
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


def _held_at_query(
    tenant: str, moment: datetime, wallet_id: UUID | None, *, lateral: bool
) -> Executable:
    history = BalanceHistoryRow.__table__

    def next_key(wallet: Any, after: Any = None) -> Any:
        """The first token of the wallet (after ``after``) with a sample by the moment."""
        sample = history.alias()
        found = select(func.min(sample.c.token_key)).where(
            sample.c.wallet_id == wallet, sample.c.recorded_at <= moment
        )
        if after is not None:
            found = found.where(sample.c.token_key > after)
        return found.scalar_subquery()

    wallets = select(WalletRow.id.label("wallet_id"), next_key(WalletRow.id).label("token_key"))
    wallets = wallets.where(WalletRow.tenant == tenant)
    if wallet_id is not None:
        wallets = wallets.where(WalletRow.id == wallet_id)
    keys = wallets.cte("held_keys", recursive=True)
    keys = keys.union_all(
        select(keys.c.wallet_id, next_key(keys.c.wallet_id, keys.c.token_key)).where(
            keys.c.token_key.is_not(None)
        )
    )
    h, s = BalanceHistoryRow, aliased(BalanceHistoryRow)  # the row shown, the samples looked up
    at_key = (s.wallet_id == keys.c.wallet_id, s.token_key == keys.c.token_key,
              s.recorded_at <= moment)  # fmt: skip
    newest = (s.recorded_at.desc(), s.id.desc())
    shown = (h.wallet_id, WalletRow.chain, WalletRow.address, WalletRow.label, h.token_key,
             h.symbol, h.decimals, h.raw_balance, h.usd_price, h.usd_value,
             h.recorded_at)  # fmt: skip
    if lateral:  # PostgreSQL: each token's last sample by one index lookup
        last = select(s.id).where(*at_key).order_by(*newest).limit(1).lateral("last_sample")
        return (
            select(*shown)
            .select_from(keys)
            .join(last, true())
            .join(h, h.id == last.c.id)
            .join(WalletRow, WalletRow.id == h.wallet_id)
        )
    # SQLite, which has no LATERAL: the id by a correlated lookup, then the row by its key.
    last_id = select(s.id).where(*at_key).order_by(*newest).limit(1).scalar_subquery()
    ids = select(last_id.label("id")).select_from(keys).where(keys.c.token_key.is_not(None))
    found = ids.subquery()
    return (
        select(*shown)
        .select_from(found)
        .join(h, h.id == found.c.id)
        .join(WalletRow, WalletRow.id == h.wallet_id)
    )


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
        for wallet_id, token, chain, at, value, _ in await session.execute(
            _samples_query(tenant, window)
        )
    ]


def _samples_query(
    tenant: str,
    window: Window,
    after: tuple[datetime, int] | None = None,
    limit: int | None = None,
) -> Select[UUID, str, str, datetime, Decimal | None, int]:
    """The tenant's samples up to the window's end in recording order; a page of ``limit``
    after the sample ``after`` (its time and id) when given."""
    h = BalanceHistoryRow
    query = (
        select(h.wallet_id, h.token_key, WalletRow.chain, h.recorded_at, h.usd_value, h.id)
        .join(WalletRow, WalletRow.id == h.wallet_id)
        .where(h.recorded_at <= window.last_end, WalletRow.tenant == tenant)
        .order_by(h.recorded_at, h.id)
    )
    if after is not None:
        at, last_id = after
        query = query.where(or_(h.recorded_at > at, and_(h.recorded_at == at, h.id > last_id)))
    return query if limit is None else query.limit(limit)


def _parts(window: Window, buckets: int) -> list[Window]:
    """The window in windows of at most ``buckets`` buckets, in order."""
    span = window.step * buckets
    starts = [window.start + i * span for i in range(-(-window.count // buckets))]
    return [Window(start, min(start + span, window.end), window.step) for start in starts]
