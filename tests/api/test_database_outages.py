"""PostgreSQL restarted and frozen under a real uvicorn under load: answers are 200s or 503s
with Retry-After, never 500s, and a frozen server holds no request past its deadlines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest

from tests.pgcluster import PostgresServer, private_postgres
from tests.server import Uvicorn, running_uvicorn, server_env

pytestmark = pytest.mark.slow

STATEMENT_TIMEOUT = 1.0
HEALTH_TIMEOUT = 1.0
READS = ["/api/v1/wallets", "/api/v1/portfolio", "/api/v1/portfolio/history", "/health/ready"]


@dataclass
class Outage:
    postgres: PostgresServer
    server: Uvicorn


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outage]:
    workdir = tmp_path_factory.mktemp("outage")
    with private_postgres() as postgres:
        asyncio.run(_create_database(postgres))
        url = postgres.url.rsplit("/", 1)[0] + "/portfolio"
        env = server_env(
            workdir,
            database_url=url,
            database_statement_timeout_seconds=str(STATEMENT_TIMEOUT),
            database_connect_timeout_seconds="1",
            health_timeout_seconds=str(HEALTH_TIMEOUT),
        )
        with running_uvicorn(env, workdir) as server:
            yield Outage(postgres, server)


async def _create_database(postgres: PostgresServer) -> None:
    connection = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{postgres.port}/postgres")
    try:
        await connection.execute("CREATE DATABASE portfolio")
    finally:
        await connection.close()


@dataclass
class Answer:
    path: str
    status: int
    seconds: float
    retry_after: str | None
    content_type: str


async def _hammer(client: httpx.AsyncClient, seconds: float, answers: list[Answer]) -> None:
    """Reads and writes in a loop for ``seconds``; every answer is kept."""
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        path = READS[n % len(READS)]
        started = time.monotonic()
        try:
            if n % 5 == 0:
                response = await client.post(
                    "/api/v1/wallets",
                    json={"chain": "ethereum", "address": f"0x{n:040x}"},
                )
                path = "POST /api/v1/wallets"
            else:
                response = await client.get(path)
        except httpx.TransportError as exc:
            pytest.fail(f"{path}: the server did not answer ({exc!r})")
        answers.append(
            Answer(
                path,
                response.status_code,
                time.monotonic() - started,
                response.headers.get("retry-after"),
                response.headers.get("content-type", ""),
            )
        )


async def _until_ready(server: Uvicorn, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        while time.monotonic() < deadline:
            if (await client.get("/health/ready")).status_code == 200:
                return
            await asyncio.sleep(0.2)
    pytest.fail("not ready again after the outage")


async def test_a_restart_under_load_answers_503s_never_500s(outage: Outage) -> None:
    answers: list[Answer] = []
    async with httpx.AsyncClient(base_url=outage.server.url, timeout=30) as client:
        load = [asyncio.create_task(_hammer(client, 8, answers)) for _ in range(6)]
        await asyncio.sleep(1.5)
        await asyncio.to_thread(outage.postgres.stop)
        await asyncio.sleep(1.5)
        await asyncio.to_thread(outage.postgres.start)
        await asyncio.gather(*load)
    statuses = {a.status for a in answers}
    assert 500 not in statuses, [a for a in answers if a.status == 500][:5]
    unavailable = [a for a in answers if a.status == 503]
    assert unavailable, "the outage was not seen: the test did not test anything"
    for answer in unavailable:
        if answer.path != "/health/ready":
            assert answer.retry_after is not None, answer
            assert answer.content_type == "application/problem+json", answer
    assert statuses <= {200, 201, 409, 503}, statuses
    await _until_ready(outage.server)
    assert outage.server.alive()


async def test_a_frozen_database_holds_no_request_past_its_deadlines(outage: Outage) -> None:
    await _until_ready(outage.server)
    answers: list[Answer] = []
    outage.postgres.freeze()
    try:
        async with httpx.AsyncClient(base_url=outage.server.url, timeout=60) as client:
            started = time.monotonic()
            health = await client.get("/health/ready")
            health_seconds = time.monotonic() - started
            await asyncio.gather(*(_hammer(client, 6, answers) for _ in range(4)))
    finally:
        outage.postgres.thaw()
    assert health.status_code == 503
    assert health_seconds < HEALTH_TIMEOUT + 0.75, health_seconds
    statuses = {a.status for a in answers}
    # 200s come from the cache (the rendered portfolio); whatever needs the database is a 503.
    assert 503 in statuses
    assert statuses <= {200, 503}, statuses
    slowest = max(a.seconds for a in answers)
    # A statement timeout (plus the connect timeout of a fresh connection) bounds each one.
    assert slowest < STATEMENT_TIMEOUT + 1 + 2.5, slowest
    await _until_ready(outage.server)
