"""A restart as an orchestrator does it: SIGTERM to the server (the launcher, as the image, `make
run` and `portfolio serve` start it) while a request is in flight. Readiness turns 503 at once,
new connections are still taken during the drain and refused after it, the request in flight
is answered, and the app shuts down cleanly (pools closed)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.chains.worlds import SolanaWorld
from tests.databases import ROOT
from tests.netutil import free_port
from tests.server import migrate_with, server_env

pytestmark = pytest.mark.slow

DRAIN = 2.0  # seconds
NODE_DELAY = 3.5  # the in-flight request waits this long on the chain node


async def _live(client: httpx.AsyncClient, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.returncode is None, "the server exited"
        try:
            if (await client.get("/health/live")).status_code == 200:
                return
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    pytest.fail("not live within 30 s")


async def test_sigterm_drains_then_finishes_what_is_in_flight(
    tmp_path: Path, solana: SolanaWorld
) -> None:
    port = free_port()
    env = server_env(
        tmp_path,
        serve_port=str(port),
        solana_rpc_urls=solana.server.url,
        shutdown_drain_seconds=str(DRAIN),
        shutdown_timeout_seconds="20",
    )
    migrate_with(env)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "portfolio.main.launch",
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            await _live(client, process)
            created = await client.post(
                "/api/v1/wallets", json={"chain": "solana", "address": solana.empty}
            )
            assert created.status_code == 201
            solana.server.delay = NODE_DELAY
            in_flight = asyncio.create_task(
                client.post(f"/api/v1/wallets/{created.json()['id']}/fetch")
            )
            await asyncio.sleep(0.5)  # the fetch is waiting on the node
            assert not in_flight.done()
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)

            # Draining: not ready, still live, new connections still taken.
            async with httpx.AsyncClient(base_url=url, timeout=5) as fresh:
                ready = await fresh.get("/api/v1/health/ready")
                assert ready.status_code == 503
                assert "shutting down" in ready.json()["checks"]["shutdown"]["detail"]
                assert (await fresh.get("/api/v1/health/live")).status_code == 200
            assert process.returncode is None

            # After the drain: new connections are refused; the fetch is still in flight.
            await asyncio.sleep(max(0.0, signalled + DRAIN + 0.5 - time.monotonic()))
            assert not in_flight.done()
            async with httpx.AsyncClient(base_url=url, timeout=5) as late:
                with pytest.raises(httpx.ConnectError):
                    await late.get("/api/v1/health/live")

            answered = await in_flight
            assert answered.status_code == 200, answered.text
            assert answered.json()["wallet_id"] == created.json()["id"]
        assert await asyncio.wait_for(process.wait(), timeout=20) == 0
        assert time.monotonic() - signalled < DRAIN + NODE_DELAY + 5
    finally:
        solana.server.delay = 0.0
        if process.returncode is None:
            process.kill()
            await process.wait()
    logged = log.read_text()
    assert "not ready from now on" in logged
    assert "Application shutdown complete" in logged
    assert "Traceback" not in logged
