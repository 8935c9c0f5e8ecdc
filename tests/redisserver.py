"""A private Redis server for tests that freeze it, so the shared one stays up."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.netutil import free_port


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and nothing answers."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: gone, every connection refused."""
        self.process.kill()
        self.process.wait()

    def start_again(self) -> None:
        """A new server on the same port (empty: nothing was saved)."""
        self.process = _spawn(self.port, self.workdir or Path(tempfile.mkdtemp()))
        _wait_for_port(self.port)


@contextmanager
def private_redis() -> Iterator[RedisServer]:
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="portfolio-redis-"))
    server = RedisServer(_spawn(port, workdir), port, workdir)
    try:
        _wait_for_port(port)
        yield server
    finally:
        with suppress(OSError):
            server.thaw()
        server.process.terminate()
        server.process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _spawn(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: install Redis (make test does)")
    return subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        if time.monotonic() > deadline:
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)
