"""History over a year: storage and window latency of the model of changes and price series
(100 wallets x 10 tokens, each balance changing four times a day, prices every 5 minutes) on
PostgreSQL and SQLite, beside the model of samples it replaced (every balance at every refresh
and its marks, schema revision 0012) measured in the same run on a year of 100 wallets' samples.
"""

from __future__ import annotations

import csv
import gc
import io
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.history import Retention, SqlHistoryRepository
from portfolio.adapters.db.models import BalanceChangeRow, PricePointRow, WalletRow
from portfolio.api.csvout import history_rows
from portfolio.domain.history import MAX_STREAMED_POINTS, Interval, Window, bucket_holding
from portfolio.domain.wallet import DEFAULT_TENANT
from tests.databases import fresh_postgres_database, migrate
from tests.fakes import FakeClock

WALLETS = 100
TOKENS = 10
CHANGES_A_DAY = 4
END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=365)
REFRESHES = 365 * 288  # a year of 5-minute refreshes
WINDOWS = [
    (Interval.DAY, timedelta(days=365)),
    (Interval.HOUR, timedelta(days=7)),
    (Interval.FIVE_MINUTES, timedelta(days=1)),
    (Interval.FIVE_MINUTES, 10_000 * Interval.FIVE_MINUTES.step),
    (Interval.HOUR, 10_000 * Interval.HOUR.step),
]

SEED_WALLETS = text(
    """
    INSERT INTO wallets (id, tenant, chain, address, label, created_at, updated_at,
                         last_fetched_at)
    SELECT md5(n::text)::uuid, 'default',
           CASE WHEN n % 2 = 0 THEN 'ethereum' ELSE 'solana' END, 'bench-' || n, NULL,
           :start, :start, :end
    FROM generate_series(1, :wallets) n
    """
)
# Each (wallet, token) changes every :hours hours, at its own minutes; amounts of 18 decimals.
SEED_CHANGES = text(
    """
    INSERT INTO balance_changes (wallet_id, token_key, symbol, decimals, raw_balance, delta,
                                 changed_at)
    SELECT wallet, token, NULL, 18, raw,
           (raw::text || 'e-18')::numeric - COALESCE((previous::text || 'e-18')::numeric, 0),
           at
    FROM (
        SELECT md5(w::text)::uuid AS wallet, 't' || k AS token, at, raw,
               LAG(raw) OVER (PARTITION BY w, k ORDER BY at) AS previous
        FROM (
            SELECT w, k, CAST(:start AS timestamptz) + i * make_interval(hours => :hours)
                         + ((w * 7 + k * 3) % 360) * interval '1 minute' AS at,
                   (1 + (i + w + k) % 5)::numeric * 1000000000000000000 + i AS raw
            FROM generate_series(1, :wallets) w, generate_series(0, :tokens - 1) k,
                 generate_series(0, :changes - 1) i
        ) c
    ) d
    ORDER BY at
    """
)
# A price of every token of both chains every 5 minutes, in the three series.
SEED_PRICES = text(
    """
    INSERT INTO price_points (chain, token_key, step_seconds, bucket, usd_price, priced_at)
    SELECT DISTINCT ON (chain, token_key, bucket) chain, token_key, :step, bucket, usd_price,
           priced_at
    FROM (
        SELECT c.chain, 't' || k AS token_key, t + interval '30 seconds' AS priced_at,
               round((100 + k + 10 * sin(extract(epoch FROM t) / 86400))::numeric, 8)
                 AS usd_price,
               date_bin(make_interval(secs => :step), t + interval '30 seconds'
                        - interval '1 microsecond', timestamptz '1970-01-01 00:00:00+00')
                 AS bucket
        FROM (VALUES ('ethereum'), ('solana')) c(chain), generate_series(0, :tokens - 1) k,
             generate_series(CAST(:start AS timestamptz),
                             CAST(:end AS timestamptz) - interval '5 minutes',
                             interval '5 minutes') t
    ) p
    ORDER BY chain, token_key, bucket, priced_at DESC
    """
)
# The model of samples (revision 0012): every balance at every refresh, and its marks.
OLD_SAMPLES = text(
    """
    INSERT INTO balance_history (wallet_id, token_key, symbol, decimals, raw_balance,
                                 usd_price, usd_value, recorded_at)
    SELECT md5(n::text)::uuid, 'native', NULL, 18, 1, NULL,
           round((1000 + n + 100 * sin(extract(epoch FROM t) / 86400))::numeric, 6), t
    FROM generate_series(1, :wallets) n,
         generate_series(CAST(:start AS timestamptz),
                             CAST(:end AS timestamptz) - interval '5 minutes',
                             interval '5 minutes') t
    """
)
OLD_MARKS = text(
    """
    INSERT INTO history_marks (wallet_id, token_key, step_seconds, bucket, usd_value,
                               recorded_at, history_id)
    SELECT DISTINCT ON (wallet_id, token_key, bucket)
           wallet_id, token_key, :step, bucket, usd_value, recorded_at, id
    FROM (
        SELECT h.*, date_bin(make_interval(secs => :step),
                             h.recorded_at - interval '1 microsecond',
                             timestamptz '1970-01-01 00:00:00+00') AS bucket
        FROM balance_history h
    ) placed
    ORDER BY wallet_id, token_key, bucket, recorded_at DESC, id DESC
    """
)
# The query the model of samples answered a window with.
OLD_HISTORY = text(
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
HISTORY_TABLES = ("balance_changes", "price_points", "history_spans", "history_cursors")
OLD_TABLES = ("balance_history", "history_marks")


async def run() -> list[str]:
    lines = [
        f"History: {WALLETS} wallets x {TOKENS} tokens, a year of 5-minute refreshes, each "
        f"balance changing {CHANGES_A_DAY} times a day, prices every 5 minutes"
    ]
    # As the service does once started (main/app.py): what the imports built stays out of the
    # collector's full passes, which would otherwise stall every few windows by 100 ms.
    gc.collect()
    gc.freeze()
    old_bytes, old_ms = await _old_model(lines)
    lines.append("")
    await _new_model_postgres(lines, old_bytes, old_ms)
    lines.append("")
    await _new_model_sqlite(lines)
    return lines


async def _old_model(lines: list[str]) -> tuple[float, dict[str, float]]:
    """The model of samples at revision 0012, a year of 100 wallets' 5-minute samples (one
    token each): bytes a sample, and each window's latency."""
    url = await fresh_postgres_database("portfolio_bench_history_old")
    await migrate(url, "0012")
    engine = create_engine(url, statement_timeout=3600)
    began = time.perf_counter()
    parameters = {"start": START, "end": END, "wallets": WALLETS}
    async with engine.begin() as connection:
        await connection.execute(SEED_WALLETS, parameters)
        await connection.execute(OLD_SAMPLES, parameters)
        for step in (300, 3600, 86400):
            await connection.execute(OLD_MARKS, {"step": step})
    async with engine.connect() as connection:
        samples = int((await connection.scalar(text("SELECT count(*) FROM balance_history"))) or 0)
    size = await _bytes(engine, OLD_TABLES)
    per_sample = size / samples
    year = per_sample * WALLETS * TOKENS * REFRESHES
    lines.append(
        f"  model of samples (rev 0012), measured: {samples:,} samples of 100 wallets x 1 token "
        f"(loaded in {time.perf_counter() - began:.0f} s): {per_sample:.0f} bytes a sample "
        f"with its marks; for {WALLETS} x {TOKENS} a year: {year / 2**30:.1f} GiB"
    )
    timings: dict[str, float] = {}
    for interval, span in WINDOWS:
        window = Window.of(END - span, END, interval)
        params = {"tenant": DEFAULT_TENANT, "step": int(window.step.total_seconds()),
                  "first": window.start, "first_day": _day(window.start),
                  "last": window.last_end - window.step}  # fmt: skip

        async def old(window_params: dict[str, Any] = params) -> None:
            async with engine.connect() as connection:
                await connection.execute(OLD_HISTORY, window_params)

        timings[_name(interval, window)] = await _median(old, 3)
    await engine.dispose()
    return year, timings


async def _new_model_postgres(lines: list[str], old_bytes: float, old_ms: dict[str, float]) -> None:
    url = await fresh_postgres_database("portfolio_bench_history")
    await migrate(url)
    engine = create_engine(url, statement_timeout=3600)
    began = time.perf_counter()
    parameters = {"start": START, "end": END, "wallets": WALLETS, "tokens": TOKENS,
                  "changes": 365 * CHANGES_A_DAY, "hours": 24 // CHANGES_A_DAY}  # fmt: skip
    async with engine.begin() as connection:
        await connection.execute(SEED_WALLETS, parameters)
        await connection.execute(SEED_CHANGES, parameters)
        for step in (300, 3600, 86400):
            await connection.execute(SEED_PRICES, {**parameters, "step": step})
    loaded = time.perf_counter() - began
    history = SqlHistoryRepository(
        session_factory(engine), "postgresql", FakeClock(END), retention=Retention()
    )
    began = time.perf_counter()
    pruned = 0
    while dropped := await history.prune(batch=50_000):
        pruned += dropped
    pruning = time.perf_counter() - began
    began = time.perf_counter()
    await history.seal(DEFAULT_TENANT)
    sealing = time.perf_counter() - began
    async with engine.connect() as connection:
        counts = {t: int((await connection.scalar(text(f"SELECT count(*) FROM {t}"))) or 0)  # noqa: S608
                  for t in HISTORY_TABLES}  # fmt: skip
    size = await _bytes(engine, HISTORY_TABLES)
    lines += [
        f"  model of changes, PostgreSQL: {counts['balance_changes']:,} changes, "
        f"{counts['price_points']:,} price points (after pruning {pruned:,} past retention in "
        f"{pruning:.0f} s), {counts['history_spans']:,} days of kept points (computed in "
        f"{sealing:.1f} s); loaded in {loaded:.0f} s",
        f"  bytes on disk for a year: {size / 2**20:.0f} MiB, beside {old_bytes / 2**30:.1f} GiB:"
        f" 1/{old_bytes / size:.0f} (target: at most 1/50)",
        "  window                      points   kept points   walked from changes   "
        "model of samples (1 token)",
    ]
    for interval, span in WINDOWS:
        window = Window.of(END - span, END, interval)
        name = _name(interval, window)

        async def kept(w: Window = window) -> None:
            await history.portfolio_history(DEFAULT_TENANT, w)

        async def walked(w: Window = window) -> None:
            async for _ in history._walked(DEFAULT_TENANT, w):
                pass

        fast = await _median(kept, 9)
        slow = await _median(walked, 1)
        lines.append(
            f"  {name:<26} {window.count:>7,} {fast:>10.1f} ms {slow:>16.0f} ms "
            f"{old_ms[name]:>18.0f} ms"
        )
    lines.append("  target: every window under 20 ms on PostgreSQL")
    lines.append(await _export(history))
    await engine.dispose()


async def _new_model_sqlite(lines: list[str]) -> None:
    """The same changes and the kept prices on the embedded default."""
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        await migrate(url)
        engine = create_engine(url)
        began = time.perf_counter()
        await _load_sqlite(engine)
        loaded = time.perf_counter() - began
        history = SqlHistoryRepository(session_factory(engine), "sqlite", FakeClock(END))
        began = time.perf_counter()
        await history.seal(DEFAULT_TENANT)
        sealing = time.perf_counter() - began
        size = os.path.getsize(Path(directory, "bench.db"))  # noqa: ASYNC240 - once, small
        lines.append(
            f"  model of changes, SQLite: loaded in {loaded:.0f} s, points computed in "
            f"{sealing:.0f} s, the file {size / 2**20:.0f} MiB"
        )
        for interval, span in WINDOWS:
            window = Window.of(END - span, END, interval)

            async def kept(w: Window = window) -> None:
                await history.portfolio_history(DEFAULT_TENANT, w)

            median = await _median(kept, 5)
            lines.append(f"  {_name(interval, window):<26} {window.count:>7,} {median:>10.1f} ms")
        lines.append("  target: every window under 200 ms on SQLite")
        await engine.dispose()


async def _load_sqlite(engine: AsyncEngine) -> None:
    """The changes and prices the PostgreSQL run keeps after pruning, written in Python."""
    wallets = [(f"{n:032x}", "ethereum" if n % 2 == 0 else "solana") for n in range(1, WALLETS + 1)]
    retention = Retention()
    async with session_factory(engine).begin() as session:
        await session.execute(
            insert(WalletRow),
            [{"id": UUID(w), "tenant": "default", "chain": chain, "address": w, "label": None,
              "created_at": START, "updated_at": START, "last_fetched_at": END}
             for w, chain in wallets],
        )  # fmt: skip
        for number, (wallet, _) in enumerate(wallets, start=1):
            rows = []
            for k in range(TOKENS):
                previous = Decimal(0)
                for i in range(365 * CHANGES_A_DAY):
                    minutes = (number * 7 + k * 3) % 360
                    at = START + timedelta(hours=6 * i, minutes=minutes)
                    raw = (1 + (i + number + k) % 5) * 10**18 + i
                    amount = Decimal(raw).scaleb(-18)
                    rows.append(
                        {"wallet_id": UUID(wallet), "token_key": f"t{k}", "symbol": None,
                         "decimals": 18, "raw_balance": raw, "delta": amount - previous,
                         "changed_at": at}
                    )  # fmt: skip
                    previous = amount
            await session.execute(insert(BalanceChangeRow), rows)
        prices = []
        for chain in ("ethereum", "solana"):
            for k in range(TOKENS):
                for step, kept in ((300, retention.five_minutes), (3600, retention.hours),
                                   (86400, END - START)):  # fmt: skip
                    width = timedelta(seconds=step)
                    at = END - kept
                    while at < END:
                        seen = at + timedelta(seconds=30) + width - timedelta(minutes=5)
                        prices.append(
                            {"chain": chain, "token_key": f"t{k}", "step_seconds": step,
                             "bucket": bucket_holding(seen, width),
                             "usd_price": Decimal(100 + k), "priced_at": seen}
                        )  # fmt: skip
                        at += width
        for start in range(0, len(prices), 20_000):
            await session.execute(insert(PricePointRow), prices[start : start + 20_000])


async def _bytes(engine: AsyncEngine, tables: tuple[str, ...]) -> int:
    """The tables' bytes with their indexes, rewritten first (VACUUM FULL: what the rows
    take, without the space of rows pruned meanwhile, which new rows would reuse)."""
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in tables:
            await autocommit.execute(text(f"VACUUM (FULL, ANALYZE) {table}"))
        total = 0
        for table in tables:
            total += int(
                (await connection.scalar(text(f"SELECT pg_total_relation_size('{table}')"))) or 0
            )
        return total


async def _median(call: Callable[[], Awaitable[None]], times: int) -> float:
    timings = []
    for _ in range(times):
        began = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - began) * 1000)
    return statistics.median(timings)


def _name(interval: Interval, window: Window) -> str:
    span = window.end - window.start
    days = span.total_seconds() / 86400
    return f"{days:.1f} days at {interval.value}"


def _day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


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
    began = time.perf_counter()
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
    seconds = time.perf_counter() - began
    return (
        f"  CSV export, a year at 5m: {written:,} rows in {seconds:.1f} s; the process grew "
        f"{peak - before:.1f} MiB (target: under 10)"
    )


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
