"""Currency rates recorded as a series, in the price series' table and buckets: a rate is the
price of one USD in the currency. Its rows carry a chain name no chain can have (``$fx``), so
they never meet a token's, and retention prunes them as it prunes prices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.history import STEPS
from portfolio.adapters.db.ledger import upsert_price_points
from portfolio.adapters.db.models import PricePointRow
from portfolio.domain.currencies import Rate
from portfolio.domain.history import Window, bucket_holding, earliest_before
from portfolio.domain.performance import prices_at_boundaries
from portfolio.domain.prices import stored_usd

RATES_CHAIN = "$fx"


class SqlRateSeries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._dialect = dialect

    async def record(self, rates: Sequence[Rate], at: datetime) -> None:
        rows = [
            {"chain": RATES_CHAIN, "token_key": rate.currency, "step_seconds": step,
             "bucket": bucket_holding(at, timedelta(seconds=step)), "usd_price": stored,
             "priced_at": at}
            for rate in rates
            if (stored := stored_usd(rate.per_usd))
            for step in STEPS
        ]  # fmt: skip
        if not rows:
            return
        async with storage_errors(), self._sessions.begin() as session:
            await upsert_price_points(session, self._dialect, rows)

    async def latest(self, currency: str) -> Rate | None:
        p = PricePointRow
        query = (
            select(p.usd_price, p.priced_at)
            .where(p.chain == RATES_CHAIN, p.token_key == currency)
            .order_by(p.priced_at.desc(), p.step_seconds)
            .limit(1)
        )
        async with storage_errors(), self._sessions() as session:
            found = (await session.execute(query)).first()
        return None if found is None else Rate(currency, found[0], found[1], "recorded")

    async def at_boundaries(self, currency: str, window: Window) -> list[Decimal | None]:
        p = PricePointRow
        step = int(window.step.total_seconds())
        steps = [s for s in STEPS if s >= step]
        mine = (p.chain == RATES_CHAIN, p.token_key == currency)
        before = (
            select(p.usd_price)
            .where(*mine, p.priced_at <= window.start)
            .order_by(p.priced_at.desc(), p.step_seconds)
            .limit(1)
        )
        during = (
            select(p.priced_at, p.usd_price)
            .where(
                *mine,
                p.step_seconds.in_(steps),
                p.bucket >= earliest_before(window.start, timedelta(seconds=max(steps))),
                p.bucket < window.last_end,
            )
            .order_by(p.priced_at, p.step_seconds)
        )
        async with storage_errors(), self._sessions() as session:
            first = await session.scalar(before)
            seen = [(at, rate) for at, rate in await session.execute(during)]
        return prices_at_boundaries(window, first, seen)
