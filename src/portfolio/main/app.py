"""The app factory. ``uvicorn --factory portfolio.main.app:create_app`` serves it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import PlainTextResponse
from fastapi_offline import FastAPIOffline
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy.engine import make_url
from starlette.responses import Response

from portfolio import __version__
from portfolio.adapters.chains.tokenlist import list_urls
from portfolio.adapters.redaction import Redactor, secret_parts
from portfolio.adapters.telemetry import PrometheusTelemetry
from portfolio.adapters.tracing import configure_tracing, instrument_app
from portfolio.api.body import BodyLimit
from portfolio.api.edges import DOCS_ASSETS, EdgePolicy
from portfolio.api.httpmetrics import HttpMetrics
from portfolio.api.middleware import ServiceMiddleware
from portfolio.api.openapi import finish_document
from portfolio.api.problems import install_problem_handlers, refused_body, unhandled_error
from portfolio.api.routers import balances, events, health, portfolio, tokens, wallets, webhooks
from portfolio.api.services import Services, State
from portfolio.config import Settings, load_settings
from portfolio.domain.errors import AuthenticationError, ServiceUnavailableError
from portfolio.main.container import build_services, schedules_in_process
from portfolio.main.logs import configure_logging
from portfolio.main.pricing import new_telemetry
from portfolio.services.recent import Recent

API_PREFIX = "/api/v1"
METRICS_PATHS = (f"{API_PREFIX}/metrics", "/metrics")
# A library may raise the recursion limit as it is imported (py_ecc, which web3 imports, sets
# 100,000): deep enough for a recursive parse to overflow the C stack and kill the process. The
# imports are done by now: Python's own default, so a runaway recursion is a RecursionError.
RECURSION_LIMIT = 1000
SCRAPE_QUERY_SECONDS = 1.0
OPENAPI_TAGS = [
    {"name": "wallets", "description": "Wallets to track, one address on one chain each."},
    {"name": "balances", "description": "A wallet's balances: stored, or read from its chain."},
    {"name": "portfolio", "description": "Totals over every wallet, history, refresh."},
    {"name": "tokens", "description": "Marks on tokens: trusted, or spam."},
    {"name": "webhooks", "description": "Events POSTed to the tenant's receivers, signed."},
    {"name": "events", "description": "The tenant's events, live: Server-Sent Events, WebSocket."},
    {"name": "system", "description": "Health probes and metrics."},
]
sys.setrecursionlimit(RECURSION_LIMIT)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app. A test may hand in ready ``services``; it then owns their lifetime."""
    settings = settings or load_settings()
    configure_logging(
        json=settings.log_json, level=settings.log_level, redactor=settings_redactor(settings)
    )
    configure_tracing()  # (off unless the OTEL_* variables ask for traces)

    registry = CollectorRegistry()
    telemetry = new_telemetry(settings, registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
        if services is not None:
            yield {"services": services}
            return
        async with build_services(settings, telemetry) as built:
            logger.info("serving with database {}", _redacted(settings.database_url))
            # Everything built so far lives as long as the process: keep it out of the
            # collector's full passes, which otherwise stall requests for tens of ms.
            gc.collect()
            gc.freeze()
            async with scheduled_in_process(settings, built):
                yield {"services": built}

    # Swagger UI, ReDoc and their favicon are served from DOCS_ASSETS by the app itself (the
    # package ships them), not from a CDN: the docs work where the internet is not reachable.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="portfolio",
        version=__version__,
        summary="Crypto portfolio tracker: Ethereum and Solana wallets, exact balances in USD.",
        lifespan=lifespan,
        openapi_tags=OPENAPI_TAGS,
    )
    default_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        # FastAPI caches the document it builds: this runs once.
        return finish_document(default_openapi(), max_body_bytes=settings.max_body_bytes)

    app.openapi = openapi  # type: ignore[method-assign]
    install_problem_handlers(app)
    # Routers are matched in this order, each one costing a request measurably (make bench):
    # the probes and the portfolio, the hottest routes, first. The docs list the tags in
    # OPENAPI_TAGS order, whatever this one.
    health.add_routes(app, API_PREFIX)
    # Probes and scrapers often expect these at the root; same handlers, not in the schema.
    health.add_routes(app, "", include_in_schema=False)
    app.include_router(portfolio.router, prefix=API_PREFIX)
    app.include_router(wallets.router, prefix=API_PREFIX)
    app.include_router(balances.router, prefix=API_PREFIX)
    app.include_router(tokens.router, prefix=API_PREFIX)
    app.include_router(webhooks.router, prefix=API_PREFIX)
    app.include_router(events.router, prefix=API_PREFIX)
    _expose_metrics(app, telemetry, settings)
    if settings.cors_origins:  # none by default: no other site's page may call this service
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "If-None-Match",
                           "X-Request-ID"],
            expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
            max_age=600,
        )  # fmt: skip
    app.add_middleware(
        ServiceMiddleware,
        on_error=unhandled_error,
        refuse=refused_body,
        bodies=BodyLimit(settings.max_body_bytes),
        metrics=HttpMetrics(telemetry.registry, excluded=METRICS_PATHS),
        edges=EdgePolicy.of(settings.allowed_hosts, settings.auth_enabled, settings.cors_origins),
        access_log=logger.level(settings.log_level).no <= logger.level("INFO").no,
    )
    instrument_app(app)  # outermost: the request's logs and spans are all of its trace
    return app


@asynccontextmanager
async def scheduled_in_process(settings: Settings, services: Services) -> AsyncIterator[None]:
    """The embedded default's schedule: without Redis (so without workers) the API process
    refreshes every wallet itself, every PORTFOLIO_REFRESH_INTERVAL_SECONDS, the first cycle
    at start. PORTFOLIO_REFRESH_IN_PROCESS says otherwise either way."""
    if not schedules_in_process(settings):
        yield
        return
    tasks = []
    if services.dispatcher is not None:  # no workers: this process sends the webhooks
        tasks.append(asyncio.create_task(services.dispatcher.run()))
    if settings.refresh_interval_seconds > 0 and services.scheduled is not None:
        every = settings.refresh_interval_seconds
        tasks.append(asyncio.create_task(services.scheduled.run_every(every)))
        logger.info("refreshing every wallet every {} s", every)
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _bearer_is(request: Request, token: str) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip(), token)


def settings_redactor(settings: Settings) -> Redactor:
    """Every URL and secret of the settings, for scrubbing log lines."""
    urls = [
        *(url for chain in settings.evm_chains() for url in chain.rpc_urls),
        *settings.solana_rpc_urls,
        settings.coingecko_base_url,
        settings.defillama_base_url,
        *(url for chain in settings.evm_chains() for url in list_urls(chain.token_list)),
        *list_urls(settings.solana_token_list),
    ]
    secrets = [
        make_url(settings.database_url).password,
        make_url(settings.database_read_url).password if settings.database_read_url else None,
        settings.coingecko_api_key.get_secret_value() if settings.coingecko_api_key else None,
        settings.metrics_token.get_secret_value() if settings.metrics_token else None,
        *(secret_parts(settings.redis_url) if settings.redis_url else []),
    ]
    return Redactor(urls, [str(s) for s in secrets if s])


def _expose_metrics(app: FastAPI, telemetry: PrometheusTelemetry, settings: Settings) -> None:
    """The metrics in Prometheus text (so named in the OpenAPI document). The age of the
    oldest wallet data is measured at a scrape (one small query, given up after a second: a
    database that is away leaves the last figure), at most once per
    PORTFOLIO_HEALTH_CACHE_SECONDS whoever scrapes. With PORTFOLIO_METRICS_TOKEN set, only a
    scrape that presents it as a bearer token is answered (401 otherwise)."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    oldest: Recent[float | None] | None = None

    async def metrics(request: Request) -> Response:
        nonlocal oldest
        if token is not None and not _bearer_is(request, token):
            raise AuthenticationError("The metrics answer a scrape that presents their token.")
        services: Services | None = getattr(request.state, "services", None)
        if services is not None:
            if oldest is None:
                oldest = Recent(services.wallets.oldest_data_age, settings.health_cache_seconds)
            try:
                async with asyncio.timeout(SCRAPE_QUERY_SECONDS):
                    telemetry.oldest_data_age(await oldest.get())
            except (TimeoutError, ServiceUnavailableError) as exc:
                logger.warning("metrics: oldest wallet data not measured: {}", exc)
        return Response(generate_latest(telemetry.registry), media_type=CONTENT_TYPE_LATEST)

    for path in METRICS_PATHS:
        app.add_api_route(
            path,
            metrics,
            methods=["GET"],
            summary="Metrics in Prometheus text format",
            tags=["system"],
            operation_id="metrics-get" if path.startswith(API_PREFIX) else "metrics-get-root",
            include_in_schema=path.startswith(API_PREFIX),
            response_class=PlainTextResponse,
        )
