"""Currency rates through the rate service and the recorded series, on both databases: the
cycle's recording, the order of sources and the configured fallback, a source that fails."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.cache.memory import MemoryCache
from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.rates import SqlRateSeries
from portfolio.domain.errors import ServiceUnavailableError
from portfolio.domain.history import Interval, Window
from portfolio.services.rates import RateService
from tests.fakes import FakeClock

T0 = datetime(2026, 5, 1, tzinfo=UTC)


class Source:
    """A rate source that answers from ``table`` (or fails when ``down``), counting asks."""

    def __init__(self, table: dict[str, Decimal], *, down: bool = False) -> None:
        self.name = "test"
        self.table = table
        self.down = down
        self.asked = 0

    async def rates(self, currencies: Sequence[str]) -> dict[str, Decimal]:
        self.asked += 1
        if self.down:
            raise ServiceUnavailableError("rate source down")
        return {c: r for c, r in self.table.items() if c in currencies}


def service(
    engine: AsyncEngine, clock: FakeClock, source: Source, configured: dict[str, Decimal]
) -> RateService:
    series = SqlRateSeries(session_factory(engine), engine.dialect.name)
    return RateService([source], series, MemoryCache(), clock, timedelta(seconds=60), configured)


async def test_each_cycle_records_every_rate_and_history_reads_each_buckets(
    db_engine: AsyncEngine,
) -> None:
    clock = FakeClock(T0 + timedelta(minutes=2))
    source = Source({"EUR": Decimal("0.9"), "GBP": Decimal("0.8")})
    rates = service(db_engine, clock, source, {"JPY": Decimal("150")})
    await rates.record_all()
    clock.advance(minutes=15)  # at minute 17
    source.table["EUR"] = Decimal("0.95")
    await rates.record_all()
    window = Window.of(T0, T0 + timedelta(minutes=30), Interval.FIVE_MINUTES)
    eur = await rates.series("EUR", window)
    assert eur == [None] + [Decimal("0.9")] * 3 + [Decimal("0.95")] * 3
    assert (await rates.series("JPY", window))[-1] == Decimal("150")  # as configured
    assert await rates.series("CHF", window) == [None] * 7  # no source, none configured
    assert await rates.series("USD", window) == [Decimal(1)] * 7
    at = await rates.at("GBP", T0 + timedelta(minutes=20))
    assert at.rate is not None
    assert at.rate.per_usd == Decimal("0.8")


async def test_a_source_that_fails_is_asked_once_a_minute_and_the_last_rate_serves_a_day(
    db_engine: AsyncEngine,
) -> None:
    clock = FakeClock(T0)
    source = Source({"EUR": Decimal("0.9")})
    rates = service(db_engine, clock, source, {})
    assert (await rates.conversion("EUR")).rate is not None
    source.down = True
    clock.advance(minutes=5)
    missing = await rates.conversion("CHF")  # not cached, nobody gives it, the source down
    assert missing.rate is None
    assert "No CHF rate" in (missing.reason or "")
    asked = source.asked
    for _ in range(5):
        await rates.conversion("CHF")
    assert source.asked == asked  # not asked again within the minute
    recorded = await rates.series("EUR", Window(clock.now(), clock.now() + timedelta(hours=1),
                                                Interval.HOUR.step))  # fmt: skip
    assert recorded[0] == Decimal("0.9")
