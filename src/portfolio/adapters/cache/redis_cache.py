"""The Redis cache: shared by every API process, so its lock gives single flight across them.

A cache that is gone must not fail a read, nor slow it: every call goes through a circuit
breaker, errors become misses (and a process-local lock), and once Redis has failed a few times
in a row it is not asked at all for a while, so a frozen Redis costs its timeout a few times,
not on every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError

from portfolio.adapters.cache.memory import KeyedLocks
from portfolio.adapters.resilience import Breaker, DependencyDownError
from portfolio.adapters.telemetry import PrometheusTelemetry
from portfolio.domain.errors import LockTimeoutError

REDIS_ERRORS = (RedisError, OSError, TimeoutError)


def redis_breaker(telemetry: PrometheusTelemetry | None = None) -> Breaker:
    return Breaker("redis", REDIS_ERRORS, telemetry=telemetry)


class RedisCache:
    def __init__(
        self, client: Redis, prefix: str = "portfolio:", breaker: Breaker | None = None
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._breaker = breaker or redis_breaker()
        self._local_locks = KeyedLocks()

    async def get(self, key: str) -> bytes | None:
        try:
            async with self._breaker.guard():
                value = await self._redis.get(self._prefix + key)
        except DependencyDownError:
            return None
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None:
        try:
            async with self._breaker.guard():
                await self._redis.set(self._prefix + key, value, px=_ms(ttl_seconds))
        except DependencyDownError:
            return

    async def delete(self, key: str) -> None:
        await self.delete_many([key])

    async def delete_many(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        try:
            async with self._breaker.guard():
                await self._redis.delete(*(self._prefix + key for key in keys))
        except DependencyDownError:
            return

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        if not keys:
            return {}
        try:
            async with self._breaker.guard():
                values = await self._redis.mget([self._prefix + key for key in keys])
        except DependencyDownError:
            return {}
        return {
            key: value.encode() if isinstance(value, str) else bytes(value)
            for key, value in zip(keys, values, strict=True)
            if value is not None
        }

    async def set_many(self, items: Mapping[str, bytes], ttl_seconds: float) -> None:
        if not items:
            return
        try:
            async with self._breaker.guard(), self._redis.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(self._prefix + key, value, px=_ms(ttl_seconds))
                await pipe.execute()
        except DependencyDownError:
            return

    def lock(
        self, key: str, *, ttl_seconds: float, wait_seconds: float
    ) -> AbstractAsyncContextManager[None]:
        return self._hold(key, ttl_seconds, wait_seconds)

    @asynccontextmanager
    async def _hold(self, key: str, ttl: float, wait: float) -> AsyncIterator[None]:
        lock = self._redis.lock(f"{self._prefix}lock:{key}", timeout=ttl, blocking_timeout=wait)
        try:
            async with self._breaker.guard():
                acquired = await lock.acquire()
        except DependencyDownError:
            logger.warning("cache lock unavailable, locking {} in this process only", key)
            async with self._local_locks.hold(key, wait):
                yield
            return
        if not acquired:
            raise LockTimeoutError(f"Still busy with {key}; try again shortly.")
        try:
            yield
        finally:
            # Released whatever the breaker says: a lock left to its ttl keeps its key (a
            # wallet) from every other reader for that long. One call, bounded by the client's
            # timeout; if Redis cannot take it, the lock frees itself after its ttl.
            try:
                await lock.release()
            except LockError as exc:  # expired meanwhile: not a failure of Redis
                logger.warning("cache lock release failed: {!r}", exc)
            except REDIS_ERRORS as exc:
                logger.warning("cache lock not released, it expires: {}", type(exc).__name__)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
