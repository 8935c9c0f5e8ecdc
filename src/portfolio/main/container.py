"""Building every adapter from Settings and wiring the use cases: the only place that picks
adapters. Everything built is closed when the service stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from ipaddress import ip_network

from limits.aio.strategies import MovingWindowRateLimiter
from loguru import logger
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.cache.announcements import (
    PORTFOLIO_CHANGES,
    LocalAnnouncements,
    NoRevocations,
    RedisAnnouncements,
    redis_revocations,
)
from portfolio.adapters.cache.memory import MemoryCache
from portfolio.adapters.cache.redis_cache import RedisCache, redis_breaker
from portfolio.adapters.cache.redis_client import RedisHealthCheck, create_redis
from portfolio.adapters.db.balances import SqlBalanceRepository
from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.events import SqlEventLog, SqlTenantTotals
from portfolio.adapters.db.found import SqlFoundTokens
from portfolio.adapters.db.health import DatabaseHealthCheck
from portfolio.adapters.db.history import Retention, SqlHistoryRepository
from portfolio.adapters.db.keys import SqlApiKeyRepository
from portfolio.adapters.db.ledger import SqlPriceSeries
from portfolio.adapters.db.performance import SqlPerformanceReader
from portfolio.adapters.db.rates import SqlRateSeries
from portfolio.adapters.db.token_marks import SqlTokenMarkRepository, SqlTrackedTokenRepository
from portfolio.adapters.db.wallets import SqlPrimaryNames, SqlWalletRepository
from portfolio.adapters.db.webhooks import SqlWebhookRepository
from portfolio.adapters.jobs.taskiq_queue import TaskiqRefreshQueue, job_broker
from portfolio.adapters.ratelimits import LimitsRateLimiter
from portfolio.adapters.telemetry import PrometheusTelemetry
from portfolio.adapters.webhook_sender import HttpWebhookSender
from portfolio.api.rendered import RenderedDocument
from portfolio.api.services import Services
from portfolio.config import Settings
from portfolio.domain.jobs import TAKEOVER_AFTER
from portfolio.main.chains import chain_readers
from portfolio.main.pricing import limits_storage, price_service
from portfolio.ports.announcements import Announcements
from portfolio.ports.cache import Cache
from portfolio.ports.health import HealthCheck
from portfolio.ports.jobs import RefreshQueue
from portfolio.ports.keys import Revocations
from portfolio.services.auth import Authenticator
from portfolio.services.balance_cache import BalanceCache
from portfolio.services.balances import BalanceService
from portfolio.services.discovery import LogDiscovery
from portfolio.services.events import EventService
from portfolio.services.fetching import FetchPolicy, FetchService, Stores
from portfolio.services.health import HealthService
from portfolio.services.history import HistoryService
from portfolio.services.lifecycle import STOPPING
from portfolio.services.names import PrimaryNames
from portfolio.services.portfolio import PortfolioService
from portfolio.services.rates import RateService
from portfolio.services.scheduling import (
    InProcessRefreshQueue,
    ScheduledRefresh,
    SchedulePolicy,
)
from portfolio.services.streams import EventHub, StreamTokens
from portfolio.services.tokens import TokenQuotas, TokenService
from portfolio.services.wallets import WalletService
from portfolio.services.webhooks import WebhookDispatcher, WebhookService

SUMMARY_KEY = "portfolio:summary"
JOB_QUEUE_START_SECONDS = 5.0


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def schedules_in_process(settings: Settings) -> bool:
    """Whether this process runs the refresh itself (no Redis, so no workers), or hands it to
    the workers (PORTFOLIO_REFRESH_IN_PROCESS says otherwise either way)."""
    if settings.refresh_in_process is not None:
        return settings.refresh_in_process
    return not settings.redis_url


@asynccontextmanager
async def _refresh_queue(
    settings: Settings, redis: Redis | None, scheduled: ScheduledRefresh
) -> AsyncIterator[RefreshQueue]:
    if schedules_in_process(settings) or redis is None or settings.redis_url is None:
        local = InProcessRefreshQueue(scheduled)
        try:
            yield local
        finally:
            await local.close()
        return
    broker = job_broker(
        settings.redis_url, claim_after_seconds=settings.job_timeout_seconds * TAKEOVER_AFTER
    )
    try:
        async with asyncio.timeout(JOB_QUEUE_START_SECONDS):
            await broker.startup()
    except Exception as exc:  # Redis away: the service still starts; a hand-over is a 503
        logger.warning("job queue not reachable at start: {}", type(exc).__name__)
    try:
        yield TaskiqRefreshQueue(broker, redis, interval_seconds=settings.refresh_interval_seconds)
    finally:
        with contextlib.suppress(Exception):
            await broker.shutdown()


@asynccontextmanager
async def build_services(
    settings: Settings,
    telemetry: PrometheusTelemetry | None = None,
    refresh_queue: RefreshQueue | None = None,
) -> AsyncIterator[Services]:
    """Every use case, wired from the settings; ``telemetry`` gets the operator's metrics.
    ``refresh_queue``: the one a worker already has; else one is built."""
    async with AsyncExitStack() as stack:
        engine = _engine(stack, settings, settings.database_url)
        sessions = session_factory(engine)
        databases = [DatabaseHealthCheck(engine)]
        read_engine = engine  # GET routes read here: a replica, when one is configured
        if settings.database_read_url:
            read_engine = _engine(stack, settings, settings.database_read_url)
            databases.append(DatabaseHealthCheck(read_engine, name="database_replica"))
        read_sessions = session_factory(read_engine)
        optional: list[HealthCheck] = []
        cache: Cache = MemoryCache()
        redis = None
        breaker = redis_breaker(telemetry)  # one for every user of the Redis connection pool
        if settings.redis_url:
            redis = create_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
            stack.push_async_callback(redis.aclose)
            optional.append(RedisHealthCheck(redis))
            cache = RedisCache(redis, breaker=breaker)
        revocations: Revocations = NoRevocations()
        changes: Announcements = LocalAnnouncements()  # one process, its own cache
        if redis is not None:
            changes = _followed(stack, RedisAnnouncements(redis, PORTFOLIO_CHANGES, breaker))
            if settings.auth_enabled:
                revocations = _followed(stack, redis_revocations(redis, breaker))
        chains = await stack.enter_async_context(chain_readers(settings, telemetry))
        readers, node_checks = chains.readers, chains.checks
        optional += chains.optional_checks
        prices = await stack.enter_async_context(
            price_service(settings, cache, redis, breaker, telemetry)
        )
        clock = SystemClock()
        rates = RateService(
            prices.rate_sources(),
            SqlRateSeries(sessions, engine.dialect.name),
            cache,
            clock,
            timedelta(seconds=settings.price_ttl_seconds),
            settings.currency_rates,
            settings.default_currency,
        )
        freshness = timedelta(seconds=settings.balance_ttl_seconds)
        wallets = SqlWalletRepository(sessions)
        balance_store = SqlBalanceRepository(
            sessions, engine.dialect.name, failure_events=settings.event_failures
        )
        read_wallets = SqlWalletRepository(read_sessions)
        read_balances = SqlBalanceRepository(read_sessions, read_engine.dialect.name)
        read_marks = SqlTokenMarkRepository(read_sessions)
        read_found = SqlFoundTokens(read_sessions, read_engine.dialect.name)
        stores = Stores(
            wallets,
            balance_store,
            BalanceCache(cache, freshness, telemetry),
            SqlPriceSeries(sessions, engine.dialect.name),
        )
        portfolio = PortfolioService(
            read_balances,
            prices,
            clock,
            freshness,
            include_unverified=settings.include_unverified,
            marks=read_marks,
            found=read_found,
        )
        history = SqlHistoryRepository(
            read_sessions,
            read_engine.dialect.name,
            clock,
            write_sessions=sessions,
            retention=Retention(
                timedelta(days=settings.history_5m_days), timedelta(days=settings.history_1h_days)
            ),
        )
        summary = RenderedDocument(
            cache,
            SUMMARY_KEY,
            min(settings.balance_ttl_seconds, settings.price_ttl_seconds),
            telemetry,
            changes,
        )
        balances = BalanceService(
            read_wallets, read_balances, stores.cache, prices, clock, freshness, found=read_found
        )
        policy = FetchPolicy(
            lock_ttl_seconds=settings.fetch_lock_wait_seconds * 2,
            lock_wait_seconds=settings.fetch_lock_wait_seconds,
            discovery_max_age=timedelta(seconds=settings.solana_discovery_seconds),
            evm_discovery_max_age=timedelta(seconds=settings.evm_discovery_seconds),
            chunk_wallets=settings.refresh_chunk_wallets,
        )
        tracked = SqlTrackedTokenRepository(sessions)
        found = SqlFoundTokens(sessions, engine.dialect.name)
        fetching = FetchService(
            stores, readers, prices, summary, clock, policy, telemetry, tracked=tracked,
            found=found,
        )  # fmt: skip
        discovery = LogDiscovery(
            chains.logs if settings.log_discovery else [], wallets, found, clock,
            confirmations=chains.confirmations, backfill=settings.log_backfill_blocks,
            new_contracts=settings.log_new_contracts,
        )  # fmt: skip
        schedule = SchedulePolicy(
            job_wallets=settings.refresh_job_wallets,
            attempts=settings.job_attempts,
            hold_seconds=settings.job_timeout_seconds,
        )
        history_service = HistoryService(
            history,
            clock,
            recorded=SqlPerformanceReader(
                read_sessions, read_engine.dialect.name, clock, write_sessions=sessions
            ),
            wallets=read_wallets,
        )
        webhook_store = SqlWebhookRepository(sessions, engine.dialect.name)
        sender = HttpWebhookSender(allow_private=settings.webhook_allow_private)
        stack.push_async_callback(sender.close)
        retention = timedelta(hours=settings.event_retention_hours)
        dispatcher = WebhookDispatcher(
            webhook_store,
            sender,
            clock,
            disable_after=timedelta(hours=settings.webhook_disable_after_hours),
            concurrency=settings.webhook_concurrency,
            telemetry=telemetry,
            retention=retention,
        )
        events = EventService(
            SqlEventLog(sessions),
            clock,
            retention=retention,
            totals=SqlTenantTotals(sessions),
            portfolio=portfolio,
        )

        hub = EventHub(
            SqlEventLog(sessions),
            changes,
            telemetry=telemetry,
            heartbeat_seconds=settings.stream_heartbeat_seconds,
        )
        stack.push_async_callback(hub.close)

        primary_names = (
            None
            if chains.names is None
            else PrimaryNames(
                chains.names,
                SqlPrimaryNames(sessions),
                clock,
                every=timedelta(seconds=settings.ens_refresh_seconds),
            )
        )

        async def upkeep() -> None:
            await discovery.scan()  # before the cycle's reads, which read what it finds
            if primary_names is not None:
                await primary_names.refresh()
            await history_service.upkeep()
            await rates.record_all()
            await events.upkeep()
            await dispatcher.prune()

        scheduled = ScheduledRefresh(
            wallets, fetching, schedule, telemetry, upkeep=upkeep, finished=events.batch_finished
        )
        if refresh_queue is None:
            refresh_queue = await stack.enter_async_context(
                _refresh_queue(settings, redis, scheduled)
            )
        yield Services(
            wallets=WalletService(
                wallets,
                clock,
                summary,
                reads=read_wallets,
                chains=frozenset(readers),
                max_wallets=settings.tenant_max_wallets,
                names=chains.names,
            ),
            balances=balances,
            fetching=fetching,
            scheduled=scheduled,
            refresh_queue=refresh_queue,
            inline_refresh_wallets=settings.refresh_inline_wallets,
            portfolio=portfolio,
            webhooks=WebhookService(
                webhook_store,
                clock,
                allow_private=settings.webhook_allow_private,
                max_webhooks=settings.tenant_max_webhooks,
                nudge=dispatcher.nudge,
            ),
            dispatcher=dispatcher,
            streams=hub,
            stream_tokens=StreamTokens(cache, clock),
            tokens=TokenService(
                SqlTokenMarkRepository(sessions),
                clock,
                summary,
                reads=read_marks,
                tracked=tracked,
                readers=readers,
                quotas=TokenQuotas(settings.tenant_max_tracked_tokens, settings.tenant_max_marks),
            ),
            history=history_service,
            rates=rates,
            health=HealthService(
                [STOPPING, *databases, *node_checks],
                optional,
                settings.health_timeout_seconds,
                settings.health_cache_seconds,
            ),
            summary=summary,
            rate_limits=None
            if settings.rate_limit == "off"
            else LimitsRateLimiter(
                MovingWindowRateLimiter(limits_storage(settings, redis)),
                settings.rate_limit,
                settings.rate_limit_chain,
                fail_open=settings.rate_limit_fail_open,
                breaker=breaker if redis is not None else None,
            ),
            auth_failures=None
            if not settings.auth_enabled or settings.rate_limit_auth_failures == "off"
            else LimitsRateLimiter(
                MovingWindowRateLimiter(limits_storage(settings, redis)),
                None,
                None,
                auth=settings.rate_limit_auth_failures,
                fail_open=settings.rate_limit_fail_open,
                breaker=breaker if redis is not None else None,
            ),
            trusted_proxies=tuple(ip_network(p, strict=False) for p in settings.trusted_proxies),
            authenticator=Authenticator(SqlApiKeyRepository(sessions), revocations)
            if settings.auth_enabled
            else None,
        )


def _followed(stack: AsyncExitStack, announcements: RedisAnnouncements) -> RedisAnnouncements:
    announcements.start()
    stack.push_async_callback(announcements.close)
    return announcements


def _engine(stack: AsyncExitStack, settings: Settings, url: str) -> AsyncEngine:
    engine = create_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        connect_timeout=settings.database_connect_timeout_seconds,
        statement_timeout=settings.database_statement_timeout_seconds,
        echo=settings.database_echo,
    )
    stack.push_async_callback(engine.dispose)
    return engine
