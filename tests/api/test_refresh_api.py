"""POST /portfolio/refresh: every wallet, batched per chain; one chain down leaves the other
refreshed and its own wallets' stored data untouched."""

from __future__ import annotations

from typing import Any

from solders.pubkey import Pubkey

from portfolio.main.app import create_app
from tests.api.conftest import add, serve, settings_for
from tests.chains.worlds import BIG, ONE, ZERO, EvmWorld, SolanaWorld
from tests.rpcproxy import RpcProxy


async def test_refresh_reads_each_chain_once_and_survives_a_chain_going_down(
    database_url: str, chains: dict[str, Any], evm: EvmWorld, solana: SolanaWorld
) -> None:
    async with RpcProxy(evm.node.url) as proxy:
        settings = settings_for(database_url, **{**chains, "ethereum_rpc_urls": [proxy.url]})
        async with serve(create_app(settings)) as client:
            evm_ids = [await add(client, "ethereum", a) for a in (ONE, BIG, ZERO)]
            sol_ids = [await add(client, "solana", a) for a in (solana.rich, solana.huge)]
            first = await client.post("/api/v1/portfolio/refresh")
            assert first.status_code == 200
            outcome = first.json()
            assert (outcome["refreshed"], outcome["failed"]) == (5, 0)
            assert proxy.methods.count("eth_call") == 1  # one multicall for every wallet
            rich = await client.get(f"/api/v1/wallets/{sol_ids[0]}/balances")
            before = rich.json()
            assert before["balances"]

            solana.server.fault = "500"
            second = (await client.post("/api/v1/portfolio/refresh")).json()
            status = {w["wallet_id"]: w for w in second["wallets"]}
            assert {status[i]["status"] for i in evm_ids} == {"refreshed"}
            assert {status[i]["status"] for i in sol_ids} == {"failed"}
            assert "HTTP 500" in status[sol_ids[0]]["error"]
            after = (await client.get(f"/api/v1/wallets/{sol_ids[0]}/balances")).json()
            assert after["balances"] == before["balances"]
            assert after["as_of"] == before["as_of"]
            assert after["stale"] is True
            eth = (await client.get(f"/api/v1/wallets/{evm_ids[1]}/balances")).json()
            assert eth["as_of"] > before["as_of"]
    solana.server.fault = None


async def test_a_second_refresh_reads_known_solana_accounts_with_get_multiple_accounts(
    database_url: str, chains: dict[str, Any], solana: SolanaWorld
) -> None:
    async with serve(create_app(settings_for(database_url, **chains))) as client:
        for address in (solana.rich, solana.huge, solana.empty):
            await add(client, "solana", address)
        asked = len(solana.server.methods)
        first = (await client.post("/api/v1/portfolio/refresh")).json()
        discovery = solana.server.methods[asked:]
        asked = len(solana.server.methods)
        second = (await client.post("/api/v1/portfolio/refresh")).json()
        again = solana.server.methods[asked:]
        summary = (await client.get("/api/v1/portfolio")).json()
    assert discovery.count("getTokenAccountsByOwner") == 6  # two programs, three wallets
    assert again == ["getMultipleAccounts"]  # 3 wallets and their 8 token accounts in one call
    assert first["refreshed"] == second["refreshed"] == 3
    held = {t["token"]["symbol"]: t["raw_balance"] for t in summary["unpriced"]}
    assert held["SPLIT"] == "123"


async def test_refreshes_follow_a_token_account_to_its_new_owner_and_fail_a_malformed_wallet_alone(
    database_url: str, chains: dict[str, Any], solana: SolanaWorld
) -> None:
    giver, taker, account = Pubkey.new_unique(), Pubkey.new_unique(), Pubkey.new_unique()
    mint = Pubkey.from_string(solana.usdc.address or "")
    solana.server.create_token_account(account, mint, giver, 25)
    try:
        async with serve(create_app(settings_for(database_url, **chains))) as client:
            ids = {str(o): await add(client, "solana", str(o)) for o in (giver, taker)}
            rich = await add(client, "solana", solana.rich)
            assert (await client.post("/api/v1/portfolio/refresh")).json()["refreshed"] == 3

            solana.server.create_token_account(account, mint, taker, 25)  # handed over
            solana.server.malformed = {solana.rich}  # the rich wallet's own account
            outcome = (await client.post("/api/v1/portfolio/refresh")).json()
            status = {w["wallet_id"]: w for w in outcome["wallets"]}
            assert status[rich]["status"] == "failed"
            assert "malformed" in status[rich]["error"]
            assert {status[i]["status"] for i in ids.values()} == {"refreshed"}

            def usdc(document: dict[str, Any]) -> str | None:
                held = {b["token"]["symbol"]: b["raw_balance"] for b in document["balances"]}
                return held.get("USDC")

            giver_now = (await client.get(f"/api/v1/wallets/{ids[str(giver)]}/balances")).json()
            taker_now = (await client.get(f"/api/v1/wallets/{ids[str(taker)]}/balances")).json()
            assert (usdc(giver_now), usdc(taker_now)) == (None, "25")
            rich_now = (await client.get(f"/api/v1/wallets/{rich}/balances")).json()
            assert rich_now["stale"] is True
            assert "malformed" in rich_now["last_error"]
            assert usdc(rich_now) == "1234567"  # kept from the last good read
    finally:
        solana.server.malformed = set()
