"""Performance read from the changes and price series on PostgreSQL and SQLite, held to a
plain-Python reference built on the history's definition of a value at a moment."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db import performance as performance_adapter
from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.history import SEAL_GRACE
from portfolio.adapters.db.performance import SqlPerformanceReader
from portfolio.domain.chains import Chain
from portfolio.domain.history import Interval, Window, floor_time
from portfolio.domain.performance import RATIO_CONTEXT, Recorded, Tracked
from portfolio.domain.prices import VALUE_CONTEXT
from portfolio.domain.wallet import DEFAULT_TENANT
from tests.fakes import FakeClock
from tests.integration.test_history import (
    BASE,
    TOKENS,
    WALLETS,
    Held,
    Priced,
    _amount,
    held_st,
    priced_st,
    reference_at,
    store,
)
from tests.ledger import Amount, record_amounts
from tests.unit.test_performance_math import assert_close

Token = tuple[Chain, str]


def state_at(
    held: list[Held], prices: list[Priced], moment: datetime
) -> tuple[dict[Token, Decimal], dict[Token, Decimal]]:
    """Each token's amount over the wallets at the moment, and its price then (if any)."""
    amounts: dict[Token, Decimal] = {}
    usd: dict[Token, Decimal] = {}
    with localcontext(VALUE_CONTEXT):
        for (wallet, token), (change, price) in reference_at(held, prices, moment).items():
            key = (WALLETS[wallet][1], TOKENS[token][0])
            amounts[key] = amounts.get(key, Decimal(0)) + _amount(change.raw, token)
            if price is not None:
                usd[key] = price
    return amounts, usd


class Reference(NamedTuple):
    start: datetime
    values: list[Decimal]
    flows: list[Decimal]
    returns: list[Decimal]


def reference(held: list[Held], prices: list[Priced], window: Window) -> Reference:
    """The portfolio's figures, bucket by bucket, as the README states them."""
    boundaries = [window.start + k * window.step for k in range(window.count + 1)]
    states = [state_at(held, prices, b) for b in boundaries]
    first = next((k for k, (amounts, _) in enumerate(states) if amounts), len(states) - 1)
    values, flows, level, returns = [], [], Decimal(1), []
    with localcontext(VALUE_CONTEXT):
        for k in range(first, len(states)):
            amounts, usd = states[k]
            values.append(sum((a * usd.get(t, 0) for t, a in amounts.items()), Decimal(0)))
            if k == first:
                continue
            before, before_usd = states[k - 1]
            flow = Decimal(0)
            for token, amount in amounts.items():
                if token not in usd:
                    continue
                entered = before.get(token, Decimal(0)) if token not in before_usd else 0
                flow += (amount - before.get(token, Decimal(0)) + entered) * usd[token]
            flows.append(flow)
            if values[-2]:
                with localcontext(RATIO_CONTEXT):
                    level *= (values[-1] - flow) / values[-2]
            returns.append(level - 1)
    return Reference(boundaries[first], values, flows, returns)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    held=held_st,
    prices=priced_st,
    start_minutes=st.integers(-600, 300),
    buckets=st.integers(1, 40),
    interval=st.sampled_from([Interval.FIVE_MINUTES, Interval.HOUR]),
)
async def test_both_databases_match_the_reference(
    sqlite_engine: AsyncEngine,
    postgres_engine: AsyncEngine,
    held: list[Held],
    prices: list[Priced],
    start_minutes: int,
    buckets: int,
    interval: Interval,
) -> None:
    start = BASE + timedelta(minutes=start_minutes)
    window = Window.of(start, start + buckets * interval.step, interval)
    expected = reference(held, prices, window)
    for engine in (sqlite_engine, postgres_engine):
        await store(engine, held, prices)
        reader = SqlPerformanceReader(session_factory(engine), engine.dialect.name)
        result = (await reader.recorded(DEFAULT_TENANT, window)).performance()
        total = result.total
        assert result.start == expected.start, engine.dialect.name
        assert total.values == expected.values, engine.dialect.name
        with localcontext(VALUE_CONTEXT):  # exact, as the figures are
            net = [
                total.inflows.get(k, Decimal(0)) - total.outflows.get(k, Decimal(0))
                for k in range(1, len(total.values))
            ]
            assert net == expected.flows
            assert total.market_effect + total.flow_effect == total.change
        for got, wanted in zip(total.returns[1:], expected.returns, strict=True):
            # (the index is kept at 40 significant digits)
            assert abs(got - wanted) <= (abs(wanted) + 1) * Decimal("1e-35")
        # One wallet alone: its figures are the by-wallet ones of the whole.
        wallet = WALLETS[0][0]
        alone = (await reader.recorded(DEFAULT_TENANT, window, wallet)).performance()
        if wallet in result.by_wallet and result.start == alone.start:
            assert alone.total.figures() == result.by_wallet[wallet]
        # One chain alone: its values are the by-chain ones of the whole.
        solana = (await reader.recorded(DEFAULT_TENANT, window, chain=Chain.SOLANA)).performance()
        if Chain.SOLANA in result.by_chain and result.start == solana.start:
            assert solana.total.values == result.by_chain[Chain.SOLANA].values


# Moments over two weeks, whole days and hours coming up often.
days_st = st.one_of(
    st.integers(-2 * 24, 14 * 24).map(lambda h: BASE + timedelta(hours=h)),
    st.integers(-2 * 1440, 14 * 1440).map(lambda m: BASE + timedelta(minutes=m, seconds=3)),
)
daily_held_st = st.lists(
    st.builds(
        Held,
        st.integers(0, len(WALLETS) - 1),
        st.integers(0, len(TOKENS) - 1),
        days_st,
        st.one_of(st.just(0), st.integers(1, 10**6), st.integers(1, 2**256 - 1)),
    ),
    max_size=16,
)
daily_priced_st = st.lists(
    st.builds(
        Priced,
        st.sampled_from([Chain.ETHEREUM, Chain.SOLANA]),
        st.integers(0, len(TOKENS) - 1),
        days_st,
        st.decimals(min_value=0, max_value=10**6, places=18, allow_nan=False),
    ),
    max_size=16,
)


@pytest.fixture
def short_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows (and kept chunks) of 5 boundaries, so two weeks span several."""
    monkeypatch.setattr(performance_adapter, "SPAN_POINTS", 5)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    held=daily_held_st,
    prices=daily_priced_st,
    first=st.integers(-3, 12),
    days=st.integers(1, 12),
    now_hours=st.integers(0, 16 * 24),
    chain=st.sampled_from([None, Chain.ETHEREUM, Chain.SOLANA]),
)
async def test_kept_tracks_give_what_the_records_give(
    sqlite_engine: AsyncEngine,
    postgres_engine: AsyncEngine,
    short_rows: None,
    held: list[Held],
    prices: list[Priced],
    first: int,
    days: int,
    now_hours: int,
    chain: Chain | None,
) -> None:
    """A daily window read from the kept tracks (and the buckets after their cursor computed
    from the positions there) is exactly the window computed from the records, whole or of
    one chain, wherever the present falls; and so is it after a late change."""
    start = BASE + timedelta(days=first)
    window = Window.of(start, start + timedelta(days=days), Interval.DAY)
    now = BASE - timedelta(days=2) + timedelta(hours=now_hours)
    for engine in (sqlite_engine, postgres_engine):
        await store(engine, held, prices)
        name = engine.dialect.name
        kept = SqlPerformanceReader(session_factory(engine), name, FakeClock(now))
        plain = SqlPerformanceReader(session_factory(engine), name)
        tracked = await kept.recorded(DEFAULT_TENANT, window, chain=chain, scaled=True)
        recorded = await plain.recorded(DEFAULT_TENANT, window, chain=chain)
        assert isinstance(recorded, Recorded)
        if window.start <= floor_time(now - SEAL_GRACE, window.step):
            assert isinstance(tracked, Tracked), name  # the cursor reached the start
        expected = recorded.performance()
        assert tracked.performance() == expected, name
        assert tracked.wallets == recorded.wallets
        # The wallets' figures read from their indexes: the same.
        indexed = (await kept.recorded(DEFAULT_TENANT, window, chain=chain)).performance()
        assert (indexed.total, indexed.by_token, indexed.unpriced) == (
            expected.total, expected.by_token, expected.unpriced
        )  # fmt: skip
        assert indexed.by_wallet.keys() == expected.by_wallet.keys()
        for wallet, figures in indexed.by_wallet.items():
            assert_close(figures, expected.by_wallet[wallet])
        # Read again (what was read of the kept tracks held by the reader): the same.
        repeated = (await kept.recorded(DEFAULT_TENANT, window, chain=chain)).performance()
        assert repeated == indexed, name
        # A change written late (before the cursor) drops it: read again, still the same,
        # whether every bucket is read or the reader holds the wallets' indexes as read before.
        late = Amount(WALLETS[0][0], TOKENS[1][0], start + timedelta(hours=5), 12345, TOKENS[1][1])
        await record_amounts(engine, [late])
        expected = (await plain.recorded(DEFAULT_TENANT, window, chain=chain)).performance()
        again = await kept.recorded(DEFAULT_TENANT, window, chain=chain, scaled=True)
        assert again.performance() == expected, name
        reread = (await kept.recorded(DEFAULT_TENANT, window, chain=chain)).performance()
        assert (reread.total, reread.by_token) == (expected.total, expected.by_token), name
        assert reread.by_wallet.keys() == expected.by_wallet.keys()
        for wallet, figures in reread.by_wallet.items():
            assert_close(figures, expected.by_wallet[wallet])
