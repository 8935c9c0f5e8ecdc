"""What the image is built from: the lock file, the build context, and the launcher that is the
container's first process (run here as a plain process: it must stop at once on SIGTERM while
it migrates or imports, and drain cleanly once it serves)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from portfolio import __version__
from tests.databases import ROOT
from tests.netutil import free_port
from tests.server import server_env


def _locked(name: str) -> dict[str, str]:
    text = (ROOT / name).read_text()
    return {
        canonicalize_name(name): version
        for name, version in re.findall(
            r"^([A-Za-z0-9_.\-]+)==([^\s;]+)(?: ;[^\n]*)? \\$", text, re.MULTILINE
        )
    }


def test_the_locks_pin_every_dependency_within_its_range_with_hashes() -> None:
    """requirements.lock (make run, the image) is requirements-dev.lock (make test) less the
    development tools: the same version of every package it has."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    runtime, dev = _locked("requirements.lock"), _locked("requirements-dev.lock")
    wanted = {
        "requirements.lock": [*project["dependencies"], *pyproject["build-system"]["requires"]],
        "requirements-dev.lock": [
            *project["dependencies"],
            *project["optional-dependencies"]["dev"],
        ],
    }
    for lock, locked in (("requirements.lock", runtime), ("requirements-dev.lock", dev)):
        for line in wanted[lock]:
            requirement = Requirement(line)
            name = canonicalize_name(requirement.name)
            assert name in locked, f"{name} is not in {lock}: run make lock"
            assert requirement.specifier.contains(locked[name]), (
                f"{name}=={locked[name]}: make lock"
            )
        entries = re.split(r"\n(?=[A-Za-z0-9])", (ROOT / lock).read_text())
        assert all("--hash=sha256:" in e for e in entries if "==" in e)
    assert {name: dev.get(name) for name in runtime} == runtime
    assert set(dev) - set(runtime) >= {"pytest", "mypy", "ruff"}
    assert "pytest" not in runtime
    assert "solana" not in runtime  # nothing at run time imports solana-py (the bench does)


def test_the_build_context_is_what_the_image_needs_and_dependencies_come_first() -> None:
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*")] == "*"  # everything out, then only what is named
    sent = {line.removeprefix("!") for line in ignore if line.startswith("!")}
    assert sent == {"tools/uv-requirements.txt", "requirements.lock", "pyproject.toml",
                    "README.md", "LICENSE", "src", "alembic.ini", "migrations"}  # fmt: skip
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.index("COPY requirements.lock") < dockerfile.index("COPY src")
    assert "--require-hashes" in dockerfile
    assert "org.opencontainers.image.revision" in dockerfile
    assert 'CMD ["python", "-m", "portfolio.main.launch", "--migrate"]' in dockerfile
    assert 'ENTRYPOINT ["dumb-init", "--"]' in dockerfile  # PID 1 that passes signals on


DRAIN_SECONDS = 0.5


class Launched:
    """The launcher as a container runs it: PID 1 of its own PID namespace (where the kernel
    gives it no default handling of SIGTERM), its output in tmp_path/launch.log."""

    def __init__(self, tmp_path: Path, port: int) -> None:
        env = server_env(
            tmp_path, serve_port=str(port), forwarded_allow_ips="10.0.0.1",
            shutdown_drain_seconds=str(DRAIN_SECONDS),
        )  # fmt: skip
        with (tmp_path / "launch.log").open("wb") as log:
            self.unshare = subprocess.Popen(
                ["unshare", "--pid", "--fork", "--kill-child",
                 sys.executable, "-m", "portfolio.main.launch", "--migrate"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        children = Path(f"/proc/{self.unshare.pid}/task/{self.unshare.pid}/children")
        deadline = time.monotonic() + 5
        while not children.read_text().split():
            assert time.monotonic() < deadline, "unshare started nothing"
            time.sleep(0.01)
        self.pid = int(children.read_text().split()[0])  # PID 1 inside

    def poll(self) -> int | None:
        return self.unshare.poll()

    def stop_within(self, seconds: float) -> float:
        """SIGTERM to the launcher; how long it took to exit (fails past ``seconds``)."""
        started = time.monotonic()
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.unshare.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.unshare.kill()
            self.unshare.wait()
            raise AssertionError(f"still running {seconds} s after SIGTERM") from None
        return time.monotonic() - started

    @property
    def returncode(self) -> int | None:
        return self.unshare.returncode


def test_the_launcher_stops_at_once_while_starting(tmp_path: Path) -> None:
    process = Launched(tmp_path, free_port())
    time.sleep(0.5)  # migrating, or importing the app
    assert process.poll() is None
    assert process.stop_within(2.0) < 2.0
    assert process.returncode == 0
    assert "Traceback" not in (tmp_path / "launch.log").read_text()


def test_the_launcher_migrates_serves_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    process = Launched(tmp_path, port)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/api/v1/health/ready", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, "the launcher died"
                assert time.monotonic() < deadline, "not serving within 30 s"
                time.sleep(0.2)
        assert ready.status_code == 200  # migrated by the launcher
        assert "server" not in ready.headers
    finally:
        elapsed = process.stop_within(10.0)
    assert DRAIN_SECONDS <= elapsed < DRAIN_SECONDS + 5.0  # drained, then stopped
    assert process.returncode == 0
    assert os.path.exists(tmp_path / "served.db")
    assert "Traceback" not in (tmp_path / "launch.log").read_text()


def test_the_image_and_the_manifests_name_the_package_version() -> None:
    named = {
        path: re.findall(r"(?:portfolio:|ARG VERSION=)(\d+\.\d+\.\d+)", path.read_text())
        for path in [ROOT / "Dockerfile", ROOT / "docker-compose.yml",
                     *sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))]
    }  # fmt: skip
    assert sum(len(versions) for versions in named.values()) >= 6
    assert {path.name: v for path, v in named.items() if set(v) - {__version__}} == {}
