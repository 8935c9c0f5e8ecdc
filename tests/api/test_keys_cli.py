"""The key commands as an operator runs them, against two real uvicorn processes sharing a
database and Redis: a key made by the CLI opens both; revoked by the CLI, both refuse it at
once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from tests.redisserver import private_redis
from tests.server import running_uvicorn, server_env

pytestmark = pytest.mark.slow


def portfolio(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portfolio.main.cli", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_key_revoked_by_the_cli_is_refused_at_once_by_every_process(tmp_path: Path) -> None:
    with private_redis() as redis:
        env = server_env(tmp_path, auth_enabled="true", redis_url=redis.url)
        with running_uvicorn(env, tmp_path) as one, running_uvicorn(env, tmp_path) as two:
            made = portfolio(env, "keys", "create", "--tenant", "acme", "--json")
            assert made.returncode == 0, made.stderr
            created = json.loads(made.stdout)
            assert set(created) == {"id", "tenant", "read_only", "key"}
            listed = json.loads(portfolio(env, "keys", "list", "--json").stdout)
            assert [k["id"] for k in listed] == [created["id"]]
            assert "key" not in listed[0]
            assert created["key"] not in (tmp_path / "served.db").read_bytes().decode("latin-1")

            headers = {"Authorization": f"Bearer {created['key']}"}
            for server in (one, two):
                for _ in range(3):  # the key is in each process's cache now
                    assert httpx.get(f"{server.url}/api/v1/wallets", headers=headers).is_success

            revoked = portfolio(env, "keys", "revoke", created["id"])
            assert revoked.returncode == 0, revoked.stderr
            for server in (one, two):
                refused = httpx.get(f"{server.url}/api/v1/wallets", headers=headers)
                assert refused.status_code == 401
            assert json.loads(portfolio(env, "keys", "list", "--json").stdout)[0]["revoked_at"]
            missing = portfolio(env, "keys", "revoke", "00000000-0000-0000-0000-000000000000")
            assert missing.returncode == 1


def test_the_first_key_one_shot_makes_one_key_once(tmp_path: Path) -> None:
    """`keys create --first`, as the deployment files run it at every start: a key the first
    time (printed), none after (exit 0); revoked, the next start makes another."""
    env = server_env(tmp_path, auth_enabled="true")
    with running_uvicorn(env, tmp_path) as server:
        first = portfolio(env, "keys", "create", "--tenant", "default", "--first")
        assert first.returncode == 0, first.stderr
        text = next(
            line.split()[1] for line in first.stdout.splitlines() if line.startswith("key:")
        )
        answer = httpx.get(f"{server.url}/api/v1/wallets", headers={"X-API-Key": text})
        assert answer.status_code == 200
        again = portfolio(env, "keys", "create", "--tenant", "default", "--first", "--json")
        assert again.returncode == 0
        assert again.stdout == ""
        assert "active already" in again.stderr
        listed = json.loads(portfolio(env, "keys", "list", "--json").stdout)
        assert len(listed) == 1
        assert portfolio(env, "keys", "revoke", listed[0]["id"]).returncode == 0
        after = portfolio(env, "keys", "create", "--tenant", "default", "--first", "--json")
        assert json.loads(after.stdout)["tenant"] == "default"
