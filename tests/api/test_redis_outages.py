"""Redis frozen (SIGSTOP) under a real uvicorn under load: reads keep answering from the
database at about their speed once the cache's breaker opens, and readiness stays 200."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.redisserver import RedisServer, private_redis
from tests.server import Uvicorn, running_uvicorn, server_env

pytestmark = pytest.mark.slow

REDIS_TIMEOUT = 1.0
CONCURRENCY = 8


@dataclass
class Setup:
    redis: RedisServer
    server: Uvicorn
    wallets: list[str]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    workdir = tmp_path_factory.mktemp("redis-outage")
    with private_redis() as redis:
        env = server_env(workdir, redis_url=redis.url, redis_timeout_seconds=str(REDIS_TIMEOUT))
        with running_uvicorn(env, workdir) as server, httpx.Client(base_url=server.url) as client:
            wallets = [
                client.post(
                    "/api/v1/wallets", json={"chain": "ethereum", "address": f"0x{n:040x}"}
                ).json()["id"]
                for n in range(1, 6)
            ]
            yield Setup(redis, server, wallets)


async def _reads(setup: Setup, seconds: float) -> list[tuple[int, float]]:
    """(status, seconds) of every read made by CONCURRENCY clients for ``seconds``."""
    answers: list[tuple[int, float]] = []
    paths = [f"/api/v1/wallets/{w}/balances" for w in setup.wallets] + ["/api/v1/portfolio"]

    async def worker(client: httpx.AsyncClient, offset: int) -> None:
        deadline = time.monotonic() + seconds
        n = offset
        while time.monotonic() < deadline:
            n += 1
            started = time.monotonic()
            response = await client.get(paths[n % len(paths)])
            answers.append((response.status_code, time.monotonic() - started))

    async with httpx.AsyncClient(base_url=setup.server.url, timeout=30) as client:
        await asyncio.gather(*(worker(client, i) for i in range(CONCURRENCY)))
    return answers


async def test_reads_keep_their_pace_while_redis_is_frozen(setup: Setup) -> None:
    normal = await _reads(setup, 3)
    setup.redis.freeze()
    try:
        opening = await _reads(setup, 1.5)  # the first calls wait for Redis; the breaker opens
        frozen = await _reads(setup, 3)
        async with httpx.AsyncClient(base_url=setup.server.url, timeout=30) as client:
            started = time.monotonic()
            ready = await client.get("/health/ready")
            ready_seconds = time.monotonic() - started
    finally:
        setup.redis.thaw()
    assert {status for status, _ in normal} == {200}
    assert {status for status, _ in opening + frozen} == {200}
    # Only the calls before the breaker opened waited for Redis; the rest went straight on
    # (to the database: slower than the cache, far from the 5-9 req/s of waiting on Redis).
    waited = [s for _, s in opening + frozen if s >= REDIS_TIMEOUT * 0.9]
    assert len(waited) <= 3 * CONCURRENCY, (len(waited), len(frozen))
    assert len(frozen) >= 0.3 * len(normal), (len(frozen), len(normal))
    # Redis is optional: readiness stays 200 and says warn, within its deadline.
    assert ready.status_code == 200
    assert ready.json()["status"] == "warn"
    assert ready.json()["checks"]["redis"]["status"] == "fail"
    assert ready_seconds < 3
    assert setup.server.alive()
