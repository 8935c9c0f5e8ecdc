"""Rate limits, counted where every process sees them."""

from __future__ import annotations

from typing import Protocol


class RateLimits(Protocol):
    async def hit(self, kind: str, caller: str) -> None:
        """Count one request of ``caller`` against the ``kind`` of limit (``api``, ``chain``
        for routes that read the chains, ``auth`` for failed authentications). Raises
        RateLimitedError past the limit; returns when the request may go (or could not be
        counted and the limits let it through)."""

    async def refuse_if_spent(self, kind: str, caller: str) -> None:
        """RateLimitedError when ``caller`` has nothing left of ``kind``; counts nothing."""
