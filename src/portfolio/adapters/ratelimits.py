"""Rate limits: a moving window per caller (its API key, or its address when keys are off),
counted in the shared store (Redis) so every process shares one budget.

Counting uses the ``limits`` library; this module names who is counted, decides what happens
when the store cannot count (``fail_open``: let the request through, and say so in the logs,
rather than refuse every request while Redis is away), and keeps a busy caller off the store's
hot path with reservations.

A reservation: a process that sees a caller use up what it counted asks the store for a few
requests at once (``cost=n``, one call) and lets the next ones through from memory for up to
``LEASE_SECONDS``. The size doubles while reservations are used up (across leases, unless the
caller paused for a whole lease), up to 1/50 of the limit
(so a limit of 30 a minute is counted one by one), and falls back to 1 near the limit. The
window is always counted ahead, never behind: a caller is never let through more than the
limit (give or take requests reserved less than a lease ago), and may be refused up to one
reservation early after slowing down. ``limits`` has no such batching, hence this code."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from dataclasses import dataclass

from limits import RateLimitItem, WindowStats, parse
from limits.aio.strategies import MovingWindowRateLimiter
from loguru import logger

from portfolio.adapters.resilience import Breaker
from portfolio.domain.errors import RateLimitedError

LEASE_SECONDS = 1.0
MAX_RESERVATION = 64
RESERVATION_SHARE = 50  # a reservation is at most 1/50 of the limit
_SWEEP_EVERY = 4096  # reservations made between sweeps of the expired ones


@dataclass(slots=True)
class _Lease:
    left: int  # requests this process may still let through without asking the store
    until: float  # monotonic time the reservation ends
    size: int  # how many the last reservation asked for


class LimitsRateLimiter:
    def __init__(
        self,
        limiter: MovingWindowRateLimiter,
        general: str | None,
        chain: str | None,
        *,
        auth: str | None = None,
        fail_open: bool = True,
        breaker: Breaker | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``general`` for every API route, ``chain`` (stricter) for the routes that read the
        chains (fetch, refresh), ``auth`` for failed authentications; each as a ``limits``
        string such as ``600/minute``, or None for no limit of that kind."""
        self._limiter = limiter
        given = {"api": general, "chain": chain, "auth": auth}
        self._limits: dict[str, RateLimitItem] = {
            kind: parse(rate) for kind, rate in given.items() if rate is not None
        }
        self._fail_open = fail_open
        self._breaker = breaker  # the shared store's: a frozen Redis is not waited on
        self._leases: dict[tuple[str, str], _Lease] = {}
        self._made = 0
        self._clock = clock

    async def hit(self, kind: str, caller: str) -> None:
        """Count one request of ``caller``; RateLimitedError (with the time to wait) past the
        limit. The window is read only for a refusal, which keeps an allowed request to one
        call to the store at most (none while a reservation lasts)."""
        if kind not in self._limits:
            return
        now = self._clock()
        lease = self._leases.get((kind, caller))
        if lease is not None and lease.left > 0 and now < lease.until:
            lease.left -= 1
            return
        item = self._limits[kind]
        size = self._next_size(item, lease, now)

        async def count() -> WindowStats | None:
            nonlocal size
            allowed = await self._limiter.hit(item, kind, caller, cost=size)
            if not allowed and size > 1:  # near the limit: one by one
                size = 1
                allowed = await self._limiter.hit(item, kind, caller)
            if allowed:
                self._reserve((kind, caller), _Lease(size - 1, now + LEASE_SECONDS, size))
                return None
            return await self._limiter.get_window_stats(item, kind, caller)

        stats = await self._in_store(count)
        if stats is not None:
            self._leases.pop((kind, caller), None)
            raise _refused(item, stats, "requests")

    async def refuse_if_spent(self, kind: str, caller: str) -> None:
        """RateLimitedError when ``caller`` has nothing left of ``kind``, counting nothing (a
        failed authentication is counted once it has failed, and refused before it is tried
        again)."""
        item = self._limits.get(kind)
        if item is None:
            return

        async def look() -> WindowStats | None:
            if await self._limiter.test(item, kind, caller):
                return None
            return await self._limiter.get_window_stats(item, kind, caller)

        stats = await self._in_store(look)
        if stats is not None:
            raise _refused(item, stats, "failed authentications")

    async def _in_store(
        self, ask: Callable[[], Awaitable[WindowStats | None]]
    ) -> WindowStats | None:
        """``ask`` of the store (behind its breaker): the window of a refusal, or None to let
        the request go. A store that is away lets it go too (and says so), unless the limits
        fail closed."""
        try:
            async with self._breaker.guard() if self._breaker else nullcontext():
                return await ask()
        except Exception as exc:  # the store is away: whatever it raised (redis, limits)
            if not self._fail_open:
                raise RateLimitedError("Requests cannot be counted right now.", 5) from exc
            logger.warning("rate limits not counted: {}", type(exc).__name__)
            return None

    @staticmethod
    def _next_size(item: RateLimitItem, lease: _Lease | None, now: float) -> int:
        """Double the last reservation if it was used up (a caller that keeps coming keeps
        its size from one lease to the next); start at 1 after a pause, or after a lease that
        ended unused."""
        cap = min(MAX_RESERVATION, max(1, item.amount // RESERVATION_SHARE))
        if lease is None or lease.left > 0 or now >= lease.until + LEASE_SECONDS:
            return 1
        return min(cap, lease.size * 2)

    def _reserve(self, key: tuple[str, str], lease: _Lease) -> None:
        current = self._leases.get(key)
        if current is not None and current.until > self._clock():
            lease.left += current.left  # another request of the caller reserved meanwhile
        self._leases[key] = lease
        self._made += 1
        if self._made % _SWEEP_EVERY == 0:  # callers that went away take no memory
            now = self._clock()
            for stale in [k for k, v in self._leases.items() if v.until <= now]:
                del self._leases[stale]


def _refused(item: RateLimitItem, stats: WindowStats, what: str) -> RateLimitedError:
    reset = max(1, int(stats.reset_time - time.time() + 0.999))
    return RateLimitedError(f"More than {item} {what}; try again in {reset} s.", reset, item.amount)
