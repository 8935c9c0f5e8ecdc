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
    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: dict[str, tuple[bytes, float]] = {}
        self._max_entries = max_entries
        self._locks = KeyedLocks()

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        if len(self._entries) >= self._max_entries:
            self._evict()
        self._entries[key] = (value, time.monotonic() + ttl_seconds)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    async def delete_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._entries.pop(key, None)

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

    def _evict(self) -> None:
        now = time.monotonic()
        for key in [k for k, (_, expires) in self._entries.items() if expires <= now]:
            del self._entries[key]
        while len(self._entries) >= self._max_entries:  # still full: drop the oldest entries
            del self._entries[next(iter(self._entries))]
