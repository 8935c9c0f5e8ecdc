"""A private PostgreSQL server for tests that restart or freeze it, so the shared one stays up.

PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` user (Debian's
package makes it) through ``runuser``; otherwise as the current user.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.netutil import free_port


def _bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: install PostgreSQL (make test does)")
    return path


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PostgresServer:
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_server_user([_bin("pg_ctl"), "-D", str(self.data), "-w", "-t", "60", *args]),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.data / "server.log"), "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-m", mode, "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def _postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def _pids(self) -> list[int]:
        """The postmaster and its children (the backends serving connections)."""
        parent = self._postmaster_pid()
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # the process ended meanwhile
                continue
            if int(fields[1]) == parent:  # the field after the state is the parent's pid
                children.append(int(stat.parent.name))
        return [parent, *children]

    def freeze(self) -> None:
        """SIGSTOP every server process: connections stay open and nothing answers."""
        for pid in self._pids():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._pids():
            os.kill(pid, signal.SIGCONT)


@contextmanager
def private_postgres() -> Iterator[PostgresServer]:
    # Its own folder under the system's temporary directory: pytest's are private to root,
    # and the server's user must reach its data.
    top = Path(tempfile.mkdtemp(prefix="portfolio-pg-"))
    top.chmod(0o755)
    data = top / "data"
    data.mkdir(mode=0o700)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(
        _as_server_user(
            [_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    server = PostgresServer(data, free_port())
    server.start()
    try:
        yield server
    finally:
        with suppress(OSError, ValueError):
            server.thaw()
        with suppress(subprocess.CalledProcessError):
            server.stop("immediate")
        shutil.rmtree(top, ignore_errors=True)
