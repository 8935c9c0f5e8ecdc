"""The first minute on a fresh machine: a setup step that fails (here: Debian without
python3-venv, whose `python3 -m venv` leaves a virtualenv without pip) says what to install and
leaves nothing behind that breaks the next try."""

from __future__ import annotations

import os
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


def _make(venv: Path, python: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", f"VENV={venv}", f"PYTHON={python}", f"{venv}/.stamp-venv"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("MAKE")},
    )  # fmt: skip


def test_a_failed_venv_leaves_nothing_and_the_next_try_works(tmp_path: Path) -> None:
    fake = tmp_path / "python3"
    fake.write_text(HALF_VENV_PYTHON.format(real=sys.executable))
    fake.chmod(0o755)
    venv = tmp_path / "venv"

    failed = _make(venv, str(fake))
    assert failed.returncode != 0
    assert "apt-get install python3-venv" in failed.stderr
    assert not venv.exists()  # nothing half-made left for the next run to trip on

    again = _make(venv, str(fake))  # the same failure, the same clear message
    assert "apt-get install python3-venv" in again.stderr

    fixed = _make(venv, sys.executable)  # python3-venv installed
    assert fixed.returncode == 0, fixed.stderr
    pip = subprocess.run([venv / "bin" / "python", "-m", "pip", "--version"], check=False)
    assert pip.returncode == 0
