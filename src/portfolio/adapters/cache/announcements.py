"""Announcements to every process on a Redis channel: a key was revoked, a portfolio changed.

Each process follows the channel and counts what it hears: something cached before the count
changed is not trusted after. While a process is not subscribed (Redis away, reconnecting) the
count is unknown (None) and nothing cached is trusted, so an announcement is never missed, only
looked up again."""

from __future__ import annotations

import asyncio
import contextlib

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError

from portfolio.adapters.resilience import Breaker

REVOCATIONS = "portfolio:api-keys:revoked"
PORTFOLIO_CHANGES = "portfolio:portfolio:changed"
RETRY_SECONDS = 1.0


class RedisAnnouncements:
    def __init__(self, client: Redis, channel: str, breaker: Breaker | None = None) -> None:
        """``breaker``: Redis's, so that a Redis that is away is not waited on for each
        announcement (DependencyDownError is raised at once)."""
        self._client = client
        self._channel = channel
        self._breaker = breaker
        self._heard: int | None = None
        self._task: asyncio.Task[None] | None = None

    def current(self) -> int | None:
        return self._heard

    async def announce(self) -> None:
        async with self._breaker.guard() if self._breaker else contextlib.nullcontext():
            await self._client.publish(self._channel, b"changed")

    def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name=f"following {self._channel}")

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
                await pubsub.subscribe(self._channel)
                count += 1  # what was cached while not listening is not trusted
                self._heard = count
                while True:
                    if await pubsub.get_message(timeout=1.0) is not None:
                        count += 1
                        self._heard = count
            except (RedisError, OSError, TimeoutError) as exc:
                self._heard = None
                logger.warning("not following {}: {}", self._channel, type(exc).__name__)
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # typed in redis 8.2


def redis_revocations(client: Redis, breaker: Breaker | None = None) -> RedisAnnouncements:
    return RedisAnnouncements(client, REVOCATIONS, breaker)


class NoRevocations:
    """Without Redis: nothing to follow, so nothing cached is trusted (each lookup reads the
    database, which a key command in another process writes)."""

    def current(self) -> int | None:
        return None

    async def announce(self) -> None:
        return None


class LocalAnnouncements:
    """One process with its own cache (no Redis): what it announces is all there is to hear."""

    def __init__(self) -> None:
        self._count = 0

    def current(self) -> int | None:
        return self._count

    async def announce(self) -> None:
        self._count += 1
