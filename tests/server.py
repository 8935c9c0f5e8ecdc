"""The service as a user runs it: migrated by alembic, served by a real uvicorn process whose
log (stderr) is kept in a file for the test to read."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.databases import ROOT
from tests.netutil import free_port


@dataclass
class Uvicorn:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def rss_kib(self) -> int:
        """The process's resident memory now."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def alive(self) -> bool:
        return self.process.poll() is None


def server_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a server on a fresh SQLite file, chains and prices nowhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFOLIO_")}
    env.update(
        {
            "PORTFOLIO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'served.db'}",
            "PORTFOLIO_LOG_JSON": "true",
            "PORTFOLIO_PRICE_SOURCES": "none",
            "PORTFOLIO_ETHEREUM_RPC_URLS": f"http://127.0.0.1:{free_port()}",
            "PORTFOLIO_SOLANA_RPC_URLS": f"http://127.0.0.1:{free_port()}",
            "PORTFOLIO_RATE_LIMIT": "1000000/minute",  # load tests are not what is limited
            "PORTFOLIO_RATE_LIMIT_CHAIN": "1000000/minute",
            "PORTFOLIO_RATE_LIMIT_AUTH_FAILURES": "1000000/minute",  # fuzzers send bad keys
            "PORTFOLIO_REFRESH_INTERVAL_SECONDS": "0",  # unless a test of the schedule asks
            "PORTFOLIO_HEALTH_CACHE_SECONDS": "0",  # a test sees a dependency's change at once
            "PYTHONFAULTHANDLER": "1",  # a process that hangs dumps its threads on SIGABRT
        }
    )
    env.update({f"PORTFOLIO_{name.upper()}": value for name, value in settings.items()})
    return env


def migrate_with(env: Mapping[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        env=dict(env),
        check=True,
        capture_output=True,
    )


@contextmanager
def running_uvicorn(
    env: Mapping[str, str], workdir: Path, *, migrate: bool = True, stdout: Path | None = None
) -> Iterator[Uvicorn]:
    """uvicorn on a free loopback port, live before this yields; stopped with SIGTERM after,
    and its shutdown checked to be clean. Its stdout (where the logs are not) to ``stdout``."""
    if migrate:
        migrate_with(env)
    port = free_port()
    log_path = workdir / f"uvicorn-{port}.log"
    with log_path.open("wb") as log, (stdout or Path(os.devnull)).open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "portfolio.main.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
             "--no-server-header"],
            cwd=workdir,
            env=dict(env),
            stdout=out,
            stderr=log,
        )  # fmt: skip
    server = Uvicorn(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_live(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # what it was doing, from faulthandler, then fail
            process.send_signal(signal.SIGABRT)
            process.wait(timeout=10)
            pytest.fail(f"uvicorn did not stop within 30 s of SIGTERM: {server.log[-6000:]}")
    # uvicorn shuts down gracefully, then re-raises SIGTERM: -15 is a clean exit here.
    assert "Application shutdown complete" in server.log, server.log[-3000:]


def _wait_live(server: Uvicorn) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not server.alive():
            pytest.fail(f"uvicorn exited: {server.log[-3000:]}")
        try:
            if httpx.get(f"{server.url}/health/live", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail("uvicorn did not start")


@contextmanager
def list_server(document: bytes, port: int = 0) -> Iterator[str]:
    """A token list served on loopback at any path (a list URL may carry a key), from a thread:
    a server reads it while it starts, and a test's event loop may be waiting for that."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
