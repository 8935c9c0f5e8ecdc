"""A token on no list sent to a tracked wallet shows in its balances after the next cycle,
unverified: the API process's own schedule scans the Transfer logs and reads it (anvil)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from portfolio.main.app import create_app
from tests.api.conftest import serve, settings_for
from tests.chains.anvil import CHAIN_ID, running_anvil
from tests.chains.lists import write_list

pytestmark = pytest.mark.slow
HOLDER = "0x5555555555555555555555555555555555555555"


async def balances(client: httpx.AsyncClient, wallet_id: str) -> dict[str, Any]:
    answer = await client.get(f"/api/v1/wallets/{wallet_id}/balances")
    assert answer.status_code == 200, answer.text
    document: dict[str, Any] = answer.json()
    return document


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_token_on_no_list_sent_to_a_wallet_shows_after_the_next_cycle(
    database_url: str, tmp_path: Path
) -> None:
    async with running_anvil() as node:
        await node.install_multicall()
        token = await node.deploy("TestToken", ["string", "string", "uint8"], ["Found", "FND", 8])
        settings = settings_for(
            database_url,
            ethereum_rpc_urls=[node.url],
            ethereum_chain_id=CHAIN_ID,
            ethereum_token_list=write_list(tmp_path / "none.json", CHAIN_ID, []),
            ethereum_log_confirmations=0,
            refresh_interval_seconds=1,
            rpc_timeout_seconds=2,
        )
        async with serve(create_app(settings)) as client:
            created = await client.post(
                "/api/v1/wallets", json={"chain": "ethereum", "address": HOLDER}
            )
            wallet_id = created.json()["id"]
            await node.transact(token, "mint(address,uint256)", ["address", "uint256"],
                                [HOLDER, 12_345_678])  # fmt: skip
            stop = time.monotonic() + 30
            while True:
                held = {
                    b["token"]["address"]: b
                    for b in (await balances(client, wallet_id))["balances"]
                }
                if token in held or time.monotonic() > stop:
                    break
                await asyncio.sleep(0.2)
    assert token in held, "not found within 30 s"
    assert held[token]["raw_balance"] == "12345678"
    assert held[token]["balance"] == "0.12345678"
    assert held[token]["token"] == {
        "chain": "ethereum", "address": token, "symbol": "FND", "name": "Found", "decimals": 8,
        "verified": False, "kind": "liquid",
    }  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_hostile_contracts_leave_every_document_valid(
    database_url: str, tmp_path: Path
) -> None:
    """A token with a 16 KB name and a binary symbol, and a contract sending Transfer logs
    whose decimals() reverts: the first shows with its name cut and its symbol cleaned, the
    second not at all, and the portfolio, its CSV and the history answer as ever."""
    async with running_anvil() as node:
        await node.install_multicall()
        huge = await node.deploy("HugeNameToken", [], [])
        no_token = await node.deploy("NoDecimalsToken", [], [])
        settings = settings_for(
            database_url,
            ethereum_rpc_urls=[node.url],
            ethereum_chain_id=CHAIN_ID,
            ethereum_token_list=write_list(tmp_path / "none.json", CHAIN_ID, []),
            ethereum_log_confirmations=0,
            refresh_interval_seconds=1,
            rpc_timeout_seconds=2,
        )
        async with serve(create_app(settings)) as client:
            created = await client.post(
                "/api/v1/wallets", json={"chain": "ethereum", "address": HOLDER}
            )
            wallet_id = created.json()["id"]
            for token in (huge, no_token):
                await node.transact(token, "mint(address,uint256)", ["address", "uint256"],
                                    [HOLDER, 10**18])  # fmt: skip
            stop = time.monotonic() + 30
            while True:
                document = await balances(client, wallet_id)
                held = {b["token"]["address"]: b for b in document["balances"]}
                if huge in held or time.monotonic() > stop:
                    break
                await asyncio.sleep(0.2)
            assert huge in held, "not found within 30 s"
            assert no_token not in held
            name, symbol = held[huge]["token"]["name"], held[huge]["token"]["symbol"]
            assert name.startswith("Huge name 0123")
            assert len(name) <= 64
            assert symbol is None or symbol.isprintable()
            for path in ("/api/v1/portfolio", "/api/v1/portfolio/history"):
                answer = await client.get(path)
                assert answer.status_code == 200, answer.text
                answer.json()
            csv = await client.get("/api/v1/portfolio", headers={"Accept": "text/csv"})
            assert csv.status_code == 200, csv.text
            assert "\x00" not in csv.text
