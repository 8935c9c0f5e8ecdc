"""The Redis cache: shared by every API process, so its lock gives single flight across them.

A cache that is gone must not fail a read: errors become misses (and a process-local lock),
logged once per failure.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError

from portfolio.adapters.cache.memory import KeyedLocks
from portfolio.domain.errors import LockTimeoutError


class RedisCache:
    def __init__(self, client: Redis, prefix: str = "portfolio:") -> None:
        self._redis = client
        self._prefix = prefix
        self._local_locks = KeyedLocks()

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(self._prefix + key)
        except RedisError as exc:
            logger.warning("cache read failed, reading through: {!r}", exc)
            return None
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        try:
            await self._redis.set(self._prefix + key, value, px=max(1, int(ttl_seconds * 1000)))
        except RedisError as exc:
            logger.warning("cache write failed: {!r}", exc)

    async def delete(self, key: str) -> None:
        try:
            await self._redis.delete(self._prefix + key)
        except RedisError as exc:
            logger.warning("cache delete failed: {!r}", exc)

    async def delete_many(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        try:
            await self._redis.delete(*(self._prefix + key for key in keys))
        except RedisError as exc:
            logger.warning("cache delete failed: {!r}", exc)

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        if not keys:
            return {}
        try:
            values = await self._redis.mget([self._prefix + key for key in keys])
        except RedisError as exc:
            logger.warning("cache read failed, reading through: {!r}", exc)
            return {}
        return {
            key: value.encode() if isinstance(value, str) else bytes(value)
            for key, value in zip(keys, values, strict=True)
            if value is not None
        }

    async def set_many(self, items: Mapping[str, bytes], ttl_seconds: float) -> None:
        if not items:
            return
        milliseconds = max(1, int(ttl_seconds * 1000))
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(self._prefix + key, value, px=milliseconds)
                await pipe.execute()
        except RedisError as exc:
            logger.warning("cache write failed: {!r}", exc)

    def lock(
        self, key: str, *, ttl_seconds: float, wait_seconds: float
    ) -> AbstractAsyncContextManager[None]:
        return self._hold(key, ttl_seconds, wait_seconds)

    @asynccontextmanager
    async def _hold(self, key: str, ttl: float, wait: float) -> AsyncIterator[None]:
        lock = self._redis.lock(f"{self._prefix}lock:{key}", timeout=ttl, blocking_timeout=wait)
        try:
            acquired = await lock.acquire()
        except RedisError as exc:
            logger.warning("cache lock failed, locking in this process only: {!r}", exc)
            async with self._local_locks.hold(key, wait):
                yield
            return
        if not acquired:
            raise LockTimeoutError(f"Still busy with {key}; try again shortly.")
        try:
            yield
        finally:
            try:
                await lock.release()
            except (LockError, RedisError) as exc:  # expired meanwhile, or Redis went away
                logger.warning("cache lock release failed: {!r}", exc)
