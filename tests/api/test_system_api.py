"""Health, readiness under failing dependencies, metrics, request ids, logs and 500s."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID, uuid4

import httpx
import pytest
from loguru import logger
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.cache.memory import MemoryCache
from portfolio.api.rendered import RenderedDocument
from portfolio.api.services import Services
from portfolio.domain.wallet import Wallet
from portfolio.main.app import create_app
from portfolio.services.balance_cache import BalanceCache
from portfolio.services.balances import BalanceService
from portfolio.services.fetching import FetchService, Stores
from portfolio.services.health import HealthService
from portfolio.services.history import HistoryService
from portfolio.services.portfolio import PortfolioService
from portfolio.services.prices import NoPricing
from portfolio.services.wallets import WalletService
from tests.api.conftest import serve, settings_for
from tests.fakes import (
    FakeBalanceRepository,
    FakeClock,
    FakeHistoryRepository,
    FakeWalletRepository,
    PassingHealthCheck,
)
from tests.proxy import TcpProxy

LOWER = "0xd8da6bf26964af9d7eed9e03e53415d37aa96045"


async def test_live_and_ready_answer_200(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/health/live", "/health/live"):
        assert (await client.get(path)).json() == {"status": "pass"}
    for path in ("/api/v1/health/ready", "/health/ready"):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.json()["checks"]["database"]["status"] == "pass"


@pytest.fixture
async def postgres_proxy(postgres_engine: AsyncEngine) -> AsyncIterator[TcpProxy]:
    url = postgres_engine.url
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.stop()


async def test_with_postgres_gone_ready_is_503_live_is_200_and_reads_are_503(
    postgres_url: str, postgres_proxy: TcpProxy
) -> None:
    url = make_url(postgres_url).set(port=postgres_proxy.port)
    settings = settings_for(
        url.render_as_string(hide_password=False),
        health_timeout_seconds=1,
        database_connect_timeout_seconds=1,
    )
    async with serve(create_app(settings)) as client:
        created = await client.post("/api/v1/wallets", json={"chain": "ethereum", "address": LOWER})
        assert created.status_code == 201
        assert (await client.get("/health/ready")).status_code == 200

        await postgres_proxy.stop()
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["status"] == "fail"
        assert (await client.get("/health/live")).status_code == 200
        detail = await client.get("/api/v1/health")
        assert (detail.status_code, detail.json()["status"]) == (503, "fail")
        for response in (
            await client.get(f"/api/v1/wallets/{created.json()['id']}"),
            await client.get("/api/v1/wallets"),
            await client.post("/api/v1/wallets", json={"chain": "ethereum", "address": LOWER}),
        ):
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"].isdigit()
            assert "Traceback" not in response.text
            assert "asyncpg" not in response.text

        await postgres_proxy.start()
        assert (await client.get("/health/ready")).status_code == 200
        again = await client.get(f"/api/v1/wallets/{created.json()['id']}")
        assert again.json() == created.json()


async def test_a_configured_redis_down_warns_but_stays_ready(sqlite_url: str) -> None:
    up = settings_for(sqlite_url, redis_url="redis://127.0.0.1:6379/15")
    async with serve(create_app(up)) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["checks"]["redis"]["status"] == "pass"
    down = settings_for(sqlite_url, redis_url="redis://127.0.0.1:1/0")
    async with serve(create_app(down)) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "warn"
        detail = await client.get("/api/v1/health")
        assert detail.status_code == 200
        assert detail.json()["status"] == "warn"
        assert detail.json()["checks"]["redis"]["status"] == "fail"
        assert (await client.get("/api/v1/wallets")).status_code == 200


async def test_metrics_are_labelled_by_route_template(client: httpx.AsyncClient) -> None:
    wallet_id = (
        await client.post("/api/v1/wallets", json={"chain": "ethereum", "address": LOWER})
    ).json()["id"]
    await client.get(f"/api/v1/wallets/{wallet_id}")
    await client.get(f"/api/v1/wallets/{uuid4()}")
    await client.get(f"/no/such/{uuid4()}")
    text = (await client.get("/api/v1/metrics")).text
    assert 'handler="/api/v1/wallets/{wallet_id}"' in text
    assert wallet_id not in text
    assert "/no/such" not in text
    assert 'handler="/api/v1/wallets/{wallet_id}"' in (await client.get("/metrics")).text


async def test_the_request_id_is_honoured_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get("/health/live", headers={"X-Request-ID": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    generated = await client.get("/health/live")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    hostile = await client.get("/health/live", headers={"X-Request-ID": "a b\tc" + "x" * 300})
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])
    problem = await client.get("/nowhere", headers={"X-Request-ID": "trace-43"})
    assert problem.json()["request_id"] == "trace-43"


async def test_json_logs_carry_the_request_id_on_every_line_of_the_request(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(settings_for(sqlite_url, log_json=True))
    async with serve(app) as client:
        capsys.readouterr()
        logger.info("outside any request")
        await client.get(f"/api/v1/wallets/{uuid4()}", headers={"X-Request-ID": "req-7"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    outside = next(line for line in lines if line["message"] == "outside any request")
    assert outside["request_id"] == "-"
    access = next(line for line in lines if line.get("route") == "/api/v1/wallets/{wallet_id}")
    assert access["request_id"] == "req-7"
    assert (access["method"], access["status"]) == ("GET", 404)
    assert access["duration_ms"] >= 0


class ExplodingRepository(FakeWalletRepository):
    async def get(self, wallet_id: UUID, tenant: str) -> Wallet | None:
        raise RuntimeError("SELECT secret FROM internals")


async def test_an_unhandled_error_is_a_500_problem_with_the_trace_only_in_the_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = settings_for("sqlite+aiosqlite://", log_json=True)
    repository = ExplodingRepository()
    store, clock = FakeBalanceRepository(repository), FakeClock()
    cache = BalanceCache(MemoryCache(), timedelta(seconds=60))
    summary = RenderedDocument(MemoryCache(), "summary", 60)
    balances = BalanceService(repository, store, cache, NoPricing(), clock)
    stores = Stores(repository, store, cache)
    services = Services(
        wallets=WalletService(repository, clock),
        balances=balances,
        fetching=FetchService(stores, {}, NoPricing(), summary, clock),
        portfolio=PortfolioService(store, NoPricing(), clock),
        history=HistoryService(FakeHistoryRepository(), clock),
        health=HealthService([PassingHealthCheck("database")], [], 1),
        summary=summary,
    )
    async with serve(create_app(settings, services)) as client:
        response = await client.get(f"/api/v1/wallets/{uuid4()}", headers={"X-Request-ID": "r-9"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "r-9"
    body = response.json()
    assert body["request_id"] == "r-9"
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    logged = capsys.readouterr().err
    assert "SELECT secret FROM internals" in logged
    assert "Traceback" in logged


async def test_openapi_documents_errors_and_the_docs_render(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    create = schema["paths"]["/api/v1/wallets"]["post"]["responses"]
    assert {"201", "409", "422"} <= create.keys()
    assert "application/problem+json" in create["409"]["content"]
    assert "404" in schema["paths"]["/api/v1/wallets/{wallet_id}"]["get"]["responses"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert (await client.get("/redoc")).status_code == 200
