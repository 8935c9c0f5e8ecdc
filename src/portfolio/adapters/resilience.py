"""Calling what lives outside the process, for chains and price sources alike: a timeout on
every attempt, bounded jittered retries for transient failures only, a circuit breaker per
endpoint, and failover through the endpoints in order. ``Breaker`` puts an optional dependency
(the Redis cache) behind a circuit breaker so that, once it fails, callers stop waiting on it.

Retries come from tenacity and breakers from purgatory; this module only decides what is
transient and in which order endpoints are tried.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from loguru import logger
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from portfolio.adapters.redaction import Redactor
from portfolio.adapters.telemetry import PrometheusTelemetry
from portfolio.domain.errors import (
    ChainTimeoutError,
    ChainUnavailableError,
    ServiceUnavailableError,
)

C = TypeVar("C")
T = TypeVar("T")


class UpstreamError(Exception):
    """An endpoint gave an answer that cannot be used (malformed, short, an RPC error).
    Not retried on the same endpoint; the next endpoint is tried."""


class TransientUpstreamError(UpstreamError):
    """Worth retrying: connection trouble, HTTP 429 or 5xx, a rate-limit RPC error."""


class UpstreamTimeoutError(TransientUpstreamError):
    """The endpoint did not answer within the timeout."""


@dataclass(frozen=True, slots=True)
class CallPolicy:
    timeout_seconds: float = 10.0
    attempts: int = 3
    backoff_seconds: float = 0.2  # the first retry waits up to this, then it doubles
    backoff_max_seconds: float = 2.0
    breaker_threshold: int = 5  # failures in a row that open an endpoint's circuit
    breaker_ttl_seconds: float = 30.0  # how long an open circuit rejects calls
    telemetry: PrometheusTelemetry | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Endpoint(Generic[C]):
    url: str
    client: C


class EndpointPool(Generic[C]):
    """The endpoints of one chain, tried in order until one answers."""

    def __init__(
        self,
        name: str,
        endpoints: Sequence[Endpoint[C]],
        policy: CallPolicy,
        breakers: AsyncCircuitBreakerFactory | None = None,
        *,
        unavailable: type[ServiceUnavailableError] = ChainUnavailableError,
        timed_out: type[ServiceUnavailableError] = ChainTimeoutError,
        redactor: Redactor | None = None,
        kind: Literal["chain", "price"] = "chain",
    ) -> None:
        """``unavailable`` (or ``timed_out`` when every endpoint timed out) is raised when no
        endpoint answers. Endpoints are named by ``redactor`` (their URLs hold keys), and
        what they failed with is scrubbed by it."""
        if not endpoints:
            raise ValueError(f"{name}: at least one URL is needed")
        self._unavailable = unavailable
        self._timed_out = timed_out
        self.name = name
        self.endpoints = list(endpoints)
        self._redact = redactor or Redactor(e.url for e in self.endpoints)
        self.policy = policy
        self._breakers = breakers or AsyncCircuitBreakerFactory(
            default_threshold=policy.breaker_threshold, default_ttl=policy.breaker_ttl_seconds
        )
        self._kind = kind
        self._telemetry = policy.telemetry
        if self._telemetry is not None:
            self._breakers.add_listener(_breaker_listener(self._telemetry))

    def name_of(self, endpoint: Endpoint[C]) -> str:
        """The endpoint's redacted name, fit for logs, metrics and answers."""
        return self._redact.name(endpoint.url)

    def observed(
        self, endpoint: Endpoint[C], method: str, calls: int = 1
    ) -> AbstractAsyncContextManager[None]:
        """Count and time one HTTP request to ``endpoint`` carrying ``calls`` calls of
        ``method`` (for a chain's metrics)."""
        if self._telemetry is None:
            return nullcontext()
        return self._telemetry.rpc(self.name, method, self._redact.name(endpoint.url), calls)

    async def run(self, operation: Callable[[Endpoint[C]], Awaitable[T]]) -> T:
        """``operation`` on the first endpoint that completes it."""
        failures: list[str] = []
        timeouts = 0
        for endpoint in self.endpoints:
            name = self._redact.name(endpoint.url)
            breaker = await self._breakers.get_breaker(f"{self.name}:{name}")
            try:
                async with breaker:
                    return await self._attempts(operation, endpoint)
            except OpenedState:
                failures.append(f"{name}: circuit open")
            except UpstreamError as exc:
                timeouts += isinstance(exc, UpstreamTimeoutError)
                failure = f"{name}: {self._redact(str(exc))}"
                failures.append(failure)
                logger.warning("{} endpoint {}", self.name, failure)
        message = f"No {self.name} endpoint could be read ({'; '.join(failures)})."
        if timeouts == len(self.endpoints):
            raise self._timed_out(message)
        raise self._unavailable(message)

    async def _attempts(
        self, operation: Callable[[Endpoint[C]], Awaitable[T]], endpoint: Endpoint[C]
    ) -> T:
        policy = self.policy
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_random_exponential(
                multiplier=policy.backoff_seconds, max=policy.backoff_max_seconds
            ),
            retry=retry_if_exception_type(TransientUpstreamError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                try:
                    async with asyncio.timeout(policy.timeout_seconds):
                        result = await operation(endpoint)
                except TimeoutError as exc:
                    self._priced(exc)
                    raise UpstreamTimeoutError(
                        f"no answer within {policy.timeout_seconds}s"
                    ) from exc
                except Exception as exc:
                    self._priced(exc)
                    raise
                self._priced(None)
                return result
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _priced(self, error: BaseException | None) -> None:
        """A price source's request, counted (a chain's are counted per HTTP request)."""
        if self._kind == "price" and self._telemetry is not None:
            self._telemetry.price_request(self.name, None if error is None else failure_kind(error))


def failure_kind(error: BaseException) -> str:
    """What failed, in the few kinds of telemetry.PRICE_ERRORS."""
    if isinstance(error, UpstreamTimeoutError | TimeoutError):
        return "timeout"
    if isinstance(error, TransientUpstreamError):
        return "unavailable"
    if isinstance(error, UpstreamError | ValueError):
        return "malformed"
    if isinstance(error, DependencyDownError | ServiceUnavailableError):
        return "circuit-open"
    return "other"


def _breaker_listener(telemetry: PrometheusTelemetry) -> Any:
    """Circuit states for the metrics, as purgatory reports them."""

    def listen(name: str, event_type: str, event: Any) -> None:
        if event_type == "circuit_breaker_created":
            telemetry.breaker_state(name, "closed")
        elif event_type == "state_changed":
            telemetry.breaker_state(name, str(event.state))

    return listen


def describe(exc: BaseException) -> str:
    """An exception for a problem's detail: its kind and message, no repr internals."""
    message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class DependencyDownError(Exception):
    """An optional dependency failed, or its breaker is open and it was not asked."""


class Breaker:
    """A circuit breaker in front of an optional dependency. After ``threshold`` failures in a
    row it opens for ``ttl_seconds``: callers are told at once that the dependency is down
    instead of each waiting for its socket timeout (a frozen Redis would otherwise hold every
    request for seconds). Then one call probes it again."""

    def __init__(
        self,
        name: str,
        errors: tuple[type[BaseException], ...],
        *,
        threshold: int = 3,
        ttl_seconds: float = 5.0,
        telemetry: PrometheusTelemetry | None = None,
    ) -> None:
        self.name = name
        self._errors = errors
        self._breakers = AsyncCircuitBreakerFactory(
            default_threshold=threshold, default_ttl=ttl_seconds
        )
        if telemetry is not None:
            self._breakers.add_listener(_breaker_listener(telemetry))

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Run the block against the dependency; DependencyDownError when it fails or when
        the circuit is open (the block does not run then)."""
        breaker = await self._breakers.get_breaker(self.name)
        try:
            async with breaker:
                yield
        except OpenedState as exc:
            raise DependencyDownError(f"{self.name}: circuit open") from exc
        except self._errors as exc:
            logger.warning("{} failed: {}", self.name, describe(exc))
            raise DependencyDownError(f"{self.name}: {describe(exc)}") from exc
