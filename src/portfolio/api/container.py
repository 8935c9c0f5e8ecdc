"""The composition root: the only place that picks adapters and builds them from Settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from portfolio.adapters.cache.memory import MemoryCache
from portfolio.adapters.cache.redis_cache import RedisCache, redis_breaker
from portfolio.adapters.cache.redis_client import RedisHealthCheck, create_redis
from portfolio.adapters.db.balances import SqlBalanceRepository
from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.health import DatabaseHealthCheck
from portfolio.adapters.db.history import SqlHistoryRepository
from portfolio.adapters.db.wallets import SqlWalletRepository
from portfolio.api.chains import chain_readers
from portfolio.api.pricing import price_service
from portfolio.api.rendered import RenderedDocuments
from portfolio.config import Settings
from portfolio.ports.cache import Cache
from portfolio.ports.health import HealthCheck
from portfolio.services.balances import BalanceService, FetchPolicy
from portfolio.services.health import HealthService
from portfolio.services.history import HistoryService
from portfolio.services.portfolio import PortfolioService
from portfolio.services.wallets import WalletService


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Container:
    settings: Settings
    wallets: WalletService
    health: HealthService
    balances: BalanceService
    portfolio: PortfolioService
    history: HistoryService
    cache: Cache
    rendered: RenderedDocuments


@asynccontextmanager
async def build_container(settings: Settings) -> AsyncIterator[Container]:
    async with AsyncExitStack() as stack:
        engine = create_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            connect_timeout=settings.database_connect_timeout_seconds,
            statement_timeout=settings.database_statement_timeout_seconds,
            echo=settings.database_echo,
        )
        stack.push_async_callback(engine.dispose)
        sessions = session_factory(engine)
        optional: list[HealthCheck] = []
        cache: Cache = MemoryCache()
        redis = None
        breaker = redis_breaker()  # one for every user of the Redis connection pool
        if settings.redis_url:
            redis = create_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
            stack.push_async_callback(redis.aclose)
            optional.append(RedisHealthCheck(redis))
            cache = RedisCache(redis, breaker=breaker)
        readers = await stack.enter_async_context(chain_readers(settings))
        wallets = SqlWalletRepository(sessions)
        clock = SystemClock()
        policy = FetchPolicy(
            freshness=timedelta(seconds=settings.balance_ttl_seconds),
            lock_ttl_seconds=settings.fetch_lock_wait_seconds * 2,
            lock_wait_seconds=settings.fetch_lock_wait_seconds,
            include_unverified=settings.include_unverified,
            discovery_max_age=timedelta(seconds=settings.solana_discovery_seconds),
        )
        prices = await stack.enter_async_context(price_service(settings, cache, redis, breaker))
        balance_store = SqlBalanceRepository(sessions, engine.dialect.name)
        balances = BalanceService(wallets, balance_store, readers, cache, clock, policy, prices)
        yield Container(
            settings=settings,
            wallets=WalletService(wallets, clock, cache),
            health=HealthService(
                [DatabaseHealthCheck(engine)], optional, settings.health_timeout_seconds
            ),
            balances=balances,
            portfolio=PortfolioService(balance_store, balances, cache, clock, policy),
            history=HistoryService(SqlHistoryRepository(sessions, engine.dialect.name), clock),
            cache=cache,
            rendered=RenderedDocuments(cache),
        )
