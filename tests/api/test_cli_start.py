"""The `portfolio` command as an operator meets it first: `--help` and `--version` answer
without importing the service (the web framework, the chains' libraries, the database
drivers: measured in `make bench cli`), a dependency that does not answer is one line and exit
code 3 (never a traceback), an unmigrated database is told apart from one that does not answer,
and `portfolio doctor` says what is wrong with each dependency, one at a time."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from tests.chains.anvil import CHAIN_ID, running_anvil
from tests.chains.worlds import SolanaWorld
from tests.netutil import free_port
from tests.server import migrate_with, server_env

pytestmark = pytest.mark.slow
HEAVY = ("web3", "sqlalchemy", "fastapi", "pydantic", "solders", "redis", "httpx", "aiohttp",
         "ens_normalize", "eth_abi", "taskiq", "uvicorn", "rich")  # fmt: skip
IMPORTED = """
import sys
from portfolio.main.cli import app
try:
    app(sys.argv[1:], prog_name="portfolio")
except SystemExit:
    pass
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})), file=sys.stderr)
"""


async def doctor(env: dict[str, str]) -> tuple[int, str]:
    """`portfolio doctor`, run beside the event loop (the local Solana node answers on it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "portfolio.main.cli", "doctor",
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert not err, err.decode()
    assert process.returncode is not None
    return process.returncode, out.decode()


def portfolio(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "portfolio.main.cli", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["keys", "--help"]])
def test_help_and_version_import_nothing_of_the_service(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED, *args], capture_output=True, text=True, check=True
    )
    imported = set(done.stderr.split())
    if args[0] == "keys":  # asked for: its own modules, once asked
        assert "sqlalchemy" in imported
        return
    assert not imported & set(HEAVY), imported & set(HEAVY)
    if args == ["--version"]:
        assert done.stdout.strip() == f"portfolio {version('portfolio')}"
    else:
        for command in ("serve", "migrate", "doctor", "wallets", "performance", "keys"):
            assert f"  {command} " in done.stdout


@pytest.mark.parametrize(
    "url",
    [f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none", "sqlite+aiosqlite:////no/such/dir/x.db"],
)  # fmt: skip
def test_a_database_that_does_not_answer_is_one_line_and_exit_3(tmp_path: Path, url: str) -> None:
    env = server_env(tmp_path, database_url=url)
    for args in (["migrate"], ["wallets", "list"], ["keys", "list"], ["portfolio"]):
        done = portfolio(env, *args)
        assert done.returncode == 3, (args, done.stderr)
        assert done.stderr.count("\n") == 1, (args, done.stderr)
        assert done.stderr.startswith("portfolio: The database is not answering"), done.stderr
        assert "Traceback" not in done.stderr


def test_an_unmigrated_database_is_told_apart(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    done = portfolio(env, "wallets", "list")
    assert done.returncode == 3, done.stderr
    assert done.stderr == (
        "portfolio: The database has no schema yet: run the migrations (portfolio migrate).\n"
    )


async def test_doctor_says_what_is_wrong_with_each_dependency(
    tmp_path: Path, solana: SolanaWorld
) -> None:
    async with running_anvil() as node:
        env = server_env(
            tmp_path,
            ethereum_rpc_urls=f"{node.url},http://127.0.0.1:{free_port()}",
            ethereum_chain_id=str(CHAIN_ID),
            solana_rpc_urls=solana.server.url,
            redis_url=f"redis://127.0.0.1:{free_port()}/0",
        )
        code, said = await doctor(env)
        assert code == 3, said
        lines = said.splitlines()
        assert lines[0].startswith("ok    settings")
        assert lines[1].startswith("FAIL  database")
        assert "never migrated" in lines[1]
        assert lines[2].startswith("FAIL  redis")
        assert "not answering" in lines[2]
        assert lines[3].startswith("ok    ethereum node")
        assert f"chain id {CHAIN_ID}" in lines[3]
        assert lines[4].startswith("FAIL  ethereum node")
        assert "not answering" in lines[4]
        assert lines[5].startswith("ok    solana node")

        migrate_with(env)
        env["PORTFOLIO_REDIS_URL"] = "redis://127.0.0.1:6379/0"
        env["PORTFOLIO_ETHEREUM_RPC_URLS"] = node.url
        code, said = await doctor(env)
        assert code == 0, said
        assert all(line.startswith("ok  ") for line in said.splitlines()), said

        env["PORTFOLIO_ETHEREUM_CHAIN_ID"] = "1"  # the node is another chain's
        code, said = await doctor(env)
        assert code == 3
        assert f"chain id {CHAIN_ID}, not 1" in said


async def test_the_scheduler_serves_its_metrics_for_its_health_check(tmp_path: Path) -> None:
    """`portfolio scheduler` with PORTFOLIO_WORKER_METRICS_PORT answers /metrics there (the
    deployment files' health check of it), and stops on SIGTERM."""
    port = free_port()
    env = server_env(
        tmp_path, redis_url="redis://127.0.0.1:6379/0", refresh_interval_seconds="300",
        worker_metrics_port=str(port),
    )  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "portfolio.main.cli", "scheduler",
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(200):
                try:
                    answer = await client.get(f"http://127.0.0.1:{port}/metrics")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError("the scheduler served no metrics within 20 s")
        assert answer.status_code == 200
        assert "portfolio_build_info{" in answer.text
    finally:
        process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
