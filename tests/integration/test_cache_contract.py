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
from portfolio.api.rendered import RenderedDocument
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


async def test_the_memory_cache_is_bounded_by_bytes_and_sweeps_what_expired() -> None:
    """2,000 renderings of a 100 KB portfolio, each changed before the next (a new ETag, a new
    body key): the process keeps at most its byte budget, and what expired goes though never
    read again."""
    cache = MemoryCache(max_bytes=4 * 1024 * 1024)
    document = RenderedDocument(cache, "summary", 60)
    for n in range(2_000):
        body = n.to_bytes(4, "big") * 25_000  # 100 KB

        async def render(body: bytes = body) -> bytes:
            return body

        assert (await document.get("alpha", render)).body == body
        await document.portfolio_changed("alpha")
    assert cache.size_bytes <= 4 * 1024 * 1024  # was 200 MB

    short = MemoryCache()
    short.SWEEP_SECONDS = 0.0
    await short.set("old", b"x" * 1000, 0.01)
    await asyncio.sleep(0.02)
    await short.set("new", b"y", 60)  # a write sweeps: "old" goes without being read
    assert short.size_bytes == 1
    assert await short.get("new") == b"y"
