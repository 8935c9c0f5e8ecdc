"""The first minute on a fresh machine: a setup step that fails (here: Debian without
python3-venv, whose `python3 -m venv` leaves a virtualenv without pip) says what to install and
leaves nothing behind that breaks the next try; a pyproject.toml changed without `make lock`
stops the install with one line, before anything is installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.databases import ROOT

# `python3 -m venv` as Debian's python3 without python3-venv behaves: it makes the directory and
# a python, then fails (ensurepip is missing). Anything else goes to the real interpreter.
HALF_VENV_PYTHON = """#!/usr/bin/env bash
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin"
  printf '#!/bin/sh\\nexit 1\\n' > "$3/bin/python"; chmod +x "$3/bin/python"
  echo "The virtual environment was not created successfully: ensurepip is not available." >&2
  exit 1
fi
exec {real} "$@"
"""


def _make(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")},
    )  # fmt: skip


def _venv(venv: Path, python: str) -> subprocess.CompletedProcess[str]:
    """The first step of every install: the virtualenv uv is installed into."""
    return _make(f"UV_VENV={venv}", f"PYTHON={python}", f"{venv}/.stamp-venv")


def test_a_failed_venv_leaves_nothing_and_the_next_try_works(tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text(HALF_VENV_PYTHON.format(real=sys.executable))
    fake.chmod(0o755)
    venv = tmp_path / "venv"

    failed = _venv(venv, str(fake))
    assert failed.returncode != 0
    assert "apt-get install python3-venv" in failed.stderr
    assert not venv.exists()  # nothing half-made left for the next run to trip on

    again = _venv(venv, str(fake))  # the same failure, the same clear message
    assert "apt-get install python3-venv" in again.stderr

    fixed = _venv(venv, sys.executable)  # python3-venv installed
    assert fixed.returncode == 0, fixed.stderr
    pip = subprocess.run([venv / "bin" / "python", "-m", "pip", "--version"], check=False)
    assert pip.returncode == 0


def test_a_pyproject_changed_without_make_lock_stops_the_install_with_one_line(
    tmp_path: Path,
) -> None:
    for name in ["Makefile", "pyproject.toml", "requirements.lock", "requirements-dev.lock",
                 "scripts/lock.py", "tools/uv-requirements.txt"]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    assert _make("lock-check", cwd=tmp_path).returncode == 0  # the committed locks match

    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(
        text.replace("dependencies = [\n", 'dependencies = [\n    "six>=1.16",\n', 1)
    )
    for target in ["install", "install-dev"]:  # make run and make test
        stopped = _make(f"PYTHON={sys.executable}", target, cwd=tmp_path)
        assert stopped.returncode != 0
        said = [line for line in stopped.stderr.splitlines() if line.startswith("portfolio:")]
        assert said == [
            "portfolio: requirements-dev.lock does not match pyproject.toml: run `make lock` and "
            "commit the locks"
        ]
        assert not (tmp_path / ".venv").exists()  # stopped before anything was installed
        assert not (tmp_path / ".venv-uv").exists()

    pyproject.write_text(text.replace("# from src", "# (a comment)  from src"))
    assert _make("lock-check", cwd=tmp_path).returncode == 0  # only the requirements count
