"""Portfolio history from balance changes and price series, on PostgreSQL and SQLite, each held
to a plain-Python reference of the definition on random changes and prices: whether a point
comes from the kept points, the walk after the cursor, or a walk of the changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db import history as history_module
from portfolio.adapters.db.balances import SqlBalanceRepository
from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.history import Retention, SqlHistoryRepository, _held_at_query
from portfolio.adapters.db.models import (
    BalanceChangeRow,
    HistoryCursorRow,
    HistorySpanRow,
    PerformanceCellRow,
    PerformanceCursorRow,
    PerformanceTrackRow,
    PricePointRow,
    WalletRow,
)
from portfolio.adapters.db.wallets import SqlWalletRepository
from portfolio.api.csvout import history_rows
from portfolio.domain.chains import Chain
from portfolio.domain.history import (
    HistoryPoint,
    Interval,
    InvalidWindowError,
    Window,
    floor_time,
    totals_at,
)
from portfolio.domain.prices import VALUE_CONTEXT, round_usd
from portfolio.domain.tokens import Token, TokenBalance, WalletReading
from portfolio.domain.wallet import DEFAULT_TENANT
from portfolio.services.history import HistoryService
from tests.fakes import FakeClock
from tests.ledger import Amount, price, record_amounts, record_prices

BASE = datetime(2026, 3, 1, tzinfo=UTC)
WALLETS = [
    (UUID(int=1), Chain.ETHEREUM),
    (UUID(int=2), Chain.SOLANA),
    (UUID(int=3), Chain.ETHEREUM),
]
TOKENS = [("native", 18), ("0xtoken", 6), ("mint", 0)]


@dataclass(frozen=True)
class Held:
    wallet: int
    token: int
    at: datetime
    raw: int


@dataclass(frozen=True)
class Priced:
    chain: Chain
    token: int
    at: datetime
    usd: Decimal


moments = st.one_of(
    # whole minutes, so exact bucket boundaries come up often, and a few odd seconds
    st.integers(-120, 600).map(lambda m: BASE + timedelta(minutes=m)),
    st.integers(-7200, 36000).map(lambda s: BASE + timedelta(seconds=s, microseconds=7)),
)
held_st = st.lists(
    st.builds(
        Held,
        st.integers(0, len(WALLETS) - 1),
        st.integers(0, len(TOKENS) - 1),
        moments,
        st.one_of(st.just(0), st.integers(1, 10**6), st.integers(1, 2**256 - 1)),
    ),
    max_size=20,
)
priced_st = st.lists(
    st.builds(
        Priced,
        st.sampled_from([Chain.ETHEREUM, Chain.SOLANA]),
        st.integers(0, len(TOKENS) - 1),
        moments,
        st.decimals(min_value=0, max_value=10**6, places=18, allow_nan=False),
    ),
    max_size=20,
)


def ordered(held: Sequence[Held]) -> list[Held]:
    """Amounts in time order (a wallet's reads are recorded in time order), the order given
    kept among equal times."""
    return sorted(held, key=lambda h: h.at)


def changes_of(held: Sequence[Held]) -> list[Held]:
    """The amounts a read records: those that differ from the last one of their (wallet,
    token), a first 0 being none."""
    last: dict[tuple[int, int], int] = {}
    found = []
    for h in ordered(held):
        if h.raw != last.get((h.wallet, h.token), 0):
            found.append(h)
        last[(h.wallet, h.token)] = h.raw
    return found


def reference_at(
    held: Sequence[Held], prices: Sequence[Priced], moment: datetime
) -> dict[tuple[int, int], tuple[Held, Decimal | None]]:
    """The definition, literally: each (wallet, token)'s last change at or before the moment
    (a later write wins a tie), with the token's last price at or before it (likewise)."""
    last: dict[tuple[int, int], Held] = {}
    for change in changes_of(held):
        if change.at <= moment:
            last[(change.wallet, change.token)] = change
    found = {}
    for (wallet, token), change in last.items():
        chain = WALLETS[wallet][1]
        seen = [p for p in prices if (p.chain, p.token) == (chain, token) and p.at <= moment]
        usd = max(enumerate(seen), key=lambda s: (s[1].at, s[0]))[1].usd if seen else None
        found[(wallet, token)] = (change, usd)
    return found


def reference(held: Sequence[Held], prices: Sequence[Priced], window: Window) -> list[HistoryPoint]:
    points = []
    for start in window.buckets():
        by_chain: dict[Chain, Decimal] = {}
        with localcontext(VALUE_CONTEXT):
            for (wallet, token), (change, usd) in reference_at(
                held, prices, start + window.step
            ).items():
                chain = WALLETS[wallet][1]
                value = Decimal(0) if usd is None else _amount(change.raw, token) * usd
                by_chain[chain] = by_chain.get(chain, Decimal(0)) + value
            points.append(HistoryPoint(start, sum(by_chain.values(), Decimal(0)), by_chain))
    return points


def _cents(value: Decimal) -> str:
    return str(round_usd(value))


def _amount(raw: int, token: int) -> Decimal:
    with localcontext(VALUE_CONTEXT):
        return Decimal(raw).scaleb(-TOKENS[token][1])


async def store(engine: AsyncEngine, held: Sequence[Held], prices: Sequence[Priced]) -> None:
    async with session_factory(engine).begin() as session:
        for table in (HistorySpanRow, HistoryCursorRow, PerformanceTrackRow, PerformanceCellRow,
                      PerformanceCursorRow, PricePointRow, WalletRow):  # fmt: skip
            await session.execute(delete(table))
        await session.execute(
            insert(WalletRow),
            [
                {"id": wid, "chain": chain.value, "address": str(wid), "label": None,
                 "created_at": BASE, "updated_at": BASE}
                for wid, chain in WALLETS
            ],
        )  # fmt: skip
    await record_amounts(
        engine,
        [Amount(WALLETS[h.wallet][0], TOKENS[h.token][0], h.at, h.raw, TOKENS[h.token][1])
         for h in ordered(held)],
    )  # fmt: skip
    for p in prices:  # one cycle each, in the order given
        await record_prices(engine, [price(p.chain, TOKENS[p.token][0], p.at, p.usd)])


def repository(
    engine: AsyncEngine, now: datetime, retention: Retention | None = None
) -> SqlHistoryRepository:
    return SqlHistoryRepository(
        session_factory(engine), engine.dialect.name, FakeClock(now), retention=retention
    )


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamed exports read in pages of 4 buckets, points computed a chunk of 7 at a time and
    kept 5 of a step in a row (so a chunk, and a window, cross rows of every step)."""
    monkeypatch.setattr(history_module, "STREAM_BUCKETS", 4)
    monkeypatch.setattr(history_module, "SEAL_CHUNK", 7)
    monkeypatch.setattr(history_module, "SPAN_POINTS", 5)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    held=held_st,
    prices=priced_st,
    start_minutes=st.integers(-3000, 300),
    length_minutes=st.integers(1, 4000),
    interval=st.sampled_from(list(Interval)),
    now_minutes=st.integers(-200, 3000),
    five_minutes_kept=st.integers(1, 3000),
)
async def test_both_databases_match_the_definition(
    small_pages: None,
    sqlite_engine: AsyncEngine,
    postgres_engine: AsyncEngine,
    held: list[Held],
    prices: list[Priced],
    start_minutes: int,
    length_minutes: int,
    interval: Interval,
    now_minutes: int,
    five_minutes_kept: int,
) -> None:
    """Whatever the present (so whatever part of the window has kept points) and whatever
    the retention of 5-minute points (so whether the window is walked instead), the points are
    the definition's."""
    start = BASE + timedelta(minutes=start_minutes)
    window = Window.of(start, start + timedelta(minutes=length_minutes), interval)
    expected = reference(held, prices, window)
    now = BASE + timedelta(minutes=now_minutes)
    retention = Retention(timedelta(minutes=five_minutes_kept), timedelta(days=1))
    for engine in (sqlite_engine, postgres_engine):
        await store(engine, held, prices)
        history = repository(engine, now, retention)
        got = await history.portfolio_history(DEFAULT_TENANT, window)
        assert [p.timestamp for p in got] == [p.timestamp for p in expected]
        assert [p.total for p in got] == [p.total for p in expected], engine.dialect.name
        assert [p.by_chain for p in got] == [p.by_chain for p in expected]
        # Asked again (the points now kept), and streamed in small pages (each its own
        # transaction): the same.
        assert await history.portfolio_history(DEFAULT_TENANT, window) == got
        streamed = [p async for p in history.stream_history(DEFAULT_TENANT, window)]
        assert streamed == got, engine.dialect.name
        # The CSV export's rows are the definition's, rounded once to the cent.
        chains = [Chain.ETHEREUM, Chain.SOLANA]
        rows = [r async for r in history_rows(history.stream_history(DEFAULT_TENANT, window),
                                               chains)]  # fmt: skip
        assert [row[1:] for row in rows] == [
            [_cents(p.total), *(_cents(p.by_chain.get(c, Decimal(0))) for c in chains)]
            for p in expected
        ]


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    held=held_st,
    prices=priced_st,
    moment_minutes=st.integers(-200, 700),
    interval=st.sampled_from(list(Interval)),
)
async def test_balances_at_a_moment_match_the_definition_and_history(
    sqlite_engine: AsyncEngine,
    postgres_engine: AsyncEngine,
    held: list[Held],
    prices: list[Priced],
    moment_minutes: int,
    interval: Interval,
) -> None:
    """What was held at a moment is each (wallet, token)'s last amount then, with the time it
    was recorded and its value at the token's price then; at a bucket's end its totals are
    that history point's."""
    moment = floor_time(BASE + timedelta(minutes=moment_minutes), interval.step)
    expected = reference_at(held, prices, moment)
    window = Window.of(moment - interval.step, moment, interval)  # one bucket, ending there
    (point,) = reference(held, prices, window)
    for engine in (sqlite_engine, postgres_engine):
        await store(engine, held, prices)
        history = repository(engine, BASE + timedelta(days=1))
        found = await history.held_at(DEFAULT_TENANT, moment)
        got = {(item.wallet_id, item.token_key): item for item in found}
        wanted = {(WALLETS[w][0], TOKENS[t][0]): v for (w, t), v in expected.items()}
        assert set(got) == set(wanted), engine.dialect.name
        for key, (change, usd) in wanted.items():
            item = got[key]
            with localcontext(VALUE_CONTEXT):
                value = None if usd is None else _amount(change.raw, change.token) * usd
            assert (item.raw, item.usd_price, item.usd_value) == (change.raw, usd, value)
            assert item.recorded_at == change.at
        total, by_chain = totals_at(found)
        assert total == point.total
        assert {c: v for c, v in by_chain.items()} == point.by_chain
        one_wallet = await history.held_at(DEFAULT_TENANT, moment, WALLETS[0][0])
        assert {i.token_key for i in one_wallet} == {TOKENS[t][0] for w, t in expected if w == 0}


async def test_several_prices_in_one_bucket_count_once_and_gaps_carry_forward(
    db_engine: AsyncEngine,
) -> None:
    held = [Held(0, 0, BASE + timedelta(minutes=1), 10**18), Held(1, 0, BASE, 5 * 10**18)]
    prices = [
        Priced(Chain.ETHEREUM, 0, BASE + timedelta(minutes=1), Decimal(100)),
        Priced(Chain.ETHEREUM, 0, BASE + timedelta(minutes=2), Decimal(110)),  # replaced
        Priced(Chain.ETHEREUM, 0, BASE + timedelta(minutes=4), Decimal(120)),  # the last one
        Priced(Chain.SOLANA, 0, BASE + timedelta(minutes=20), Decimal(1)),  # later, elsewhere
    ]
    await store(db_engine, held, prices)
    window = Window.of(BASE, BASE + timedelta(minutes=30), Interval.FIVE_MINUTES)
    points = await repository(db_engine, BASE).portfolio_history(DEFAULT_TENANT, window)
    assert [p.total for p in points] == [120, 120, 120, 125, 125, 125]
    # Solana's wallet held SOL from the start, unpriced (0) until its first price.
    assert points[0].by_chain == {Chain.ETHEREUM: Decimal(120), Chain.SOLANA: Decimal(0)}
    assert points[3].by_chain == {Chain.ETHEREUM: Decimal(120), Chain.SOLANA: Decimal(5)}
    assert [p.timestamp for p in points] == [BASE + timedelta(minutes=5 * i) for i in range(6)]


async def test_a_late_write_and_a_deleted_wallet_are_in_the_next_answer(
    db_engine: AsyncEngine,
) -> None:
    """Kept points are computed again when a change is written before the cursor (a write
    that took long to commit) or when a wallet and its changes go."""
    held = [Held(0, 0, BASE, 10**18), Held(1, 0, BASE, 10**18)]
    prices = [
        Priced(Chain.ETHEREUM, 0, BASE, Decimal(2)),
        Priced(Chain.SOLANA, 0, BASE, Decimal(3)),
    ]
    await store(db_engine, held, prices)
    history = repository(db_engine, BASE + timedelta(days=2))
    window = Window.of(BASE, BASE + timedelta(days=1), Interval.HOUR)
    before = await history.portfolio_history(DEFAULT_TENANT, window)
    assert {p.total for p in before} == {Decimal(5)}
    await record_amounts(
        db_engine, [Amount(WALLETS[0][0], "native", BASE + timedelta(hours=5), 3 * 10**18, 18)]
    )
    after = await history.portfolio_history(DEFAULT_TENANT, window)
    assert [p.total for p in after] == [Decimal(5)] * 4 + [Decimal(9)] * 20
    wallets = SqlWalletRepository(session_factory(db_engine))
    assert await wallets.delete(WALLETS[1][0], DEFAULT_TENANT)
    gone = await history.portfolio_history(DEFAULT_TENANT, window)
    assert [p.total for p in gone] == [Decimal(2)] * 4 + [Decimal(6)] * 20
    assert all(Chain.SOLANA not in p.by_chain for p in gone)


async def test_retention_drops_only_what_no_kept_point_needs(db_engine: AsyncEngine) -> None:
    """Three days of 5-minute prices and hourly changes, 5-minute points kept a day and
    hourly ones two: pruning in small batches leaves every window inside its kept range as
    it was, and drops the 5-minute and hourly rows past their limits."""
    now = BASE + timedelta(days=3)
    held = [Held(0, 0, BASE + timedelta(hours=h, minutes=1), 10**18 * (1 + h % 5))
            for h in range(72)]  # fmt: skip
    prices = [Priced(Chain.ETHEREUM, 0, BASE + timedelta(minutes=5 * n + 2), Decimal(1000 + n))
              for n in range(864)]  # fmt: skip
    await store(db_engine, held, prices)
    retention = Retention(timedelta(days=1), timedelta(days=2))
    history = repository(db_engine, now, retention)
    kept = [
        Window.of(now - timedelta(hours=23), now - timedelta(minutes=20), Interval.FIVE_MINUTES),
        Window.of(now - timedelta(hours=47), now - timedelta(hours=1), Interval.HOUR),
        Window.of(BASE, now, Interval.DAY),
    ]
    before = [await history.portfolio_history(DEFAULT_TENANT, w) for w in kept]
    rounds = 0
    while await history.prune(batch=50):
        rounds += 1
    assert rounds > 5  # bounded batches
    assert [await history.portfolio_history(DEFAULT_TENANT, w) for w in kept] == before
    async with session_factory(db_engine).begin() as session:  # computed again from what is left
        await session.execute(delete(HistoryCursorRow))
    assert [await history.portfolio_history(DEFAULT_TENANT, w) for w in kept] == before
    async with session_factory(db_engine)() as session:
        oldest = dict(
            (
                await session.execute(
                    select(PricePointRow.step_seconds, func.min(PricePointRow.bucket)).group_by(
                        PricePointRow.step_seconds
                    )
                )
            ).all()
        )
        spans = (await session.execute(select(HistorySpanRow.step, HistorySpanRow.start))).all()
    # The newest 5-minute and hourly price before each limit stays; none before it.
    assert now - timedelta(days=1, minutes=5) <= oldest[300] < now - timedelta(days=1)
    assert now - timedelta(days=2, hours=1) <= oldest[3600] < now - timedelta(days=2)
    assert oldest[86400] == BASE  # daily ones stay
    # A row of 5-minute points (a day) goes when all its points are past the limit; the rows
    # of hourly (12 days) and daily points reach past their limits.
    assert {start for step, start in spans if step == 300} == {
        BASE + timedelta(days=1),
        BASE + timedelta(days=2),
    }
    assert {step for step, _ in spans} == {300, 3600, 86400}


async def test_a_refresh_with_nothing_changed_writes_no_balance_rows(
    db_engine: AsyncEngine,
) -> None:
    """Counted at the database driver: the second read of the same balances writes the
    wallet's read time and nothing else."""
    wallet = WALLETS[0][0]
    async with session_factory(db_engine).begin() as session:
        await session.execute(
            insert(WalletRow),
            [{"id": wallet, "chain": "ethereum", "address": "w", "label": None,
              "created_at": BASE, "updated_at": BASE}],
        )  # fmt: skip
    tokens = [Token(Chain.ETHEREUM, None, "ETH", "Ether", 18, True)] + [
        Token(Chain.ETHEREUM, f"0x{n:040x}", f"T{n}", f"T{n}", 6, True) for n in range(1, 10)
    ]
    reading = WalletReading("w", [TokenBalance(t, 10**6 + n) for n, t in enumerate(tokens)], [])
    balances = SqlBalanceRepository(session_factory(db_engine), db_engine.dialect.name)
    await balances.record(wallet, reading, BASE)
    written: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE", "COPY"):
            written.append(statement.split("(")[0].strip())

    event.listen(db_engine.sync_engine, "before_cursor_execute", count)
    try:
        await balances.record(wallet, reading, BASE + timedelta(minutes=5))
    finally:
        event.remove(db_engine.sync_engine, "before_cursor_execute", count)
    assert [w.split()[:2] for w in written] == [["UPDATE", "wallets"]], written
    async with session_factory(db_engine)() as session:
        changes = await session.scalar(select(func.count()).select_from(BalanceChangeRow))
    assert changes == 10  # the first read's


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


def _rows_read(plan: object) -> int:
    """Rows every node of an EXPLAIN ANALYZE plan produced, summed over its loops."""
    if isinstance(plan, list):
        return sum(_rows_read(p) for p in plan)
    if not isinstance(plan, dict):
        return 0
    own = int(plan.get("Actual Rows", 0)) * int(plan.get("Actual Loops", 1))
    return own + sum(_rows_read(p) for p in plan.get("Plans", [])) + _rows_read(plan.get("Plan"))


async def test_holdings_at_a_moment_read_the_tenants_rows_not_everyones(
    postgres_engine: AsyncEngine,
) -> None:
    """Another tenant's 12,000 changes are not read for a tenant's balances at a moment
    (PostgreSQL plans, counted), and a tenant's own take each token's last change by the
    index, not a ranking of the whole history."""
    busy = UUID(int=7)
    async with session_factory(postgres_engine).begin() as session:
        await session.execute(insert(WalletRow), [
            {"id": busy, "tenant": "busy", "chain": "ethereum", "address": "busy", "label": None,
             "created_at": BASE, "updated_at": BASE},
            {"id": UUID(int=8), "tenant": "quiet", "chain": "ethereum", "address": "quiet",
             "label": None, "created_at": BASE, "updated_at": BASE},
        ])  # fmt: skip
    await record_amounts(
        postgres_engine,
        [Amount(busy, token, BASE + timedelta(minutes=n), n + 1)
         for n in range(6_000) for token in ("native", "0xtoken")],
    )  # fmt: skip
    await record_prices(
        postgres_engine, [price("ethereum", t, BASE, "2") for t in ("native", "0xtoken")]
    )
    moment = BASE + timedelta(days=3)

    async def explained(statement: Any) -> int:
        async with postgres_engine.connect() as connection:
            await connection.exec_driver_sql("ANALYZE")
            compiled = statement.compile(dialect=connection.dialect)
            values = tuple(compiled.params[name] for name in compiled.positiontup or ())
            answer = await connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}", values
            )
            plan: Any = answer.scalar()
        return _rows_read(plan if isinstance(plan, list) else json.loads(str(plan)))

    quiet_at = await explained(_held_at_query("quiet", moment, None, lateral=True))
    assert quiet_at < 100, quiet_at
    busy_at = await explained(_held_at_query("busy", moment, None, lateral=True))
    assert busy_at < 200, busy_at  # two tokens: a few index steps, not 12,000 rows ranked
    held = await repository(postgres_engine, moment).held_at("busy", moment)
    assert {(h.token_key, h.usd_value) for h in held} == {
        ("native", Decimal(8642)),
        ("0xtoken", Decimal(8642)),
    }


async def test_a_slowly_read_export_holds_no_connection_between_pages(
    small_pages: None, db_engine: AsyncEngine
) -> None:
    """One connection in the pool: while an export waits on its reader between pages, the
    service's other queries get the connection (a streamed export held it to the end)."""
    held = [Held(n % 3, n % 2, BASE + timedelta(minutes=n), n + 1) for n in range(40)]
    prices = [Priced(Chain.ETHEREUM, 0, BASE, Decimal(1))]
    await store(db_engine, held, prices)
    url = db_engine.url.render_as_string(hide_password=False)
    engine = create_engine(url, pool_size=1, max_overflow=0, connect_timeout=1)
    try:
        history = repository(engine, BASE)  # nothing kept: the window is walked
        window = Window.of(BASE, BASE + timedelta(hours=1), Interval.FIVE_MINUTES)
        export = history.stream_history(DEFAULT_TENANT, window)
        first = await anext(export)  # the reader takes one point, then dawdles
        async with asyncio.timeout(5):
            assert await history.chains_of(DEFAULT_TENANT) == [Chain.ETHEREUM, Chain.SOLANA]
        rest = [point async for point in export]
        assert [first, *rest] == await history.portfolio_history(DEFAULT_TENANT, window)
    finally:
        await engine.dispose()


async def test_the_cycles_upkeep_prunes_and_computes_the_points_of_tenants_who_did_not_ask(
    db_engine: AsyncEngine,
) -> None:
    now = BASE + timedelta(days=60)
    held = [Held(0, 0, BASE, 10**18)]
    prices = [Priced(Chain.ETHEREUM, 0, BASE + timedelta(minutes=5 * n), Decimal(n + 1))
              for n in range(30)]  # fmt: skip
    await store(db_engine, held, prices)
    history = repository(db_engine, now)
    await HistoryService(history, FakeClock(now)).upkeep()
    async with session_factory(db_engine)() as session:
        five_minutes = await session.scalar(
            select(func.count()).select_from(PricePointRow).where(PricePointRow.step_seconds == 300)
        )
        cursor = await session.get(HistoryCursorRow, DEFAULT_TENANT)
    assert five_minutes == 1  # the newest before the limit
    assert cursor is not None
    assert cursor.sealed_at == floor_time(now - timedelta(minutes=15), timedelta(minutes=5))
    day = Window.of(BASE, BASE + timedelta(days=2), Interval.DAY)
    assert [p.total for p in await history.portfolio_history(DEFAULT_TENANT, day)] == [
        Decimal(30),
        Decimal(30),
    ]
