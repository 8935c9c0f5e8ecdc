"""A token list at a URL that is away when the service starts: the service starts with the
chain's other lists, says so in /health (a warning naming the list without its path, where a
key may be; readiness stays), and reads the list once its server is back."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from portfolio.adapters.chains.tokenlist import TokenListError
from portfolio.main.app import create_app
from tests.api.conftest import serve, settings_for
from tests.chains.anvil import CHAIN_ID
from tests.chains.lists import write_list
from tests.chains.worlds import ONE, EvmWorld
from tests.netutil import free_port
from tests.server import list_server

KEY = "ListKey9d3e7a"


async def symbols_fetched(client: httpx.AsyncClient, wallet_id: str) -> set[str]:
    fetched = await client.post(f"/api/v1/wallets/{wallet_id}/fetch")
    assert fetched.status_code == 200, fetched.text
    return {b["token"]["symbol"] for b in fetched.json()["balances"]}


async def check_of(client: httpx.AsyncClient) -> dict[str, Any]:
    health = (await client.get("/api/v1/health")).json()
    check: dict[str, Any] = health["checks"]["ethereum_token_lists"]
    return {**check, "overall": health["status"]}


async def test_a_list_server_away_at_start_up_is_read_once_it_is_back(
    database_url: str,
    chains: dict[str, Any],
    evm: EvmWorld,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("portfolio.main.chains.LIST_RETRY_FIRST_SECONDS", 0.05)
    monkeypatch.setattr("portfolio.main.chains.LIST_RETRY_MAX_SECONDS", 0.2)
    port = free_port()
    away = f"http://127.0.0.1:{port}/lists/{KEY}/tokens.json"
    six_only = write_list(tmp_path / "six.json", CHAIN_ID, [evm.six])
    whole = Path(write_list(tmp_path / "all.json", CHAIN_ID, evm.tokens))
    settings = settings_for(database_url, **{**chains, "ethereum_token_list": f"{six_only},{away}"})
    async with serve(create_app(settings)) as client:
        check = await check_of(client)
        assert (check["status"], check["overall"]) == ("fail", "warn")
        assert f"127.0.0.1:{port}#" in check["detail"]
        assert KEY not in check["detail"]
        assert (await client.get("/api/v1/health/ready")).status_code == 200
        created = await client.post("/api/v1/wallets", json={"chain": "ethereum", "address": ONE})
        wallet = created.json()["id"]
        assert await symbols_fetched(client, wallet) == {"ETH", "SIX"}

        with list_server(whole.read_bytes(), port):  # noqa: ASYNC240 - a small file
            for _ in range(200):  # read again within a few of the (shortened) waits
                if (await check_of(client))["status"] == "pass":
                    break
                await asyncio.sleep(0.05)
            check = await check_of(client)
            assert (check["status"], check["overall"]) == ("pass", "pass")
            assert {"SIX", "EIGHTEEN", "TWENTYFOUR"} <= await symbols_fetched(client, wallet)


async def test_a_list_file_that_cannot_be_read_still_stops_the_start(
    database_url: str, chains: dict[str, Any], tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing.json")
    settings = settings_for(database_url, **{**chains, "ethereum_token_list": missing})
    with pytest.raises(TokenListError, match="Cannot read the ethereum token list"):
        async with serve(create_app(settings)):
            pass
