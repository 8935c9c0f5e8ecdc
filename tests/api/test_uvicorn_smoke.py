"""The service as a user runs it: migrated by alembic, served by a real uvicorn process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.databases import ROOT
from tests.netutil import free_port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    env = {
        **os.environ,
        "PORTFOLIO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'smoke.db'}",
        "PORTFOLIO_LOG_JSON": "true",
        "PORTFOLIO_PRICE_SOURCES": "none",
        "PORTFOLIO_ETHEREUM_RPC_URLS": f"http://127.0.0.1:{free_port()}",
        "PORTFOLIO_SOLANA_RPC_URLS": f"http://127.0.0.1:{free_port()}",
    }
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "portfolio.api.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("uvicorn did not start")
        yield base
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
        # uvicorn shuts down gracefully, then re-raises SIGTERM: -15 is a clean exit here.
        assert "Application shutdown complete" in stderr.decode(), stderr.decode()


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
