"""What both price sources share: pacing under a public rate limit, and checked JSON."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
from limits import parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from portfolio.adapters.resilience import (
    Breaker,
    CallPolicy,
    DependencyDownError,
    Endpoint,
    EndpointPool,
    TransientUpstreamError,
    UpstreamError,
    UpstreamTimeoutError,
    describe,
)
from portfolio.domain.errors import PriceUnavailableError


class Pacer:
    """Waits before a request until the source's rate limit allows it (counted by ``limits``;
    in Redis when the storage is Redis, so every process shares one budget). While the shared
    storage is down (``breaker`` open), the budget is counted in this process instead."""

    def __init__(
        self,
        name: str,
        rate: str,
        storage: Storage | None = None,
        breaker: Breaker | None = None,
    ) -> None:
        self._name = name
        self._rate = parse(rate)
        self._limiter = MovingWindowRateLimiter(storage or MemoryStorage())
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._breaker = breaker

    async def wait(self, max_wait: float) -> None:
        deadline = time.monotonic() + max_wait
        while True:
            try:
                async with self._shared():
                    delay = await self._delay(self._limiter)
            except DependencyDownError:
                delay = await self._delay(self._local)
            if delay is None:
                return
            if time.monotonic() + delay > deadline:
                raise TransientUpstreamError(f"{self._name}: over its rate limit for {max_wait}s")
            await asyncio.sleep(delay)

    def _shared(self) -> AbstractAsyncContextManager[None]:
        return nullcontext() if self._breaker is None else self._breaker.guard()

    async def _delay(self, limiter: MovingWindowRateLimiter) -> float | None:
        """None when a request may go now (and it is counted); else how long to wait."""
        if await limiter.hit(self._rate, self._name):
            return None
        stats = await limiter.get_window_stats(self._rate, self._name)
        return max(0.05, stats.reset_time - time.time())


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """The JSON body of a GET, numbers as exact Decimals."""
    try:
        response = await client.get(url, params=params, headers=headers)
    except httpx.TimeoutException as exc:
        raise UpstreamTimeoutError(f"timed out ({describe(exc)})") from exc
    except httpx.TransportError as exc:
        raise TransientUpstreamError(f"connection failed ({describe(exc)})") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientUpstreamError(f"HTTP {response.status_code}")
    if response.status_code >= 300:  # a redirect too: not followed, the request carries a key
        raise UpstreamError(f"HTTP {response.status_code}")
    try:
        return json.loads(response.text, parse_float=Decimal)
    except ValueError as exc:
        raise UpstreamError(f"malformed answer: {exc}") from exc


def as_price(value: Any) -> Decimal | None:
    """A usable USD price (a finite number >= 0), else None."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        return None
    try:
        price = Decimal(value)
    except InvalidOperation:
        return None
    return price if price.is_finite() and price >= 0 else None


def as_fraction(percent: Any) -> Decimal | None:
    """A percentage change as a fraction (``-1.23`` -> ``-0.0123``)."""
    change = as_price(abs(percent)) if isinstance(percent, int | Decimal) else None
    if change is None:
        return None
    return Decimal(percent) / 100


def as_time(timestamp: Any, default: datetime) -> datetime:
    if isinstance(timestamp, int | Decimal) and not isinstance(timestamp, bool) and timestamp > 0:
        return datetime.fromtimestamp(int(timestamp), UTC)
    return default


def price_pool(
    name: str, base_url: str, client: httpx.AsyncClient, policy: CallPolicy
) -> EndpointPool[httpx.AsyncClient]:
    """One price source's endpoint with the chains' retries and breaker; failures are
    PriceUnavailableError."""
    return EndpointPool(
        name,
        [Endpoint(base_url, client)],
        policy,
        unavailable=PriceUnavailableError,
        timed_out=PriceUnavailableError,
        kind="price",
    )
