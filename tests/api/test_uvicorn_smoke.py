"""The service as a user runs it: migrated by alembic, served by a real uvicorn process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import running_uvicorn, server_env


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with running_uvicorn(server_env(tmp_path), tmp_path) as served:
        yield served.url


def test_a_real_uvicorn_serves_the_wallet_lifecycle(server: str) -> None:
    with httpx.Client(base_url=server, timeout=5) as client:
        created = client.post(
            "/api/v1/wallets",
            json={"chain": "ethereum", "address": "0xd8da6bf26964af9d7eed9e03e53415d37aa96045"},
        )
        assert created.status_code == 201
        wallet_id = created.json()["id"]
        assert client.get("/api/v1/health/ready").status_code == 200
        assert client.get(f"/api/v1/wallets/{wallet_id}").json() == created.json()
        assert client.delete(f"/api/v1/wallets/{wallet_id}").status_code == 204
        assert client.get(f"/api/v1/wallets/{wallet_id}").status_code == 404
        assert "Swagger" in client.get("/docs").text
        assert 'handler="/api/v1/wallets/{wallet_id}"' in client.get("/metrics").text


def test_an_unmigrated_database_is_not_ready_and_says_why(tmp_path: Path) -> None:
    with (
        running_uvicorn(server_env(tmp_path), tmp_path, migrate=False) as served,
        httpx.Client(base_url=served.url, timeout=5) as client,
    ):
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert "never migrated" in ready.json()["checks"]["database"]["detail"]
        assert client.get("/health/live").status_code == 200
        listed = client.get("/api/v1/wallets")
        assert listed.status_code == 503
        assert listed.headers["content-type"] == "application/problem+json"


def test_head_answers_on_every_get_route_and_errors_are_problems(server: str) -> None:
    """HEAD as probes and uptime checkers send it: the GET's status and headers, no body; the
    errors a server meets outside any route (an unknown path, a wrong method, a missing docs
    asset) are problem documents too."""
    with httpx.Client(base_url=server, timeout=5) as client:
        schema = client.get("/openapi.json").json()
        gets = [
            path
            for path, methods in schema["paths"].items()
            if "get" in methods and methods["get"]["operationId"] != "events-stream"
        ]  # the stream never ends: tests/api/test_event_streams.py reads it
        assert len(gets) >= 8
        for path in gets:
            url = path.replace("{wallet_id}", "7c1d0000-0000-4000-8000-000000000000").replace(
                "{batch_id}", "ab12"
            )
            got, head = client.get(url), client.head(url)
            assert head.status_code == got.status_code, path
            assert head.content == b"", path
            assert head.headers["content-type"] == got.headers["content-type"], path
            assert head.headers["x-request-id"], path
        live = client.head("/api/v1/health/live")
        assert live.headers["content-length"] == str(len(client.get("/health/live").content))
        for path in ("/docs", "/redoc", "/openapi.json", "/metrics", "/health/ready"):
            assert client.head(path).status_code == 200, path
        refresh = client.head("/api/v1/portfolio/refresh")
        assert refresh.status_code == 405
        assert refresh.headers["allow"] == "POST"
        assert client.options("/api/v1/wallets").headers["allow"] == "GET, HEAD, POST"
        for response in (
            client.get("/nowhere"),
            client.put("/api/v1/wallets"),
            client.get("/docs-assets/missing.js"),
            client.post("/api/v1/health/live"),
        ):
            assert response.headers["content-type"] == "application/problem+json", response
            assert response.json()["status"] == response.status_code
        metrics = client.get("/metrics").text
        assert 'method="HEAD"' in metrics
