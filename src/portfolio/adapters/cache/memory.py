"""The in-process cache of the embedded default (one process, so its locks are enough)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from portfolio.domain.errors import LockTimeoutError


class KeyedLocks:
    """One asyncio.Lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str, wait_seconds: float) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            try:
                async with asyncio.timeout(wait_seconds):
                    await lock.acquire()
            except TimeoutError as exc:
                raise LockTimeoutError(f"Still busy with {key}; try again shortly.") from exc
            try:
                yield
            finally:
                lock.release()
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class MemoryCache:
    """Entries with their own lifetimes, bounded by count and by bytes: expired ones are swept
    at most every SWEEP_SECONDS (a rendered portfolio never read again would otherwise stay),
    and past a bound the least recently written go first. A dict in write order does both in a
    few lines; cachetools' caches give one lifetime to all entries or count items, not bytes."""

    SWEEP_SECONDS = 1.0

    def __init__(self, max_entries: int = 100_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._entries: dict[str, tuple[bytes, float]] = {}
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._swept = time.monotonic()
        self._locks = KeyedLocks()

    @property
    def size_bytes(self) -> int:
        """The bytes of the values held (keys and bookkeeping aside)."""
        return self._bytes

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires <= time.monotonic():
            self._drop(key)
            return None
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        now = time.monotonic()
        self._drop(key)  # written again: to the end of the order
        self._entries[key] = (value, now + ttl_seconds)
        self._bytes += len(value)
        if now - self._swept >= self.SWEEP_SECONDS:
            self._sweep(now)
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))  # the least recently written

    async def delete(self, key: str) -> None:
        self._drop(key)

    async def delete_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._drop(key)

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        found = {key: await self.get(key) for key in keys}
        return {key: value for key, value in found.items() if value is not None}

    async def set_many(self, items: Mapping[str, bytes], ttl_seconds: float) -> None:
        for key, value in items.items():
            await self.set(key, value, ttl_seconds)

    def lock(
        self, key: str, *, ttl_seconds: float, wait_seconds: float
    ) -> AbstractAsyncContextManager[None]:
        return self._locks.hold(key, wait_seconds)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[0])

    def _sweep(self, now: float) -> None:
        self._swept = now
        for key in [k for k, (_, expires) in self._entries.items() if expires <= now]:
            self._drop(key)
