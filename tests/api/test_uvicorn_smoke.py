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
