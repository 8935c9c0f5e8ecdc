"""Tokens on no list sent to a tracked wallet show in its balances after the next cycle,
unverified: the API process's own schedule scans the Transfer logs and reads them (anvil);
hostile contracts among them leave every document valid."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from portfolio.main.app import create_app
from tests.api.conftest import serve, settings_for
from tests.chains.anvil import CHAIN_ID, AnvilNode, running_anvil
from tests.chains.lists import write_list
from tests.prices.price_server import PriceServer, Quote

pytestmark = pytest.mark.slow
HOLDER = "0x5555555555555555555555555555555555555555"


@dataclass
class Served:
    node: AnvilNode
    client: httpx.AsyncClient
    wallet_id: str  # HOLDER's, on Ethereum
    prices: PriceServer  # the only price source (DefiLlama's API)

    async def send(self, token: str, amount: int) -> None:
        await self.node.transact(token, "mint(address,uint256)", ["address", "uint256"],
                                 [HOLDER, amount])  # fmt: skip

    async def held_once(self, token: str) -> dict[str, dict[str, Any]]:
        """The wallet's balances by token address, once ``token`` shows (30 s at most)."""
        stop = time.monotonic() + 30
        while True:
            answer = await self.client.get(f"/api/v1/wallets/{self.wallet_id}/balances")
            assert answer.status_code == 200, answer.text
            held = {b["token"]["address"]: b for b in answer.json()["balances"]}
            if token in held:
                return held
            assert time.monotonic() < stop, f"{token} not found within 30 s"
            await asyncio.sleep(0.2)


@pytest.fixture
async def served(database_url: str, tmp_path: Path) -> AsyncIterator[Served]:
    """anvil with Multicall3, and the service on it (no token list, logs read at the head,
    a cycle a second, prices from a local DefiLlama) with HOLDER's wallet."""
    async with running_anvil() as node, PriceServer() as prices:
        await node.install_multicall()
        settings = settings_for(
            database_url,
            price_sources=["defillama"],
            defillama_base_url=f"{prices.url}/llama",
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
            assert created.status_code == 201, created.text
            yield Served(node, client, created.json()["id"], prices)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_token_on_no_list_sent_to_a_wallet_shows_after_the_next_cycle(
    served: Served,
) -> None:
    token = await served.node.deploy(
        "TestToken", ["string", "string", "uint8"], ["Found", "FND", 8]
    )
    await served.send(token, 12_345_678)
    held = await served.held_once(token)
    assert held[token]["raw_balance"] == "12345678"
    assert held[token]["balance"] == "0.12345678"
    assert held[token]["token"] == {
        "chain": "ethereum", "address": token, "symbol": "FND", "name": "Found", "decimals": 8,
        "verified": False, "kind": "liquid",
    }  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_hostile_contracts_leave_every_document_valid(served: Served) -> None:
    """A token with a 16 KB name and a binary symbol, a contract sending Transfer logs whose
    decimals() reverts, one whose decimals() says 2**200, and a token of 255 decimals holding
    the most a uint256 can: the first shows with its name cut and its symbol dropped, the
    liars not at all, the last exact, and the portfolio, its CSV and the history answer as
    ever."""
    huge = await served.node.deploy("HugeNameToken", [], [])
    no_token = await served.node.deploy("NoDecimalsToken", [], [])
    lying = await served.node.deploy("HugeDecimalsToken", [], [])
    tiny = await served.node.deploy(
        "TestToken", ["string", "string", "uint8"], ["Tiny", "TNY", 255]
    )
    for token in (huge, no_token, lying):
        await served.send(token, 10**18)
    await served.send(tiny, 2**256 - 1)
    await served.held_once(huge)
    held = await served.held_once(tiny)
    assert no_token not in held
    assert lying not in held  # decimals() of 2**200: no token
    assert held[tiny]["raw_balance"] == str(2**256 - 1)
    assert held[tiny]["balance"] == "0." + str(2**256 - 1).rjust(255, "0")
    name, symbol = held[huge]["token"]["name"], held[huge]["token"]["symbol"]
    assert name.startswith("Huge name 0123")
    assert len(name) <= 64
    assert symbol is None or symbol.isprintable()
    for path in ("/api/v1/portfolio", "/api/v1/portfolio/history"):
        answer = await served.client.get(path)
        assert answer.status_code == 200, answer.text
        answer.json()
    csv = await served.client.get("/api/v1/portfolio", headers={"Accept": "text/csv"})
    assert csv.status_code == 200, csv.text
    assert "\x00" not in csv.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_found_token_counts_once_a_price_source_prices_it(served: Served) -> None:
    """Two tokens on no list sent to the wallet: the one a price source prices (by its
    address) counts in its balances, the portfolio and its history; the other is listed under
    `unverified`, out of the total. Marked spam, the priced one leaves the total."""
    priced = await served.node.deploy(
        "TestToken", ["string", "string", "uint8"], ["Priced", "PRC", 6]
    )
    unpriced = await served.node.deploy(
        "TestToken",
        ["string", "string", "uint8"],
        ["Priced", "PRC", 6],  # a copy's name
    )
    served.prices.llama[f"ethereum:{priced.lower()}"] = Quote(Decimal("2.5"))
    await served.send(priced, 3_000_000)
    await served.send(unpriced, 5_000_000)
    await served.held_once(priced)
    held = await served.held_once(unpriced)
    assert held[priced]["usd_value"] == "7.50"
    assert held[unpriced]["usd_value"] is None
    assert not held[priced]["token"]["verified"]
    assert not held[unpriced]["token"]["verified"]

    document = (await served.client.get("/api/v1/portfolio")).json()
    assert document["total_usd"] == "7.50"
    assert [t["token"]["address"] for t in document["by_token"]] == [priced]
    assert [t["token"]["address"] for t in document["unverified"]] == [unpriced]
    assert document["unverified"][0]["raw_balance"] == "5000000"
    assert all(t["token"]["address"] != unpriced for t in document["unpriced"])
    history = (await served.client.get("/api/v1/portfolio/history")).json()
    assert history["points"][-1]["total_usd"] == "7.50"

    marked = await served.client.put(f"/api/v1/tokens/ethereum/{priced}", json={"mark": "spam"})
    assert marked.status_code == 200, marked.text
    document = (await served.client.get("/api/v1/portfolio")).json()
    assert document["total_usd"] == "0.00"
    assert document["by_token"] == []
