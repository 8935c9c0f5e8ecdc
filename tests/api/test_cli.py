"""The `portfolio` command as a self-hoster drives it: migrate, track wallets, read one from its
chain, the portfolio as a table (plain when piped, rich on a terminal), `--json` for scripts,
a CSV export, and exit codes that say what went wrong."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import pty
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.chains.lists import write_list
from tests.chains.worlds import SolanaWorld
from tests.netutil import free_port
from tests.prices.price_server import PriceServer, Quote
from tests.server import server_env

pytestmark = pytest.mark.slow

SOL_PRICE = Decimal("151.25")


@pytest.fixture
async def prices(solana: SolanaWorld) -> AsyncIterator[PriceServer]:
    async with PriceServer() as server:
        server.llama = {
            "coingecko:solana": Quote(SOL_PRICE),
            f"solana:{solana.usdc.address}": Quote(Decimal("0.9999")),
        }
        yield server


@pytest.fixture
def env(tmp_path: Path, solana: SolanaWorld, prices: PriceServer) -> dict[str, str]:
    return server_env(
        tmp_path,
        solana_rpc_urls=solana.server.url,
        solana_token_list=write_list(tmp_path / "sol.json", 101, solana.token_list),
        price_sources="defillama",
        defillama_base_url=f"{prices.url}/llama",
    )


async def portfolio(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """The command, its output piped (as a script sees it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "portfolio.main.cli", *args,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def ok(env: dict[str, str], *args: str) -> str:
    code, out, err = await portfolio(env, *args)
    assert code == 0, err
    return out


async def test_a_self_hoster_tracks_reads_and_exports_wallets(
    env: dict[str, str], solana: SolanaWorld
) -> None:
    assert (await ok(env, "migrate")).strip() == "migrated"
    added = json.loads(await ok(env, "wallets", "add", "solana", solana.rich, "--label", "hot",
                                "--json"))  # fmt: skip
    assert (added["address"], added["label"]) == (solana.rich, "hot")
    code, _, err = await portfolio(env, "wallets", "add", "solana", solana.rich)
    assert code == 1
    assert added["id"] in err  # already tracked: which wallet it is
    code, _, err = await portfolio(env, "wallets", "add", "solana", "not-an-address")
    assert (code, err.startswith("portfolio: ")) == (2, True)
    assert "Traceback" not in err

    fetched = json.loads(await ok(env, "wallets", "fetch", added["id"], "--json"))
    held = {b["token"]["symbol"]: b for b in fetched["balances"]}
    assert held["SOL"]["raw_balance"] == "2500000001"
    assert held["SOL"]["balance"] == "2.500000001"
    assert held["USDC"]["balance"] == "1.234567"
    plain_fetch = await ok(env, "wallets", "fetch", added["id"])
    assert "2.500000001" in plain_fetch

    summary = json.loads(await ok(env, "portfolio", "--json"))
    expected = Decimal("2.500000001") * SOL_PRICE + Decimal("1.234567") * Decimal("0.9999")
    assert Decimal(summary["total_usd"]) == expected.quantize(Decimal("0.01"))
    table = await ok(env, "portfolio")
    assert f"total {summary['total_usd']} USD over 1 wallet(s)" in table
    assert not set(table) & set("━─│┃")  # piped: no box drawing
    _assert_aligned(table, "by token", "balance")

    exported = list(csv.DictReader(io.StringIO(await ok(env, "export"))))
    by_symbol = {row["token_symbol"] or None: row for row in exported}
    assert set(by_symbol) == set(held)
    for symbol, row in by_symbol.items():
        assert (row["raw_balance"], row["balance"]) == (
            held[symbol]["raw_balance"], held[symbol]["balance"],
        )  # fmt: skip
        assert row["wallet_id"] == added["id"]
        assert "E" not in row["balance"]
    assert by_symbol["SOL"]["usd_value"] == held["SOL"]["usd_value"]

    now = datetime.now(UTC)
    at = list(csv.DictReader(io.StringIO(await ok(env, "export", "--at", now.isoformat()))))
    assert {(r["token_symbol"] or None, r["balance"]) for r in at} == {
        (symbol, b["balance"]) for symbol, b in held.items()
    }
    assert all(r["recorded_at"] for r in at)
    start = (now - timedelta(hours=2)).isoformat()
    history = list(csv.DictReader(io.StringIO(
        await ok(env, "export", "--history", "--start", start, "--interval", "1h")
    )))  # fmt: skip
    assert list(history[0]) == ["timestamp", "total_usd", "solana_usd"]
    assert history[-1]["total_usd"] == summary["total_usd"]
    performance = json.loads(await ok(env, "performance", "--start", start, "--json"))
    assert performance["end_value"] == summary["total_usd"]
    assert performance["interval"] == "5m"  # two hours: by 5 minutes
    rows = list(csv.DictReader(io.StringIO(await ok(env, "performance", "--start", start,
                                                    "--csv"))))  # fmt: skip
    assert rows[0]["scope"] == "portfolio"
    assert rows[0]["end_value"] == summary["total_usd"]
    table = await ok(env, "performance", "--start", start)
    assert f"change {performance['change']} = market" in table
    code, _, err = await portfolio(env, "performance", "--chain", "Not a chain")
    assert code == 2
    code, _, err = await portfolio(env, "performance", "--currency", "XYZ")
    assert code == 2
    assert "USD, EUR" in err
    code, _, err = await portfolio(env, "export", "--at", "yesterday")
    assert code == 2
    assert "--at" in err

    listed = json.loads(await ok(env, "wallets", "list", "--json"))
    assert [w["id"] for w in listed] == [added["id"]]
    assert (await ok(env, "wallets", "remove", added["id"])).strip() == f"removed {added['id']}"
    assert json.loads(await ok(env, "wallets", "list", "--json")) == []
    code, _, err = await portfolio(env, "wallets", "remove", added["id"])
    assert code == 1
    assert "No wallet" in err


def _assert_aligned(table: str, title: str, column: str) -> None:
    """The decimal points of a numeric column's cells stand in one text column."""
    lines = table.splitlines()
    start = lines.index(title) + 1
    rows = lines[start + 1 : lines.index("", start) if "" in lines[start:] else None]
    assert rows, table
    offset = lines[start].index(column)
    points = {row.find(".", offset - 12) for row in rows if "." in row[offset - 12 :]}
    assert len(points) == 1, table


def test_amounts_align_on_the_decimal_point() -> None:
    from portfolio.main.console import align_decimals

    aligned = align_decimals(["1.5", "1234", None, "0.000000000000000001"])
    assert len({len(a) for a in aligned}) == 1
    assert {a.index(".") for a in aligned if "." in a} == {4}
    assert aligned[1].rstrip() == "1234"
    assert aligned[2].strip() == "-"


async def test_on_a_terminal_the_tables_are_rich(env: dict[str, str]) -> None:
    assert (await ok(env, "migrate")).strip() == "migrated"
    leader, follower = pty.openpty()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "portfolio.main.cli", "portfolio",
        env={**env, "COLUMNS": "120"}, stdout=follower, stderr=subprocess.PIPE,
    )  # fmt: skip
    os.close(follower)
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err
    shown = _drain(leader)
    assert "━" in shown  # rich's table rules
    assert "by chain" in shown


def _drain(fd: int) -> str:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other end is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


async def test_a_database_that_is_away_is_exit_code_3(tmp_path: Path) -> None:
    away = {"database_url": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"}
    env: dict[str, Any] = server_env(tmp_path, **away, database_connect_timeout_seconds="1")
    code, out, err = await portfolio(env, "wallets", "list")
    assert code == 3, err
    assert out == ""
    assert err.startswith("portfolio: ")
    assert "Traceback" not in err


async def test_webhooks_from_the_command_line(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    await ok(env, "migrate")
    made = json.loads(await ok(env, "webhooks", "add", "https://hooks.example.com/p",
                               "--events", "balances.changed,portfolio.changed",
                               "--description", "ops", "--json"))  # fmt: skip
    assert made["secret"].startswith("whsec_")
    assert made["events"] == ["balances.changed", "portfolio.changed"]
    listed = await ok(env, "webhooks", "list", "--json")
    assert [w["id"] for w in json.loads(listed)] == [made["id"]]
    assert made["secret"] not in listed
    table = await ok(env, "webhooks", "list")
    assert made["id"] in table
    assert "https://hooks.example.com/p" in table
    code, _, err = await portfolio(env, "webhooks", "add", "https://127.0.0.1/p")
    assert (code, "loopback" in err) == (2, True)
    code, _, err = await portfolio(env, "webhooks", "add", "https://a.example/", "--events", "x")
    assert code == 2
    assert "event types are" in err
    assert (await ok(env, "webhooks", "remove", made["id"])).strip() == f"removed {made['id']}"
    code, _, err = await portfolio(env, "webhooks", "remove", made["id"])
    assert code == 1
    assert "No webhook" in err
    assert json.loads(await ok(env, "webhooks", "list", "--json")) == []
