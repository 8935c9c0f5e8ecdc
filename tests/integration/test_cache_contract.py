"""One contract for every Cache: in memory and on the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from redis.asyncio import Redis

from portfolio.adapters.cache.memory import MemoryCache
from portfolio.adapters.cache.redis_cache import RedisCache
from portfolio.adapters.cache.redis_client import create_redis
from portfolio.domain.errors import LockTimeoutError
from portfolio.ports.cache import Cache

REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    client = create_redis(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest, redis_client: Redis) -> Cache:
    if request.param == "memory":
        return MemoryCache()
    return RedisCache(redis_client, prefix=f"test:{uuid4()}:")


async def test_a_value_comes_back_until_deleted(cache: Cache) -> None:
    assert await cache.get("k") is None
    await cache.set("k", b"\x00value", 60)
    assert await cache.get("k") == b"\x00value"
    await cache.delete("k")
    assert await cache.get("k") is None


async def test_a_value_expires(cache: Cache) -> None:
    await cache.set("k", b"v", 0.05)
    await asyncio.sleep(0.15)
    assert await cache.get("k") is None


async def test_the_lock_lets_one_holder_in_at_a_time(cache: Cache) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()
    order: list[str] = []

    async def first() -> None:
        async with cache.lock("w", ttl_seconds=10, wait_seconds=5):
            order.append("first in")
            inside.set()
            await release.wait()
            order.append("first out")

    async def second() -> None:
        await inside.wait()
        async with cache.lock("w", ttl_seconds=10, wait_seconds=5):
            order.append("second in")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await inside.wait()
    await asyncio.sleep(0.05)  # give the second a chance to (wrongly) get in
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "first out", "second in"]


async def test_waiting_too_long_for_the_lock_is_an_error(cache: Cache) -> None:
    async with cache.lock("w", ttl_seconds=10, wait_seconds=1):
        with pytest.raises(LockTimeoutError):
            async with cache.lock("w", ttl_seconds=10, wait_seconds=0.1):
                pass
    async with cache.lock("w", ttl_seconds=10, wait_seconds=0.1):
        pass


async def test_two_redis_clients_share_one_lock() -> None:
    prefix = f"test:{uuid4()}:"
    one, two = create_redis(REDIS_URL), create_redis(REDIS_URL)
    try:
        async with RedisCache(one, prefix).lock("w", ttl_seconds=10, wait_seconds=1):
            with pytest.raises(LockTimeoutError):
                async with RedisCache(two, prefix).lock("w", ttl_seconds=10, wait_seconds=0.1):
                    pass
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_redis_that_is_gone_is_a_miss_not_a_failure() -> None:
    client = create_redis("redis://127.0.0.1:1/0", timeout=0.5)
    cache = RedisCache(client)
    try:
        await cache.set("k", b"v", 60)
        assert await cache.get("k") is None
        await cache.delete("k")
        async with cache.lock("w", ttl_seconds=10, wait_seconds=1):
            with pytest.raises(LockTimeoutError):  # the local fallback still excludes
                async with cache.lock("w", ttl_seconds=10, wait_seconds=0.1):
                    pass
    finally:
        await client.aclose()


async def test_many_values_at_once(cache: Cache) -> None:
    await cache.set_many({"a": b"1", "b": b"2"}, 60)
    assert await cache.get_many(["a", "missing", "b"]) == {"a": b"1", "b": b"2"}
    assert await cache.get_many([]) == {}
    await cache.delete_many(["a", "missing"])
    assert await cache.get_many(["a", "b"]) == {"b": b"2"}
