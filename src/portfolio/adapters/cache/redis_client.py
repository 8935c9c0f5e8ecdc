"""The shared Redis connection pool and its readiness check."""

from __future__ import annotations

from redis.asyncio import Redis


def create_redis(url: str, *, timeout: float = 2.0, max_connections: int = 50) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        max_connections=max_connections,
        health_check_interval=30,
    )


class RedisHealthCheck:
    name = "redis"

    def __init__(self, client: Redis) -> None:
        self._client = client

    async def check(self) -> None:
        await self._client.ping()
