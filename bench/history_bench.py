"""Portfolio history over a year of 5-minute samples for 100 wallets on PostgreSQL: the query
the service runs (over history marks) beside the same definition computed over every sample."""

from __future__ import annotations

import csv
import io
import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.history import SqlHistoryRepository
from portfolio.adapters.db.marks import mark_postgres_history
from portfolio.api.csvout import history_rows
from portfolio.domain.history import MAX_STREAMED_POINTS, Interval, Window
from portfolio.domain.wallet import DEFAULT_TENANT
from tests.databases import fresh_postgres_database, migrate

WALLETS = 100
END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=365)

SEED = text(
    """
    INSERT INTO wallets (id, chain, address, label, created_at, updated_at)
    SELECT md5(n::text)::uuid, CASE WHEN n % 2 = 0 THEN 'ethereum' ELSE 'solana' END,
           'bench-' || n, NULL, :start, :start
    FROM generate_series(1, :wallets) n;
    """
)
SAMPLES = text(
    """
    INSERT INTO balance_history (wallet_id, token_key, symbol, decimals, raw_balance,
                                 usd_price, usd_value, recorded_at)
    SELECT md5(n::text)::uuid, 'native', NULL, 18, 1, NULL,
           round((1000 + n + 100 * sin(extract(epoch FROM t) / 86400))::numeric, 6), t
    FROM generate_series(1, :wallets) n,
         generate_series(:start, :end, interval '5 minutes') t
    """
)
# The definition over every sample: the last sample of each (wallet, token) at or before each
# bucket's end, carried forward (what the service answered before it kept marks).
OVER_SAMPLES = text(
    """
    WITH placed AS (
        SELECT h.id, h.wallet_id, h.token_key, h.recorded_at, w.chain,
               COALESCE(h.usd_value, 0) AS value,
               GREATEST(date_bin(:step, h.recorded_at - interval '1 microsecond',
                                 timestamptz '1970-01-01 00:00:00+00'), :first) AS bucket
        FROM balance_history h JOIN wallets w ON w.id = h.wallet_id
        WHERE h.recorded_at <= :last_end
    ),
    marks AS (
        SELECT DISTINCT ON (wallet_id, token_key, bucket) wallet_id, token_key, chain, bucket, value
        FROM placed ORDER BY wallet_id, token_key, bucket, recorded_at DESC, id DESC
    ),
    deltas AS (
        SELECT chain, bucket, value - COALESCE(
            LAG(value) OVER (PARTITION BY wallet_id, token_key ORDER BY bucket), 0) AS delta
        FROM marks
    ),
    per_bucket AS (SELECT chain, bucket, SUM(delta) AS delta FROM deltas GROUP BY chain, bucket)
    SELECT chain, bucket, SUM(delta) OVER (PARTITION BY chain ORDER BY bucket) AS value
    FROM per_bucket ORDER BY bucket
    """
)


async def run() -> list[str]:
    url = await fresh_postgres_database("portfolio_bench_history")
    await migrate(url)
    engine = create_engine(url, statement_timeout=3600)  # loading a year of samples
    started = time.perf_counter()
    async with engine.begin() as connection:
        await connection.execute(SEED, {"start": START, "wallets": WALLETS})
        await connection.execute(SAMPLES, {"start": START, "end": END, "wallets": WALLETS})
        await connection.run_sync(mark_postgres_history)
    async with engine.connect() as connection:
        await connection.execute(text("ANALYZE"))
        samples = (await connection.execute(text("SELECT count(*) FROM balance_history"))).scalar()
        marks = (await connection.execute(text("SELECT count(*) FROM history_marks"))).scalar()
    load = time.perf_counter() - started
    history = SqlHistoryRepository(session_factory(engine), "postgresql")
    lines = [
        f"History: {WALLETS} wallets, a year of 5-minute samples ({samples:,} samples, "
        f"{marks:,} marks, loaded in {load:.0f} s), PostgreSQL"
    ]
    for interval, span in ((Interval.DAY, 365), (Interval.HOUR, 7), (Interval.FIVE_MINUTES, 1)):
        window = Window.of(END - timedelta(days=span), END, interval)
        timings = []
        for _ in range(5):
            begun = time.perf_counter()
            points = await history.portfolio_history(DEFAULT_TENANT, window)
            timings.append(time.perf_counter() - begun)
        median = statistics.median(timings) * 1000
        begun = time.perf_counter()
        async with engine.connect() as connection:
            await connection.execute(
                OVER_SAMPLES,
                {"step": window.step, "first": window.start, "last_end": window.last_end},
            )
        baseline = (time.perf_counter() - begun) * 1000
        lines.append(
            f"  {span:>3} days at {interval.value:<3} {len(points):>5} points: "
            f"{median:8.1f} ms (median of 5); over every sample {baseline:8.0f} ms "
            f"({baseline / median:.0f}x)"
        )
    lines.append("  target: a year at 1d under 200 ms")
    lines.append(await _export(history))
    await engine.dispose()
    return lines


async def _export(history: SqlHistoryRepository) -> str:
    """A year of 5-minute points streamed as an export does (CSV rows written to nowhere),
    this process's resident memory sampled meanwhile."""
    window = Window.of(START, END, Interval.FIVE_MINUTES, MAX_STREAMED_POINTS)
    chains = await history.chains_of(DEFAULT_TENANT)
    before = _rss_mib()
    peak = before
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_mib())
            time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()
    begun = time.perf_counter()
    written = 0
    try:
        sink = io.StringIO()
        async for row in history_rows(history.stream_history(DEFAULT_TENANT, window), chains):
            csv.writer(sink).writerow(row)
            written += 1
            if written % 1000 == 0:
                sink.seek(0)
                sink.truncate()
    finally:
        done.set()
        watcher.join()
    seconds = time.perf_counter() - begun
    return (
        f"  CSV export, a year at 5m: {written:,} rows in {seconds:.1f} s; the process grew "
        f"{peak - before:.1f} MiB (target: under 10)"
    )


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
