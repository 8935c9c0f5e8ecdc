"""Currency rates for the documents: the current one (cached like prices, from the sources in
order, else the configured rates), and the recorded series for values of past moments. Every
rate looked up is recorded, and each scheduled cycle records every currency's, so a history in
EUR uses the EUR rate of each bucket."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from loguru import logger

from portfolio.domain.currencies import PLACES, USD, Conversion, Rate
from portfolio.domain.errors import ServiceUnavailableError
from portfolio.domain.history import Interval, Window
from portfolio.ports.cache import Cache
from portfolio.ports.clock import Clock
from portfolio.ports.rates import RateSeries, RateSource

OTHERS = [code for code in PLACES if code != USD]
RECENT = timedelta(days=1)
MISSED = "rate:missed"  # the sources gave no rate: kept MISS_SECONDS, so a source that is down
MISS_SECONDS = (
    60.0  # is not asked by every request  # a recorded rate this old serves when no source answers
)


class RateService:
    def __init__(
        self,
        sources: Sequence[RateSource],
        series: RateSeries,
        cache: Cache,
        clock: Clock,
        ttl: timedelta,
        configured: Mapping[str, Decimal] | None = None,
        default: str = USD,
    ) -> None:
        """``configured``: rates used when no source gives one (the operator's)."""
        self._sources = list(sources)
        self._series = series
        self._cache = cache
        self._clock = clock
        self._ttl = ttl
        self._configured = dict(configured or {})
        self.default = default

    async def conversion(self, currency: str) -> Conversion:
        """USD values into ``currency`` at its current rate; without one, a Conversion that
        says why."""
        if currency == USD:
            return Conversion.usd()
        cached = await self._cache.get_many([_key(currency), MISSED])
        if _key(currency) in cached:
            return Conversion(currency, _decode(currency, cached[_key(currency)]))
        if MISSED not in cached:  # the sources failed a moment ago: not asked again yet
            found = await self._fetch(OTHERS)  # one ask brings every currency's
            if currency in found:
                return Conversion(currency, found[currency])
            await self._cache.set(MISSED, b"1", MISS_SECONDS)
        latest = await self._series.latest(currency)
        if latest is not None and latest.as_of and self._clock.now() - latest.as_of <= RECENT:
            return Conversion(currency, latest)
        return Conversion.missing(
            currency, f"No {currency} rate: no price source gave one and none is configured."
        )

    async def series(self, currency: str, window: Window) -> list[Decimal | None]:
        """The rate at each boundary of the window (1 for USD; None where none was recorded
        by then)."""
        if currency == USD:
            return [Decimal(1)] * (window.count + 1)
        return await self._series.at_boundaries(currency, window)

    async def at(self, currency: str, moment: datetime) -> Conversion:
        """USD values of ``moment`` into ``currency``, at its last rate recorded by then."""
        if currency == USD:
            return Conversion.usd()
        step = Interval.FIVE_MINUTES.step
        (rate, *_) = await self._series.at_boundaries(currency, Window(moment, moment + step, step))
        if rate is None:
            return Conversion.missing(currency, f"No {currency} rate was recorded by {moment}.")
        return Conversion(currency, Rate(currency, rate, None, "recorded"))

    async def record_all(self) -> None:
        """Every currency's rate from the sources (or as configured), recorded: the scheduled
        cycle's part, so that the series has a rate for each bucket. A failure is logged."""
        try:
            await self._fetch(OTHERS)
        except Exception:  # the database away, or a bug: never the cycle's end
            logger.exception("recording currency rates failed")

    async def _fetch(self, currencies: list[str]) -> dict[str, Rate]:
        """The currencies' rates from the first source that gives each, else as configured;
        recorded and cached."""
        now = self._clock.now()
        found: dict[str, Rate] = {}
        for source in self._sources:
            wanted = [c for c in currencies if c not in found]
            if not wanted:
                break
            try:
                answered = await source.rates(wanted)
            except ServiceUnavailableError as exc:
                logger.warning("rate source {} failed: {}", source.name, exc)
                continue
            for code, per_usd in answered.items():
                if code in wanted and per_usd > 0:
                    found[code] = Rate(code, per_usd, now, source.name)
        for code in currencies:
            if code not in found and code in self._configured:
                found[code] = Rate(code, self._configured[code], now, "configured")
        if found:
            await self._series.record(list(found.values()), now)
            await self._cache.set_many(
                {_key(code): _encode(rate) for code, rate in found.items()},
                self._ttl.total_seconds(),
            )
        return found


def _key(currency: str) -> str:
    return f"rate:{currency}"


def _encode(rate: Rate) -> bytes:
    as_of = None if rate.as_of is None else rate.as_of.isoformat()
    return json.dumps(
        {"per_usd": str(rate.per_usd), "as_of": as_of, "source": rate.source}
    ).encode()


def _decode(currency: str, data: bytes) -> Rate:
    doc = json.loads(data)
    as_of = None if doc["as_of"] is None else datetime.fromisoformat(doc["as_of"])
    return Rate(currency, Decimal(doc["per_usd"]), as_of, doc["source"])
