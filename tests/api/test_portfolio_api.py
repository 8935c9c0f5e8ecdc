"""GET /portfolio over wallets read from anvil and the local Solana RPC, priced by a local
price server; totals recomputed here by hand."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from solders.pubkey import Pubkey

from portfolio.main.app import create_app
from tests.api.conftest import add, serve, settings_for
from tests.chains.worlds import ONE, EvmWorld, SolanaWorld
from tests.prices.price_server import PriceServer, Quote


@pytest.fixture
async def priced(
    database_url: str, chains: dict[str, Any], evm: EvmWorld, solana: SolanaWorld
) -> AsyncIterator[httpx.AsyncClient]:
    async with PriceServer() as prices:
        prices.llama = {
            "coingecko:ethereum": Quote(Decimal("2000"), Decimal("25")),
            f"ethereum:{evm.six.address}": Quote(Decimal("0.5")),
            "coingecko:solana": Quote(Decimal("100"), Decimal("-10")),
            f"solana:{solana.usdc.address}": Quote(Decimal("1")),
        }
        settings = settings_for(
            database_url,
            **chains,
            defillama_base_url=f"{prices.url}/llama",
            coingecko_base_url=f"{prices.url}/cg",
        )
        async with serve(create_app(settings)) as client:
            yield client


async def test_the_summary_adds_up_by_chain_token_and_wallet(
    priced: httpx.AsyncClient, evm: EvmWorld, solana: SolanaWorld
) -> None:
    eth_wallet = await add(priced, "ethereum", ONE)
    sol_wallet = await add(priced, "solana", solana.rich)
    for wallet_id in (eth_wallet, sol_wallet):
        assert (await priced.post(f"/api/v1/wallets/{wallet_id}/fetch")).status_code == 200
    summary = (await priced.get("/api/v1/portfolio")).json()
    # SOL 2.500000001 * 100 + USDC 1.234567 * 1 + 1 wei * 2000 + 0.000001 SIX * 0.5
    assert summary["total_usd"] == "251.23"
    assert summary["wallet_count"] == 2
    by_chain = {c["chain"]: c for c in summary["by_chain"]}
    assert by_chain["solana"] == {"chain": "solana", "usd_value": "251.23", "share": "1",
                                  "value": "251.23"}  # fmt: skip
    assert by_chain["ethereum"] == {"chain": "ethereum", "usd_value": "0.00", "share": "0",
                                    "value": "0.00"}  # fmt: skip
    assert (summary["currency"], summary["total_value"]) == ("USD", "251.23")
    tokens = {t["token"]["symbol"]: t for t in summary["by_token"]}
    assert list(tokens) == ["SOL", "USDC", "SIX", "ETH"]  # largest value first
    assert tokens["SOL"]["balance"] == "2.500000001"
    assert tokens["SOL"]["usd_value"] == "250.00"
    assert tokens["SOL"]["share"] == "0.995086"
    assert tokens["USDC"]["raw_balance"] == "1234567"
    unpriced = {t["token"]["symbol"] or t["token"]["address"] for t in summary["unpriced"]}
    assert unpriced == {"EIGHTEEN", "TWENTYFOUR", "PYUSD", "SPLIT", solana.unknown_mint}
    # SOL fell 10 %: 250.0000001 was 277.7777779 a day ago
    assert summary["change_24h_usd"] == "-27.78"
    wallets = {w["wallet_id"]: w for w in summary["by_wallet"]}
    assert wallets[sol_wallet]["usd_value"] == "251.23"
    assert summary["as_of"] is not None
    assert summary["stale"] is False


async def test_the_portfolio_as_csv_is_every_wallet_and_held_token(
    priced: httpx.AsyncClient, evm: EvmWorld, solana: SolanaWorld
) -> None:
    eth_wallet = await add(priced, "ethereum", ONE)
    sol_wallet = await add(priced, "solana", solana.rich)
    held = {}
    for wallet_id in (eth_wallet, sol_wallet):
        fetched = (await priced.post(f"/api/v1/wallets/{wallet_id}/fetch")).json()
        held.update({(wallet_id, b["token"]["address"] or ""): b for b in fetched["balances"]})
    answer = await priced.get("/api/v1/portfolio", headers={"Accept": "text/csv"})
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert {(r["wallet_id"], r["token_address"]) for r in rows} == set(held)
    for row in rows:
        balance = held[(row["wallet_id"], row["token_address"])]
        assert (row["raw_balance"], row["balance"]) == (balance["raw_balance"], balance["balance"])
        assert row["usd_value"] == (balance["usd_value"] or "")
    sol = next(r for r in rows if (r["wallet_id"], r["token_address"]) == (sol_wallet, ""))
    assert (sol["balance"], sol["usd_price"], sol["usd_value"]) == ("2.500000001", "100", "250.00")


async def test_sol_staked_from_a_wallet_is_counted_beside_its_liquid_sol(
    priced: httpx.AsyncClient, solana: SolanaWorld
) -> None:
    wallet, stake = Pubkey.new_unique(), Pubkey.new_unique()
    solana.server.set_sol(wallet, 500_000_000)  # 0.5 SOL
    solana.server.create_stake_account(stake, wallet, wallet, 12_345_678_901)
    wallet_id = await add(priced, "solana", str(wallet))
    fetched = (await priced.post(f"/api/v1/wallets/{wallet_id}/fetch")).json()
    kinds = {b["token"]["kind"]: b for b in fetched["balances"]}
    assert kinds["liquid"]["balance"] == "0.5"
    assert kinds["staked"]["balance"] == "12.345678901"
    assert kinds["staked"]["usd_value"] == "1234.57"  # at SOL's price, 100
    assert fetched["total_usd"] == "1284.57"
    summary = (await priced.get("/api/v1/portfolio")).json()
    assert summary["total_usd"] == "1284.57"
    staked = [t for t in summary["by_token"] if t["token"]["kind"] == "staked"]
    assert [(t["token"]["symbol"], t["balance"]) for t in staked] == [("SOL", "12.345678901")]
    stored = (await priced.get(f"/api/v1/wallets/{wallet_id}/balances")).json()
    assert {b["token"]["kind"]: b["balance"] for b in stored["balances"]} == {
        "liquid": "0.5",
        "staked": "12.345678901",
    }
    history = await priced.get("/api/v1/portfolio/at", params={"time": "2100-01-01T00:00:00Z"})
    assert {b["token"]["kind"] for b in history.json()["balances"]} == {"liquid", "staked"}


async def test_an_etag_answers_304_until_the_portfolio_changes(
    priced: httpx.AsyncClient, solana: SolanaWorld
) -> None:
    await add(priced, "solana", solana.rich)
    first = await priced.get("/api/v1/portfolio")
    etag = first.headers["etag"]
    again = await priced.get("/api/v1/portfolio", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    await add(priced, "solana", solana.huge)
    changed = await priced.get("/api/v1/portfolio", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["wallet_count"] == 2
    assert changed.headers["etag"] != etag


async def test_an_empty_portfolio_is_zero(client: httpx.AsyncClient) -> None:
    summary = (await client.get("/api/v1/portfolio")).json()
    assert summary["total_usd"] == "0.00"
    assert (summary["wallet_count"], summary["by_token"], summary["change_24h_usd"]) == (
        0,
        [],
        None,
    )


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_write_in_one_process_is_seen_by_another_that_holds_the_document(
    database_url: str, solana: SolanaWorld
) -> None:
    redis_url = "redis://127.0.0.1:6379/10"
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    settings = settings_for(database_url, redis_url=redis_url, price_sources=["none"])
    async with serve(create_app(settings)) as one, serve(create_app(settings)) as two:
        await add(one, "solana", solana.rich)
        for _ in range(3):  # the second process now holds the document
            assert (await two.get("/api/v1/portfolio")).json()["wallet_count"] == 1
        await add(one, "solana", solana.huge)
        seen = 0
        for _ in range(50):  # announced on Redis: heard within milliseconds
            seen = (await two.get("/api/v1/portfolio")).json()["wallet_count"]
            if seen == 2:
                break
            await asyncio.sleep(0.01)
        assert seen == 2
