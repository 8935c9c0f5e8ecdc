"""Rate limits, counted where every process sees them."""

from __future__ import annotations

from typing import Protocol

from portfolio.domain.limits import Quota


class RateLimits(Protocol):
    async def hit(self, kind: str, caller: str) -> Quota | None:
        """Count one request of ``caller`` against the ``kind`` of limit (``api``, or
        ``chain`` for routes that read the chains). Raises RateLimitedError past the limit.
        A quota when the store tells it cheaply; None otherwise (and when the requests could
        not be counted and the limits let them through)."""
