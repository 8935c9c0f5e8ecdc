"""Writing history: balance changes (by COPY on PostgreSQL), price points, and forgetting the
computed history points that a late write would make wrong."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.engine import insert_for
from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.models import (
    BalanceChangeRow,
    HistoryCursorRow,
    HistorySpanRow,
    PerformanceCellRow,
    PerformanceCursorRow,
    PerformanceTrackRow,
    PricePointRow,
)
from portfolio.domain.history import Interval, PriceSeen, bucket_holding
from portfolio.domain.prices import Price, stored_usd
from portfolio.domain.tokens import Token

CHANGE_COLUMNS = ("wallet_id", "token_key", "symbol", "decimals", "raw_balance", "delta",
                  "changed_at")  # fmt: skip
STEPS = [interval.step for interval in Interval]


async def write_changes(
    session: AsyncSession, rows: Sequence[dict[str, Any]], dialect: str
) -> None:
    """Insert balance changes in the caller's transaction: on PostgreSQL by one COPY (asyncpg's
    binary copy: the rows in one stream, no statement per row), elsewhere by one executemany.
    A refusal there (a trigger, a constraint) is the driver's own error, which
    rejected_records turns into RecordRejectedError as it does SQLAlchemy's."""
    if not rows:
        return
    if dialect != "postgresql":
        await session.execute(insert(BalanceChangeRow), list(rows))
        return
    records = [
        tuple(Decimal(row[c]) if c == "raw_balance" else row[c] for c in CHANGE_COLUMNS)
        for row in rows
    ]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        BalanceChangeRow.__tablename__, records=records, columns=list(CHANGE_COLUMNS)
    )


async def write_prices(session: AsyncSession, prices: Sequence[PriceSeen], dialect: str) -> None:
    """Each price into the bucket of 5 minutes, 1 hour and 1 day that holds it, where it is the
    latest seen there (one statement); then ``forget_history_after`` its time."""
    latest: dict[tuple[object, ...], PriceSeen] = {}
    for seen in prices:
        for step in STEPS:
            key = (seen.chain.value, seen.token, int(step.total_seconds()),
                   bucket_holding(seen.at, step))  # fmt: skip
            known = latest.get(key)
            if known is None or seen.at >= known.at:
                latest[key] = seen
    rows = [
        {"chain": chain, "token_key": token, "step_seconds": step, "bucket": bucket,
         "usd_price": price, "priced_at": seen.at}
        for (chain, token, step, bucket), seen in latest.items()
        if (price := stored_usd(seen.usd)) is not None
    ]  # fmt: skip
    if not rows:
        return
    await upsert_price_points(session, dialect, rows)
    await forget_history_after(session, min(seen.at for seen in prices))


async def upsert_price_points(
    session: AsyncSession, dialect: str, rows: Sequence[dict[str, object]]
) -> None:
    """Rows of ``price_points``, each kept where it is the latest of its bucket."""
    statement = insert_for(dialect, PricePointRow)
    excluded = statement.excluded
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["chain", "token_key", "step_seconds", "bucket"],
            set_={"usd_price": excluded.usd_price, "priced_at": excluded.priced_at},
            where=PricePointRow.priced_at <= excluded.priced_at,
        ),
        rows,
    )


async def forget_history_after(
    session: AsyncSession, moment: datetime, tenants: Collection[str] | None = None
) -> None:
    """History points are computed up to a cursor that stays well behind the present (see
    history.py): a change or price written at or before a tenant's cursor (a write that took
    that long to commit) drops the cursor, and the points are computed again. Nothing matches
    in the normal course. ``tenants``: only theirs (a balance change); else every tenant's (a
    price is anyone's)."""
    statement = delete(HistoryCursorRow).where(HistoryCursorRow.sealed_at >= moment)
    if tenants is not None:
        statement = statement.where(HistoryCursorRow.tenant.in_(list(tenants)))
    await session.execute(statement)
    # The performance tracks likewise (adapters/db/performance.py).
    tracked = delete(PerformanceCursorRow).where(PerformanceCursorRow.kept_at >= moment)
    if tenants is not None:
        tracked = tracked.where(PerformanceCursorRow.tenant.in_(list(tenants)))
    await session.execute(tracked)


async def forget_tenant_history(session: AsyncSession, tenant: str) -> None:
    """Drop the tenant's computed history points and performance tracks (a wallet and its
    changes went): computed again from what is left."""
    tables = (HistoryCursorRow, HistorySpanRow, PerformanceCursorRow, PerformanceTrackRow)
    for table in (*tables, PerformanceCellRow):
        await session.execute(delete(table).where(table.tenant == tenant))


class SqlPriceSeries:
    """Records the prices a read looked up. A price this process recorded already (the same
    quote, served again from the cache to the next chunk of wallets) is not news: the series
    carries it forward, so it is not written again."""

    REMEMBERED = 100_000  # tokens whose last recorded quote is remembered

    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._dialect = dialect
        self._recorded: dict[tuple[object, str], tuple[Decimal, datetime]] = {}

    async def record_prices(self, prices: Sequence[tuple[Token, Price]], at: datetime) -> None:
        fresh = [
            (token, price)
            for token, price in prices
            if not price.stale
            and self._recorded.get((token.chain, token.key)) != (price.usd, price.as_of)
        ]
        if not fresh:
            return
        seen = [PriceSeen(token.chain, token.key, at, price.usd) for token, price in fresh]
        async with storage_errors(), self._sessions.begin() as session:
            await write_prices(session, seen, self._dialect)
        if len(self._recorded) > self.REMEMBERED:
            self._recorded.clear()
        self._recorded.update({(t.chain, t.key): (p.usd, p.as_of) for t, p in fresh})
