"""Revocations of API keys, announced to every process on a Redis channel.

Each process follows the channel and counts what it hears: a key cached before the count changed
is not trusted after. While a process is not subscribed (Redis away, reconnecting) the count is
unknown and nothing cached is trusted, so a revocation is never missed, only looked up."""

from __future__ import annotations

import asyncio
import contextlib

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

CHANNEL = "portfolio:api-keys:revoked"
RETRY_SECONDS = 1.0


class RedisRevocations:
    def __init__(self, client: Redis) -> None:
        self._client = client
        self._heard: int | None = None
        self._task: asyncio.Task[None] | None = None

    def current(self) -> int | None:
        return self._heard

    async def announce(self) -> None:
        await self._client.publish(CHANNEL, b"revoked")

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="api-key revocations")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self) -> None:
        count = 0
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                count += 1  # what was cached while not listening is not trusted
                self._heard = count
                while True:
                    if await pubsub.get_message(timeout=1.0) is not None:
                        count += 1
                        self._heard = count
            except (RedisError, OSError, TimeoutError) as exc:
                self._heard = None
                logger.warning("not following key revocations: {}", type(exc).__name__)
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


class NoRevocations:
    """Without Redis: nothing to follow, so nothing cached is trusted (each lookup reads the
    database, which a key command in another process writes)."""

    def current(self) -> int | None:
        return None

    async def announce(self) -> None:
        return None
