"""Metrics an operator can act on, in Prometheus form, beside the HTTP ones: calls to chains and
price sources, circuit breakers, caches, refreshes and jobs, the age of the oldest wallet data,
the job queue, the process itself and the build.

One ``PrometheusTelemetry`` per process, on the registry that process exposes (the API's
``/metrics``, a worker's own port). Label values are bounded: chains, JSON-RPC method names,
endpoints by their redacted name (scheme://host:port#hash, never a key), sources, kinds."""

from __future__ import annotations

import platform
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from portfolio import __version__
from portfolio.domain.chains import Chain

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
REFRESH_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
BREAKER_STATES = {"closed": 0, "half-opened": 1, "opened": 2}
# Label values known before the first event: their series are exported at 0 from the start (as
# Prometheus's instrumentation guide advises), so that rate() and the shipped alerts see the
# first event, not only the second.
TRIGGERS = ("fetch", "refresh", "job")
OUTCOMES = ("refreshed", "failed")
JOB_OUTCOMES = ("done", "failed")
CACHE_KINDS = ("balances", "prices", "portfolio")
CACHE_RESULTS = ("hit", "miss")
# A failed price request by what failed, in a few kinds (a bounded label, known at start):
# no answer in time; connection trouble, HTTP 429 or 5xx; an answer that cannot be used; the
# breaker open; anything else.
PRICE_ERRORS = ("timeout", "unavailable", "malformed", "circuit-open", "other")


class PrometheusTelemetry:
    def __init__(
        self,
        registry: CollectorRegistry,
        chains: Sequence[Chain] = (Chain.ETHEREUM, Chain.SOLANA),
        price_sources: Sequence[str] = (),
    ) -> None:
        """``chains`` and ``price_sources``: the configured ones, whose series exist from the
        start."""
        self.registry = registry
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        r = registry
        self._build = Gauge(
            "portfolio_build_info", "The running build (always 1).",
            ["version", "python"], registry=r,
        )  # fmt: skip
        self._build.labels(__version__, platform.python_version()).set(1)
        self._rpc_requests = Counter(
            "portfolio_rpc_requests", "HTTP requests to chain nodes.",
            ["chain", "method", "endpoint"], registry=r,
        )  # fmt: skip
        self._rpc_errors = Counter(
            "portfolio_rpc_errors", "Chain node requests that failed, by what failed.",
            ["chain", "method", "endpoint", "error"], registry=r,
        )  # fmt: skip
        self._rpc_seconds = Histogram(
            "portfolio_rpc_request_duration_seconds", "Time to a chain node's answer.",
            ["chain", "method", "endpoint"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self._batch_calls = Histogram(
            "portfolio_rpc_batch_calls", "Calls carried by one HTTP request to a chain node.",
            ["chain", "method"], buckets=BATCH_BUCKETS, registry=r,
        )  # fmt: skip
        self._breaker = Gauge(
            "portfolio_circuit_breaker_state",
            "Circuit breaker by endpoint or dependency: 0 closed, 1 half-open, 2 open.",
            ["breaker"], registry=r,
        )  # fmt: skip
        self._price_requests = Counter(
            "portfolio_price_requests", "Requests to price sources.",
            ["source"], registry=r,
        )  # fmt: skip
        self._price_failures = Counter(
            "portfolio_price_failures", "Price source requests that failed, by what failed.",
            ["source", "error"], registry=r,
        )  # fmt: skip
        self._cache = Counter(
            "portfolio_cache_lookups", "Cache lookups by kind and result (hit or miss).",
            ["kind", "result"], registry=r,
        )  # fmt: skip
        self._refresh_seconds = Histogram(
            "portfolio_refresh_duration_seconds",
            "Time to read and record a chain's wallets (a refresh, a job).",
            ["chain", "trigger"], buckets=REFRESH_BUCKETS, registry=r,
        )  # fmt: skip
        self._refreshed = Counter(
            "portfolio_refresh_wallets", "Wallets read by refreshes and jobs, by outcome.",
            ["chain", "outcome"], registry=r,
        )  # fmt: skip
        self._last_refresh = Gauge(
            "portfolio_refresh_last_success_timestamp_seconds",
            "When a chain's wallets were last read with at least one success.",
            ["chain"], registry=r,
        )  # fmt: skip
        self._jobs = Counter(
            "portfolio_jobs", "Scheduled refresh jobs run, by outcome.",
            ["outcome"], registry=r,
        )  # fmt: skip
        self._queue_depth = Gauge(
            "portfolio_job_queue_depth", "Refresh jobs queued or running.", registry=r
        )
        self._oldest = Gauge(
            "portfolio_oldest_wallet_data_age_seconds",
            "Age of the oldest wallet data: since the least recently read wallet's last read "
            "(or its creation, if never read).",
            registry=r,
        )
        self._deliveries = Counter(
            "portfolio_webhook_deliveries", "Webhook delivery tries, by outcome.",
            ["outcome"], registry=r,
        )  # fmt: skip
        self._delivery_seconds = Histogram(
            "portfolio_webhook_delivery_seconds", "How long a webhook delivery try took.",
            registry=r, buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )  # fmt: skip
        self._undelivered = Gauge(
            "portfolio_webhook_oldest_undelivered_age_seconds",
            "Age of the oldest webhook message neither delivered nor given up (0: none).",
            registry=r,
        )
        self._disabled = Counter(
            "portfolio_webhooks_disabled", "Webhooks disabled for failing too long.", registry=r
        )
        self._stream_clients = Gauge(
            "portfolio_stream_clients", "Clients connected to the live event stream.",
            ["transport"], registry=r,
        )  # fmt: skip
        for outcome in ("delivered", "failed", "refused"):
            self._deliveries.labels(outcome)
        for transport in ("sse", "websocket"):
            self._stream_clients.labels(transport)
        self._known(chains, price_sources)

    def _known(self, chains: Sequence[Chain], price_sources: Sequence[str]) -> None:
        """Every series whose labels are known at start, at 0."""
        for chain in chains:
            for outcome in OUTCOMES:
                self._refreshed.labels(chain.value, outcome)
            for trigger in TRIGGERS:
                self._refresh_seconds.labels(chain.value, trigger)
        for source in price_sources:
            self._price_requests.labels(source)
            for error in PRICE_ERRORS:
                self._price_failures.labels(source, error)
        for outcome in JOB_OUTCOMES:
            self._jobs.labels(outcome)
        for kind in CACHE_KINDS:
            for result in CACHE_RESULTS:
                self._cache.labels(kind, result)

    # chains
    @asynccontextmanager
    async def rpc(
        self, chain: str, method: str, endpoint: str, calls: int = 1
    ) -> AsyncIterator[None]:
        """Time one HTTP request to a node carrying ``calls`` JSON-RPC calls."""
        self._rpc_requests.labels(chain, method, endpoint).inc()
        self._batch_calls.labels(chain, method).observe(calls)
        started = time.perf_counter()
        try:
            yield
        except BaseException as exc:
            self._rpc_errors.labels(chain, method, endpoint, type(exc).__name__).inc()
            raise
        finally:
            self._rpc_seconds.labels(chain, method, endpoint).observe(time.perf_counter() - started)

    def breaker_state(self, breaker: str, state: str) -> None:
        self._breaker.labels(breaker).set(BREAKER_STATES.get(state, 2))

    # prices
    def price_request(self, source: str, error: str | None) -> None:
        """A request to a price source; ``error``: what failed, one of PRICE_ERRORS."""
        self._price_requests.labels(source).inc()
        if error is not None:
            self._price_failures.labels(source, error).inc()

    # caches, refreshes, jobs
    def cache_lookup(self, kind: str, hits: int, misses: int) -> None:
        if hits:
            self._cache.labels(kind, "hit").inc(hits)
        if misses:
            self._cache.labels(kind, "miss").inc(misses)

    def refreshed(
        self, chain: Chain, trigger: str, seconds: float, refreshed: int, failed: int
    ) -> None:
        self._refresh_seconds.labels(chain.value, trigger).observe(seconds)
        self._refreshed.labels(chain.value, "refreshed").inc(refreshed)
        self._refreshed.labels(chain.value, "failed").inc(failed)
        if refreshed:
            self._last_refresh.labels(chain.value).set(time.time())

    def job_done(self, failed: bool) -> None:
        self._jobs.labels("failed" if failed else "done").inc()

    def queue_depth(self, depth: int) -> None:
        self._queue_depth.set(depth)

    def oldest_data_age(self, seconds: float | None) -> None:
        self._oldest.set(seconds or 0.0)

    def delivery(self, outcome: str, seconds: float) -> None:
        self._deliveries.labels(outcome).inc()
        self._delivery_seconds.observe(seconds)

    def webhook_disabled(self) -> None:
        self._disabled.inc()

    def oldest_undelivered_age(self, seconds: float | None) -> None:
        self._undelivered.set(seconds or 0.0)

    def stream_clients(self, transport: str, change: int) -> None:
        self._stream_clients.labels(transport).inc(change)
