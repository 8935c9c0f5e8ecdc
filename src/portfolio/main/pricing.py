"""Building the price sources from Settings (part of the composition root)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import httpx
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from portfolio.adapters.prices.coingecko import CoinGeckoPriceOracle
from portfolio.adapters.prices.defillama import DefiLlamaPriceOracle
from portfolio.adapters.prices.http import Pacer
from portfolio.adapters.resilience import Breaker, CallPolicy
from portfolio.adapters.telemetry import PrometheusTelemetry
from portfolio.config import Settings
from portfolio.domain.chains import Chain, PriceNames
from portfolio.main.chains import configured_chains, price_names, rpc_policy
from portfolio.ports.cache import Cache
from portfolio.ports.prices import PriceOracle
from portfolio.services.prices import NoPricing, PriceService

# Public rate limits, kept under: DefiLlama's coins API is generous; CoinGecko's public API
# allows about 10 calls a minute without a key, 30 with a demo key, far more on a paid plan.
RATES = {"defillama": "300/minute", "coingecko": "8/minute", "coingecko-key": "25/minute"}


def price_source_names(settings: Settings) -> list[str]:
    """The configured price sources, in order; none when pricing is off."""
    names = [n.strip().lower() for n in settings.price_sources if n.strip()]
    return [] if "none" in names else names


def new_telemetry(settings: Settings, registry: CollectorRegistry) -> PrometheusTelemetry:
    """A process's metrics on ``registry``, the configured chains' and price sources' series
    exported from the start."""
    return PrometheusTelemetry(registry, configured_chains(settings), price_source_names(settings))


@asynccontextmanager
async def price_service(
    settings: Settings,
    cache: Cache,
    redis: Redis | None,
    breaker: Breaker | None = None,
    telemetry: PrometheusTelemetry | None = None,
) -> AsyncIterator[PriceService | NoPricing]:
    """The price sources of the settings, in order; NoPricing when pricing is off. With Redis,
    the sources' rate budgets are counted there (on the app's own connection pool)."""
    names = price_source_names(settings)
    if not names:
        yield NoPricing()
        return
    policy = rpc_policy(settings, telemetry)
    storage = limits_storage(settings, redis)
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            # Redirects are not followed: httpx would send a key header on to the new host.
            httpx.AsyncClient(timeout=settings.rpc_timeout_seconds, follow_redirects=False)
        )
        chains = price_names(settings)
        sources = [
            _source(name, settings, client, policy, storage, breaker, chains) for name in names
        ]
        yield PriceService(
            sources,
            cache,
            timedelta(seconds=settings.price_ttl_seconds),
            include_unverified=settings.include_unverified,
            telemetry=telemetry,
        )


def _source(
    name: str,
    settings: Settings,
    client: httpx.AsyncClient,
    policy: CallPolicy,
    storage: Storage,
    breaker: Breaker | None,
    chains: Mapping[Chain, PriceNames],
) -> PriceOracle:
    if name == "defillama":
        pacer = Pacer("defillama", RATES["defillama"], storage, breaker)
        return DefiLlamaPriceOracle(
            settings.defillama_base_url, client, policy, pacer, names=chains
        )
    if name == "coingecko":
        key = settings.coingecko_api_key.get_secret_value() if settings.coingecko_api_key else None
        rate = RATES["coingecko-key" if key else "coingecko"]
        pacer = Pacer("coingecko", rate, storage, breaker)
        return CoinGeckoPriceOracle(
            settings.coingecko_base_url, client, policy, pacer, key, names=chains
        )
    raise ValueError(f"unknown price source {name!r} (defillama, coingecko or none)")


def limits_storage(settings: Settings, redis: Redis | None) -> Storage:
    """Where ``limits`` counts: in Redis (on the app's own connection pool) when it is
    configured, so every process shares one budget; in this process otherwise."""
    if not settings.redis_url or redis is None:
        return MemoryStorage()
    scheme, rest = settings.redis_url.split("://", 1)
    return RedisStorage(
        f"async+{scheme}://{rest}",
        implementation="redispy",
        connection_pool=redis.connection_pool,  # type: ignore[arg-type]
    )
