"""Rate limits: a moving window per caller (its API key, or its address when keys are off),
counted in the shared store (Redis) so every process shares one budget.

Counting uses the ``limits`` library; this module only names who is counted and decides what
happens when the store cannot count (``fail_open``: let the request through, and say so in the
logs, rather than refuse every request while Redis is away)."""

from __future__ import annotations

import time
from contextlib import nullcontext

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from loguru import logger

from portfolio.adapters.resilience import Breaker
from portfolio.domain.errors import RateLimitedError


class LimitsRateLimiter:
    def __init__(
        self,
        limiter: MovingWindowRateLimiter,
        general: str,
        chain: str,
        *,
        fail_open: bool = True,
        breaker: Breaker | None = None,
    ) -> None:
        """``general`` for every API route, ``chain`` (stricter) for the routes that read the
        chains (fetch, refresh); both as ``limits`` strings such as ``600/minute``."""
        self._limiter = limiter
        self._limits: dict[str, RateLimitItem] = {"api": parse(general), "chain": parse(chain)}
        self._fail_open = fail_open
        self._breaker = breaker  # the shared store's: a frozen Redis is not waited on

    async def hit(self, kind: str, caller: str) -> None:
        """Count one request of ``caller``; RateLimitedError (with the time to wait) past the
        limit. The window is read only for a refusal, which keeps an allowed request to one
        call to the store (the hot path's cost)."""
        item = self._limits[kind]
        try:
            async with self._breaker.guard() if self._breaker else nullcontext():
                if await self._limiter.hit(item, kind, caller):
                    return
                stats = await self._limiter.get_window_stats(item, kind, caller)
        except Exception as exc:  # the store is away: whatever it raised (redis, limits)
            if not self._fail_open:
                raise RateLimitedError("Requests cannot be counted right now.", 5) from exc
            logger.warning("rate limits not counted: {}", type(exc).__name__)
            return
        reset = max(1, int(stats.reset_time - time.time() + 0.999))
        raise RateLimitedError(
            f"More than {item} requests; try again in {reset} s.", reset, item.amount
        )
