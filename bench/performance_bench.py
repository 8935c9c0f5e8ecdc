"""Performance over a year at 1d for 100 wallets x 10 tokens on PostgreSQL: the whole request
(its reads and the computation) timed, at two densities of changes (each balance changing once
a week, and four times a day as in the history benchmark), from the kept tracks (after keeping
them, timed once; a reader's requests while the cursor stays, and a new reader's first, which
reads and parses the kept part) and from the records (the baseline), beside the history window
of the same span and interval measured in the same run (the kept points of the totals only)."""

from __future__ import annotations

import gc
import statistics
import time
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.history_bench import (
    END,
    SEED_CHANGES,
    SEED_PRICES,
    SEED_WALLETS,
    START,
    TOKENS,
    WALLETS,
    _median,
)
from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.history import Retention, SqlHistoryRepository
from portfolio.adapters.db.performance import SqlPerformanceReader
from portfolio.api.performance import PerformanceOut
from portfolio.domain.history import Interval, Window
from portfolio.domain.wallet import DEFAULT_TENANT
from tests.databases import fresh_postgres_database, migrate
from tests.fakes import FakeClock

DENSITIES = [("a change a week", 168), ("four changes a day", 6)]


async def run() -> list[str]:
    lines = [
        f"Performance: {WALLETS} wallets x {TOKENS} tokens, a year at 1d (366 boundaries), "
        "prices every 5 minutes (kept by retention)"
    ]
    gc.collect()
    gc.freeze()  # as the service does once started
    for name, hours in DENSITIES:
        lines += await _density(name, hours)
    lines.append("  target: the year at 1d under 50 ms on PostgreSQL")
    return lines


async def _vacuumed(engine: AsyncEngine) -> None:
    """Tables as a service's are once written: vacuumed (else the autovacuum of what was
    just loaded runs beside the requests measured, on a machine of two cores) and analysed."""
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE"))


async def _density(name: str, hours: int) -> list[str]:
    url = await fresh_postgres_database("portfolio_bench_performance")
    await migrate(url)
    engine = create_engine(url, statement_timeout=3600)
    changes = 365 * 24 // hours
    parameters = {"start": START, "end": END, "wallets": WALLETS, "tokens": TOKENS,
                  "changes": changes, "hours": hours}  # fmt: skip
    async with engine.begin() as connection:
        await connection.execute(SEED_WALLETS, parameters)
        await connection.execute(SEED_CHANGES, parameters)
        for step in (300, 3600, 86400):
            await connection.execute(SEED_PRICES, {**parameters, "step": step})
    history = SqlHistoryRepository(
        session_factory(engine), "postgresql", FakeClock(END), retention=Retention()
    )
    while await history.prune(batch=50_000):
        pass
    await history.seal(DEFAULT_TENANT)
    await _vacuumed(engine)
    window = Window.of(END - timedelta(days=365), END, Interval.DAY)
    kept = SqlPerformanceReader(session_factory(engine), "postgresql", FakeClock(END))
    began = time.perf_counter()
    await kept.keep(DEFAULT_TENANT)
    keeping = time.perf_counter() - began
    await _vacuumed(engine)
    reader = kept

    async def read() -> None:
        began = time.perf_counter()
        recorded = await reader.recorded(DEFAULT_TENANT, window)
        middle = time.perf_counter()
        result = recorded.performance()
        PerformanceOut.of(Interval.DAY, recorded, result, series=True).model_dump_json()
        reads.append((middle - began) * 1000)
        computes.append((time.perf_counter() - middle) * 1000)

    reads: list[float] = []
    computes: list[float] = []
    whole = await _median(read, 25)
    tracked = (statistics.median(reads), statistics.median(computes))
    firsts = []  # a reader's first request: nothing it read of the kept tracks held yet
    for _ in range(5):
        reader = SqlPerformanceReader(session_factory(engine), "postgresql", FakeClock(END))
        firsts.append(await _median(read, 1))
    first = statistics.median(firsts)
    reader = SqlPerformanceReader(session_factory(engine), "postgresql")  # no clock: records
    reads, computes = [], []
    baseline = await _median(read, 3)

    async def points() -> None:
        await history.portfolio_history(DEFAULT_TENANT, window)

    points_ms = await _median(points, 7)
    await engine.dispose()
    total = WALLETS * TOKENS * changes
    return [
        f"  {name} ({total:,} changes in the year): {whole:.1f} ms a request from the kept "
        f"tracks (reads {tracked[0]:.1f} ms, computing and rendering {tracked[1]:.1f} ms), "
        f"a reader's first {first:.1f} ms (the kept part read and parsed); "
        f"from the records {baseline:.0f} ms ({baseline / whole:.0f}x); keeping the year's "
        f"tracks once {keeping:.1f} s; the history window of the totals {points_ms:.1f} ms"
    ]
