"""Portfolio history on PostgreSQL (one SQL query) and SQLite (walked in Python), each checked
against a plain-Python reference of the definition on random sample streams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db import history as history_module
from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.history import (
    POSTGRES_HISTORY,
    SqlHistoryRepository,
    _held_at_query,
    _postgres_parameters,
)
from portfolio.adapters.db.marks import mark_postgres_history, write_history
from portfolio.adapters.db.models import HistoryMarkRow, WalletRow
from portfolio.domain.chains import Chain
from portfolio.domain.history import (
    HistoryPoint,
    Interval,
    InvalidWindowError,
    Window,
    bucket_holding,
    floor_time,
    history_points,
    totals_at,
)
from portfolio.domain.history import Sample as HistorySample
from portfolio.domain.wallet import DEFAULT_TENANT

BASE = datetime(2026, 3, 1, tzinfo=UTC)
WALLETS = [
    (UUID(int=1), Chain.ETHEREUM),
    (UUID(int=2), Chain.SOLANA),
    (UUID(int=3), Chain.ETHEREUM),
]
TOKENS = ["native", "0xtoken", "mint"]


@dataclass(frozen=True)
class Sample:
    wallet: int
    token: int
    at: datetime
    value: Decimal | None


samples_st = st.lists(
    st.builds(
        Sample,
        st.integers(0, len(WALLETS) - 1),
        st.integers(0, len(TOKENS) - 1),
        # whole minutes, so exact bucket boundaries come up often, and a few odd seconds
        st.one_of(
            st.integers(-120, 600).map(lambda m: BASE + timedelta(minutes=m)),
            st.integers(-7200, 36000).map(lambda s: BASE + timedelta(seconds=s, microseconds=7)),
        ),
        st.one_of(
            st.none(),
            st.decimals(min_value=0, max_value=10**9, places=18, allow_nan=False),
        ),
    ),
    max_size=25,
)


def reference(samples: Sequence[Sample], window: Window) -> list[HistoryPoint]:
    """The definition, literally: at each bucket's end, the last value of each (wallet, token)
    recorded at or before it (the later insert wins a tie), summed by chain."""
    points = []
    for start in window.buckets():
        end = start + window.step
        last: dict[tuple[int, int], Sample] = {}
        for sample in samples:  # in insertion order
            if sample.at <= end:
                known = last.get((sample.wallet, sample.token))
                if known is None or sample.at >= known.at:
                    last[(sample.wallet, sample.token)] = sample
        by_chain: dict[Chain, Decimal] = {}
        for sample in last.values():
            chain = WALLETS[sample.wallet][1]
            by_chain[chain] = by_chain.get(chain, Decimal(0)) + (sample.value or Decimal(0))
        points.append(HistoryPoint(start, sum(by_chain.values(), Decimal(0)), by_chain))
    return points


async def store(engine: AsyncEngine, samples: Sequence[Sample]) -> None:
    async with session_factory(engine).begin() as session:
        await session.execute(delete(WalletRow))
        await session.execute(
            insert(WalletRow),
            [
                {"id": wid, "chain": chain.value, "address": str(wid), "label": None,
                 "created_at": BASE, "updated_at": BASE}
                for wid, chain in WALLETS
            ],
        )  # fmt: skip
        rows = [
            {"wallet_id": WALLETS[s.wallet][0], "token_key": TOKENS[s.token], "symbol": None,
             "decimals": 18, "raw_balance": 1, "usd_price": None, "usd_value": s.value,
             "recorded_at": s.at}
            for s in samples
        ]  # fmt: skip
        await write_history(session, rows, engine.dialect.name)


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamed exports read in pages of 3 samples (SQLite) or 4 buckets (PostgreSQL)."""
    monkeypatch.setattr(history_module, "STREAM_ROWS", 3)
    monkeypatch.setattr(history_module, "STREAM_BUCKETS", 4)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    samples=samples_st,
    start_minutes=st.integers(-3000, 300),
    length_minutes=st.integers(1, 4000),
    interval=st.sampled_from(list(Interval)),
)
async def test_both_databases_match_the_definition(
    small_pages: None,
    sqlite_engine: AsyncEngine,
    postgres_engine: AsyncEngine,
    samples: list[Sample],
    start_minutes: int,
    length_minutes: int,
    interval: Interval,
) -> None:
    start = BASE + timedelta(minutes=start_minutes)
    window = Window.of(start, start + timedelta(minutes=length_minutes), interval)
    expected = reference(samples, window)
    # The domain's carry-forward (what SQLite runs) is the definition...
    in_order = sorted(enumerate(samples), key=lambda item: (item[1].at, item[0]))
    walked = history_points(
        window,
        [HistorySample(s.wallet, TOKENS[s.token], WALLETS[s.wallet][1], s.at, s.value)
         for _, s in in_order],
    )  # fmt: skip
    assert walked == expected
    # ...and the PostgreSQL query over marks gives the same.
    for engine in (sqlite_engine, postgres_engine):
        await store(engine, samples)
        history = SqlHistoryRepository(session_factory(engine), engine.dialect.name)
        got = await history.portfolio_history(DEFAULT_TENANT, window)
        assert [p.timestamp for p in got] == [p.timestamp for p in expected]
        assert [p.total for p in got] == [p.total for p in expected], engine.dialect.name
        assert [p.by_chain for p in got] == [p.by_chain for p in expected]
        # The streamed export, read in small pages (each its own transaction), is the same.
        streamed = [p async for p in history.stream_history(DEFAULT_TENANT, window)]
        assert streamed == got, engine.dialect.name


async def test_several_samples_in_one_bucket_count_once_and_gaps_carry_forward(
    db_engine: AsyncEngine,
) -> None:
    samples = [
        Sample(0, 0, BASE + timedelta(minutes=1), Decimal(100)),
        Sample(0, 0, BASE + timedelta(minutes=2), Decimal(110)),  # same bucket: replaces 100
        Sample(0, 0, BASE + timedelta(minutes=4), Decimal(120)),  # the last of the bucket
        Sample(1, 0, BASE + timedelta(minutes=20), Decimal(5)),  # another chain, later
    ]
    await store(db_engine, samples)
    window = Window.of(BASE, BASE + timedelta(minutes=30), Interval.FIVE_MINUTES)
    history = SqlHistoryRepository(session_factory(db_engine), db_engine.dialect.name)
    points = await history.portfolio_history(DEFAULT_TENANT, window)
    assert [p.total for p in points] == [120, 120, 120, 125, 125, 125]
    assert points[0].by_chain == {Chain.ETHEREUM: Decimal(120)}
    assert points[3].by_chain == {Chain.ETHEREUM: Decimal(120), Chain.SOLANA: Decimal(5)}
    assert [p.timestamp for p in points] == [BASE + timedelta(minutes=5 * i) for i in range(6)]


def test_a_window_is_aligned_and_bounded() -> None:
    window = Window.of(
        BASE + timedelta(minutes=7), BASE + timedelta(minutes=20), Interval.FIVE_MINUTES
    )
    assert window.buckets() == [BASE + timedelta(minutes=m) for m in (5, 10, 15)]
    with pytest.raises(InvalidWindowError, match="before end"):
        Window.of(BASE, BASE, Interval.HOUR)
    with pytest.raises(InvalidWindowError, match="At most"):
        Window.of(BASE, BASE + timedelta(days=400), Interval.FIVE_MINUTES)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)),
        (datetime(9999, 12, 31, 23, 0, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC)),
    ],
)
def test_an_absurd_window_is_refused_at_once(start: datetime, end: datetime) -> None:
    with pytest.raises(InvalidWindowError):
        Window.of(start, end, Interval.FIVE_MINUTES if start.year == 1 else Interval.DAY)


async def test_the_bulk_marking_statement_places_samples_as_the_domain_does(
    postgres_engine: AsyncEngine,
) -> None:
    """POSTGRES_MARK_ALL (bulk loads) says bucket_holding in SQL: the marks it makes from
    stored samples are the marks written one sample at a time."""
    at = [BASE + timedelta(minutes=m, seconds=s) for m in (0, 5, 59, 60, 1440) for s in (0, 1)]
    samples = [Sample(i % 3, i % 2, moment, Decimal(i)) for i, moment in enumerate(at)]
    await store(postgres_engine, samples)
    async with postgres_engine.begin() as connection:
        written = (await connection.execute(select(HistoryMarkRow))).all()
        await connection.execute(delete(HistoryMarkRow))
        await connection.run_sync(mark_postgres_history)
        bulk = (await connection.execute(select(HistoryMarkRow))).all()
    assert sorted(map(tuple, bulk), key=str) == sorted(map(tuple, written), key=str)
    for row in written:
        assert row.bucket == bucket_holding(row.recorded_at, timedelta(seconds=row.step_seconds))


def reference_at(samples: Sequence[Sample], moment: datetime) -> dict[tuple[int, int], Sample]:
    """The definition, literally: each (wallet, token)'s last sample at or before the moment
    (the later insert wins a tie)."""
    last: dict[tuple[int, int], Sample] = {}
    for sample in samples:  # in insertion order
        known = last.get((sample.wallet, sample.token))
        if sample.at <= moment and (known is None or sample.at >= known.at):
            last[(sample.wallet, sample.token)] = sample
    return last


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    samples=samples_st,
    moment_minutes=st.integers(-200, 700),
    interval=st.sampled_from(list(Interval)),
)
async def test_balances_at_a_moment_match_the_definition_and_history(
    sqlite_engine: AsyncEngine,
    postgres_engine: AsyncEngine,
    samples: list[Sample],
    moment_minutes: int,
    interval: Interval,
) -> None:
    """What was held at a moment is each (wallet, token)'s last sample then, with the time it
    was recorded; at a bucket's end its totals are that history point's."""
    moment = floor_time(BASE + timedelta(minutes=moment_minutes), interval.step)
    expected = reference_at(samples, moment)
    window = Window.of(moment - interval.step, moment, interval)  # one bucket, ending there
    (point,) = reference(samples, window)
    for engine in (sqlite_engine, postgres_engine):
        await store(engine, samples)
        history = SqlHistoryRepository(session_factory(engine), engine.dialect.name)
        held = await history.held_at(DEFAULT_TENANT, moment)
        got = {(item.wallet_id, item.token_key): item for item in held}
        assert set(got) == {(WALLETS[w][0], TOKENS[t]) for w, t in expected}, engine.dialect.name
        for (w, t), sample in expected.items():
            item = got[(WALLETS[w][0], TOKENS[t])]
            assert (item.usd_value, item.recorded_at) == (sample.value, sample.at)
            assert item.chain == WALLETS[w][1]
        total, by_chain = totals_at(held)
        assert total == point.total
        assert by_chain == point.by_chain
        one_wallet = await history.held_at(DEFAULT_TENANT, moment, WALLETS[0][0])
        assert {i.token_key for i in one_wallet} == {TOKENS[t] for w, t in expected if w == 0}


def _rows_read(plan: object) -> int:
    """Rows every node of an EXPLAIN ANALYZE plan produced, summed over its loops."""
    if isinstance(plan, list):
        return sum(_rows_read(p) for p in plan)
    if not isinstance(plan, dict):
        return 0
    own = int(plan.get("Actual Rows", 0)) * int(plan.get("Actual Loops", 1))
    return own + sum(_rows_read(p) for p in plan.get("Plans", [])) + _rows_read(plan.get("Plan"))


async def test_history_and_holdings_read_the_tenants_rows_not_everyones(
    postgres_engine: AsyncEngine,
) -> None:
    """Another tenant's 12,000 samples are not read for a tenant's history or balances at a
    moment (PostgreSQL plans, counted): the history filters by tenant before it sorts marks,
    and the balances at a moment take each token's last sample by the index, not a ranking of
    the whole history."""
    busy = UUID(int=7)
    async with session_factory(postgres_engine).begin() as session:
        await session.execute(insert(WalletRow), [
            {"id": busy, "tenant": "busy", "chain": "ethereum", "address": "busy", "label": None,
             "created_at": BASE, "updated_at": BASE},
            {"id": UUID(int=8), "tenant": "quiet", "chain": "ethereum", "address": "quiet",
             "label": None, "created_at": BASE, "updated_at": BASE},
        ])  # fmt: skip
        rows = [
            {"wallet_id": busy, "token_key": token, "symbol": None, "decimals": 18,
             "raw_balance": 1, "usd_price": None, "usd_value": Decimal(n),
             "recorded_at": BASE + timedelta(minutes=n)}
            for n in range(6_000) for token in ("native", "0xtoken")
        ]  # fmt: skip
        await write_history(session, rows, "postgresql")
    window = Window.of(BASE, BASE + timedelta(days=5), Interval.HOUR)
    moment = BASE + timedelta(days=3)

    async def explained(statement: Any, parameters: dict[str, Any]) -> int:
        async with postgres_engine.connect() as connection:
            await connection.exec_driver_sql("ANALYZE")
            compiled = statement.params(**parameters).compile(dialect=connection.dialect)
            values = tuple(compiled.params[name] for name in compiled.positiontup or ())
            answer = await connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}", values
            )
            plan: Any = answer.scalar()
        return _rows_read(plan if isinstance(plan, list) else json.loads(str(plan)))

    quiet_history = await explained(POSTGRES_HISTORY, _postgres_parameters("quiet", window))
    assert quiet_history < 100, quiet_history
    quiet_at = await explained(_held_at_query("quiet", moment, None, lateral=True), {})
    assert quiet_at < 100, quiet_at
    busy_at = await explained(_held_at_query("busy", moment, None, lateral=True), {})
    assert busy_at < 200, busy_at  # two tokens: a few index steps, not 12,000 rows ranked
    repository = SqlHistoryRepository(session_factory(postgres_engine), "postgresql")
    held = await repository.held_at("busy", moment)
    assert {(h.token_key, h.usd_value) for h in held} == {
        ("native", Decimal(4320)),
        ("0xtoken", Decimal(4320)),
    }


async def test_a_slowly_read_export_holds_no_connection_between_pages(
    small_pages: None, db_engine: AsyncEngine
) -> None:
    """One connection in the pool: while an export waits on its reader between pages, the
    service's other queries get the connection (a streamed export held it to the end)."""
    samples = [Sample(n % 3, n % 2, BASE + timedelta(minutes=n), Decimal(n)) for n in range(40)]
    await store(db_engine, samples)
    url = db_engine.url.render_as_string(hide_password=False)
    engine = create_engine(url, pool_size=1, max_overflow=0, connect_timeout=1)
    try:
        history = SqlHistoryRepository(session_factory(engine), engine.dialect.name)
        window = Window.of(BASE, BASE + timedelta(hours=1), Interval.FIVE_MINUTES)
        export = history.stream_history(DEFAULT_TENANT, window)
        first = await anext(export)  # the reader takes one point, then dawdles
        async with asyncio.timeout(5):
            assert await history.chains_of(DEFAULT_TENANT) == [Chain.ETHEREUM, Chain.SOLANA]
        rest = [point async for point in export]
        assert [first, *rest] == await history.portfolio_history(DEFAULT_TENANT, window)
    finally:
        await engine.dispose()
