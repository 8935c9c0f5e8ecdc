"""A result recent enough: an async call's result reused for a few seconds, and one run shared
by every caller that comes while it runs (probes and scrapes, unauthenticated and many, cost
the database one query per interval, not one each)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Recent(Generic[T]):
    def __init__(
        self,
        call: Callable[[], Awaitable[T]],
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._call = call
        self._seconds = seconds
        self._clock = clock
        self._result: tuple[T, float] | None = None  # the result and when it stops serving
        self._running: asyncio.Future[T] | None = None

    async def get(self) -> T:
        """The last result if younger than ``seconds``; else the result of a run, the one in
        progress if any. A run that raises is not kept: the next caller runs it again."""
        if self._result is not None and self._clock() < self._result[1]:
            return self._result[0]
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
        # Shielded: a caller that gives up (its own deadline) leaves the run to the others.
        return await asyncio.shield(self._running)

    async def _run(self) -> T:
        try:
            result = await self._call()
            self._result = (result, self._clock() + self._seconds)
            return result
        finally:
            self._running = None
