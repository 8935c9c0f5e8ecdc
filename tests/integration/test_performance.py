"""Performance read from the changes and price series on PostgreSQL and SQLite, held to a
plain-Python reference built on the history's definition of a value at a moment."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from typing import NamedTuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.performance import SqlPerformanceReader
from portfolio.domain.chains import Chain
from portfolio.domain.history import Interval, Window
from portfolio.domain.performance import RATIO_CONTEXT
from portfolio.domain.prices import VALUE_CONTEXT
from portfolio.domain.wallet import DEFAULT_TENANT
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
            assert abs(got - wanted) < Decimal("1e-30")
        # One wallet alone: its figures are the by-wallet ones of the whole.
        wallet = WALLETS[0][0]
        alone = (await reader.recorded(DEFAULT_TENANT, window, wallet)).performance()
        if wallet in result.by_wallet and result.start == alone.start:
            assert alone.total.values == result.by_wallet[wallet].values
            assert alone.total.time_weighted_return == (
                result.by_wallet[wallet].time_weighted_return
            )
        # One chain alone: its values are the by-chain ones of the whole.
        solana = (await reader.recorded(DEFAULT_TENANT, window, chain=Chain.SOLANA)).performance()
        if Chain.SOLANA in result.by_chain and result.start == solana.start:
            assert solana.total.values == result.by_chain[Chain.SOLANA].values
