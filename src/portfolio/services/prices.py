"""Prices for many tokens: from the cache, else from the sources in order, else the last known
price marked stale. A token no source prices has no price (never zero)."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from loguru import logger

from portfolio.domain.errors import ServiceUnavailableError
from portfolio.domain.prices import Price, price_key
from portfolio.domain.tokens import Token
from portfolio.ports.cache import Cache
from portfolio.ports.prices import PriceOracle
from portfolio.ports.rates import RateSource
from portfolio.ports.telemetry import Telemetry

LAST_KNOWN = timedelta(days=7)  # how long a price may serve, stale, when every source fails
UNPRICED = b"null"  # cached: the sources answered and know no price


class NoPricing:
    """Pricing turned off (``PORTFOLIO_PRICE_SOURCES=none``): nothing has a price."""

    async def prices(
        self, tokens: Sequence[Token], *, found: Collection[str] = frozenset()
    ) -> dict[str, Price]:
        return {}

    def rate_sources(self) -> list[RateSource]:
        return []


class PriceService:
    def __init__(
        self,
        sources: Sequence[PriceOracle],
        cache: Cache,
        ttl: timedelta,
        *,
        include_unverified: bool = False,
        telemetry: Telemetry | None = None,
    ) -> None:
        """Only verified tokens (native coins, the token lists) are priced unless
        ``include_unverified``: spam stays out of net worth."""
        self._sources = list(sources)
        self._cache = cache
        self._ttl = ttl
        self._include_unverified = include_unverified
        self._telemetry = telemetry

    def rate_sources(self) -> list[RateSource]:
        """The sources that also give currency rates, in their order."""
        return [source for source in self._sources if isinstance(source, RateSource)]

    async def prices(
        self, tokens: Sequence[Token], *, found: Collection[str] = frozenset()
    ) -> dict[str, Price]:
        """Prices by ``price_key`` for the tokens that count and have one. A token on no list
        found on chain (its price key in ``found``) is asked for too: the sources price a
        token by its contract address, so a price is the market's word on that very contract
        (a copy of a known token's symbol gets none)."""
        counted = self._include_unverified
        wanted = {price_key(t): t for t in tokens if counted or t.verified or price_key(t) in found}
        if not wanted or not self._sources:
            return {}
        cached = await self._cache.get_many([_fresh(k) for k in wanted])
        found = {k: p for k in wanted if (p := _decode(cached.get(_fresh(k)))) is not None}
        missing = {k: t for k, t in wanted.items() if _fresh(k) not in cached}
        if self._telemetry is not None:
            self._telemetry.cache_lookup("prices", len(wanted) - len(missing), len(missing))
        if not missing:
            return found
        fetched, every_source_answered = await self._ask_sources(list(missing.values()))
        unpriced = [k for k in missing if k not in fetched]
        await self._remember(fetched, unpriced if every_source_answered else [])
        found.update(fetched)
        if unpriced and not every_source_answered:
            last = await self._cache.get_many([_last(k) for k in unpriced])
            for key in unpriced:
                price = _decode(last.get(_last(key)))
                if price is not None:
                    found[key] = replace(price, stale=True)
        return found

    async def _ask_sources(self, tokens: list[Token]) -> tuple[dict[str, Price], bool]:
        """Each source is asked for what the ones before it did not price; the flag tells
        whether every source asked did answer."""
        found: dict[str, Price] = {}
        every_source_answered = True
        for source in self._sources:
            remaining = [t for t in tokens if price_key(t) not in found]
            if not remaining:
                break
            try:
                found.update(await source.prices(remaining))
            except ServiceUnavailableError as exc:
                every_source_answered = False
                logger.warning("price source {} failed: {}", source.name, exc)
        return found, every_source_answered

    async def _remember(self, prices: dict[str, Price], unpriced: list[str]) -> None:
        ttl = self._ttl.total_seconds()
        encoded = {k: _encode(p) for k, p in prices.items()}
        await self._cache.set_many(
            {
                **{_fresh(k): v for k, v in encoded.items()},
                **dict.fromkeys(map(_fresh, unpriced), UNPRICED),
            },
            ttl,
        )
        await self._cache.set_many(
            {_last(k): v for k, v in encoded.items()}, LAST_KNOWN.total_seconds()
        )


def _fresh(key: str) -> str:
    return f"price:{key}"


def _last(key: str) -> str:
    return f"price-last:{key}"


def _encode(price: Price) -> bytes:
    return json.dumps(
        {
            "usd": str(price.usd),
            "change_24h": None if price.change_24h is None else str(price.change_24h),
            "as_of": price.as_of.isoformat(),
            "source": price.source,
        }
    ).encode()


def _decode(data: bytes | None) -> Price | None:
    if data is None or data == UNPRICED:
        return None
    doc = json.loads(data)
    change = doc["change_24h"]
    return Price(
        Decimal(doc["usd"]),
        None if change is None else Decimal(change),
        datetime.fromisoformat(doc["as_of"]),
        doc["source"],
    )
