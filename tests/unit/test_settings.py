"""Settings fail fast and plainly; .env.example stays equal to the settings class."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from portfolio.config import Settings, env_example
from tests.databases import ROOT
from tests.server import server_env


def test_env_example_lists_every_setting_with_its_default_and_meaning() -> None:
    assert (ROOT / ".env.example").read_text() == env_example(), (
        "run: python -c "
        + repr("from portfolio.config import env_example; print(env_example(), end='')")
        + " > .env.example"
    )
    names = {line.split("=", 1)[0] for line in env_example().splitlines() if "=" in line}
    assert names == {f"PORTFOLIO_{name.upper()}" for name in Settings.model_fields}


def test_env_example_copied_to_env_gives_the_defaults() -> None:
    from_example = Settings(_env_file=ROOT / ".env.example")
    assert from_example == Settings(_env_file=None)


def test_the_log_level_is_read_in_any_case() -> None:
    lower: Any = "debug"  # the settings class's type says capitals; the environment may not
    assert Settings(_env_file=None, log_level=lower).log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ETHEREUM_RPC_URLS", "not-a-url"),
        ("SOLANA_RPC_URLS", "https://ok.example.com,ftp://user:KEY123@host/x"),
        ("DATABASE_URL", "mysql://db/portfolio"),
        ("REDIS_URL", "localhost:6379"),
        ("LOG_LEVEL", "loud"),
        ("RPC_TIMEOUT_SECONDS", "-1"),
    ],
)
def test_a_bad_value_stops_the_server_with_one_line_naming_it(
    tmp_path: Path, name: str, value: str
) -> None:
    env = server_env(tmp_path, **{name.lower(): value})
    finished = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--factory", "portfolio.main.app:create_app",
         "--port", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert finished.returncode == 2
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert lines[0].startswith(f"portfolio: PORTFOLIO_{name}: ")
    assert "Traceback" not in finished.stderr
    assert "KEY123" not in finished.stderr  # a URL's secret is not echoed back
