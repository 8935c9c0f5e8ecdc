"""Fetching and serving balances through the app, against anvil and the local Solana RPC."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Context, Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.models import BalanceChangeRow, PricePointRow
from portfolio.main.app import create_app
from tests.api.conftest import add, serve, settings_for
from tests.chains.lists import write_list
from tests.chains.worlds import BIG, HUGE, ONE, U64_MAX, EvmWorld, SolanaWorld
from tests.netutil import free_port
from tests.prices.price_server import PriceServer, Quote
from tests.rpcproxy import RpcProxy


def by_symbol(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["token"]["symbol"] or b["token"]["address"]: b for b in document["balances"]}


async def test_an_ethereum_fetch_is_exact_and_reports_failed_tokens(
    database_url: str, chains: dict[str, Any], evm: EvmWorld
) -> None:
    async with serve(create_app(settings_for(database_url, **chains))) as client:
        wallet_id = await add(client, "ethereum", BIG)
        fetched = await client.post(f"/api/v1/wallets/{wallet_id}/fetch")
        assert fetched.status_code == 200, fetched.text
        document = fetched.json()
        held = by_symbol(document)
        assert held["ETH"]["raw_balance"] == str(HUGE)
        assert held["ETH"]["balance"] == "1000000000000.000000000000000007"
        assert held["ETH"]["token"]["address"] is None
        assert held["TWENTYFOUR"]["raw_balance"] == str(HUGE * 24)
        assert held["TWENTYFOUR"]["balance"] == "24000000.000000000000000000000168"
        assert held["SIX"]["token"] == {
            "chain": "ethereum", "address": evm.six.address, "symbol": "SIX", "name": "Six",
            "decimals": 6, "verified": True, "kind": "liquid",
        }  # fmt: skip
        assert {e["token"]["symbol"] for e in document["errors"]} == {"REV", "GRB"}
        assert document["as_of"] is not None
        # A reverting token of the list is listed under errors; the read succeeded: fresh.
        assert document["stale"] is False
        assert {b["as_of"] for b in document["balances"]} == {document["as_of"]}
        served = (await client.get(f"/api/v1/wallets/{wallet_id}/balances")).json()
        assert served["balances"] == document["balances"]
        assert served["as_of"] == document["as_of"]
        assert served["stale"] is False
        assert served["errors"] == document["errors"]
        summary = (await client.get("/api/v1/portfolio")).json()
        assert summary["stale"] is False


async def test_a_solana_fetch_reads_both_token_programs(
    database_url: str, chains: dict[str, Any], solana: SolanaWorld
) -> None:
    async with serve(create_app(settings_for(database_url, **chains))) as client:
        wallet_id = await add(client, "solana", solana.rich)
        document = (await client.post(f"/api/v1/wallets/{wallet_id}/fetch")).json()
        held = by_symbol(document)
        assert held["SOL"]["balance"] == "2.500000001"
        assert held["USDC"]["balance"] == "1.234567"
        assert held["PYUSD"]["raw_balance"] == "5"
        assert held["SPLIT"]["raw_balance"] == "123"
        assert "ZERO" not in held
        assert held[solana.unknown_mint]["token"]["verified"] is False
        assert document["stale"] is False
        huge = await add(client, "solana", solana.huge)
        document = (await client.post(f"/api/v1/wallets/{huge}/fetch")).json()
        assert by_symbol(document)["USDC"]["raw_balance"] == str(U64_MAX)


async def change_rows(engine: AsyncEngine) -> int:
    async with session_factory(engine)() as session:
        count = await session.scalar(select(func.count()).select_from(BalanceChangeRow))
    return int(count or 0)


async def test_a_chain_that_cannot_be_read_changes_nothing_and_reads_go_stale(
    postgres_engine: AsyncEngine, postgres_url: str, chains: dict[str, Any], solana: SolanaWorld
) -> None:
    async with serve(create_app(settings_for(postgres_url, **chains))) as client:
        wallet_id = await add(client, "solana", solana.rich)
        good = (await client.post(f"/api/v1/wallets/{wallet_id}/fetch")).json()
        rows = await change_rows(postgres_engine)

        solana.server.fault = "500"
        failed = await client.post(f"/api/v1/wallets/{wallet_id}/fetch")
        assert failed.status_code == 503
        assert failed.headers["content-type"] == "application/problem+json"
        assert int(failed.headers["retry-after"]) > 0
        assert "HTTP 500" in failed.json()["detail"]

        served = (await client.get(f"/api/v1/wallets/{wallet_id}/balances")).json()
        assert served["balances"] == good["balances"]
        assert served["stale"] is True
        assert "HTTP 500" in served["last_error"]
        assert await change_rows(postgres_engine) == rows

        solana.server.fault = "timeout"
        timed_out = await client.post(f"/api/v1/wallets/{wallet_id}/fetch")
        assert timed_out.status_code == 504
        assert timed_out.headers["retry-after"]


async def test_a_chain_with_no_node_answering_is_a_503(
    database_url: str, chains: dict[str, Any]
) -> None:
    settings = settings_for(
        database_url, **{**chains, "ethereum_rpc_urls": [f"http://127.0.0.1:{free_port()}"]}
    )
    async with serve(create_app(settings)) as client:
        wallet_id = await add(client, "ethereum", ONE)
        response = await client.post(f"/api/v1/wallets/{wallet_id}/fetch")
        assert response.status_code == 503
        balances = (await client.get(f"/api/v1/wallets/{wallet_id}/balances")).json()
        assert (balances["balances"], balances["as_of"], balances["stale"]) == ([], None, True)


async def test_twenty_concurrent_fetches_from_two_processes_read_the_chain_once(
    postgres_engine: AsyncEngine, postgres_url: str, chains: dict[str, Any], evm: EvmWorld
) -> None:
    async with RpcProxy(evm.node.url, delay=0.05) as proxy:
        settings = settings_for(
            postgres_url,
            **{
                **chains,
                "ethereum_rpc_urls": [proxy.url],
                "redis_url": "redis://127.0.0.1:6379/14",
            },
        )
        async with serve(create_app(settings)) as one, serve(create_app(settings)) as two:
            wallet_id = await add(one, "ethereum", ONE)
            clients = [one, two] * 10
            answers = await asyncio.gather(
                *(c.post(f"/api/v1/wallets/{wallet_id}/fetch") for c in clients)
            )
    assert {a.status_code for a in answers} == {200}
    assert len({json.dumps(a.json(), sort_keys=True) for a in answers}) == 1
    assert proxy.methods.count("eth_call") == 1  # one multicall: one read
    assert await change_rows(postgres_engine) == 4  # ETH and three tokens, once


@pytest.fixture
async def prices(evm: EvmWorld) -> AsyncIterator[PriceServer]:
    async with PriceServer() as server:
        server.llama = {
            "coingecko:ethereum": Quote(Decimal("3456.78"), Decimal("-2")),
            f"ethereum:{evm.six.address}": Quote(Decimal("0.999912345678901234567")),
        }
        yield server


async def test_balances_are_valued_in_usd_and_the_price_series_keeps_the_prices(
    postgres_engine: AsyncEngine,
    postgres_url: str,
    chains: dict[str, Any],
    prices: PriceServer,
    evm: EvmWorld,
) -> None:
    settings = settings_for(
        postgres_url,
        **chains,
        defillama_base_url=f"{prices.url}/llama",
        coingecko_base_url=f"{prices.url}/cg",
    )
    async with serve(create_app(settings)) as client:
        wallet_id = await add(client, "ethereum", BIG)
        document = (await client.post(f"/api/v1/wallets/{wallet_id}/fetch")).json()
    held = by_symbol(document)
    with localcontext(Context(prec=100)):  # the default 28 digits would round these
        eth_value = Decimal(HUGE) / 10**18 * Decimal("3456.78")
        six_value = Decimal(HUGE * 6) / 10**6 * Decimal("0.999912345678901234567")
    assert held["ETH"]["usd_price"] == "3456.78"
    assert held["ETH"]["usd_value"] == str(eth_value.quantize(Decimal("0.01")))
    assert held["ETH"]["price_change_24h"] == "-0.02"
    assert held["SIX"]["usd_value"] == str(six_value.quantize(Decimal("0.01")))
    assert held["EIGHTEEN"]["usd_price"] is None  # no source prices it: null, never zero
    assert held["EIGHTEEN"]["usd_value"] is None
    assert document["total_usd"] == str((eth_value + six_value).quantize(Decimal("0.01")))
    async with session_factory(postgres_engine)() as session:
        rows = (await session.scalars(select(PricePointRow))).all()
    recorded = {(row.token_key, row.step_seconds): row.usd_price for row in rows}
    for step in (300, 3600, 86400):  # the price of each bucket that holds the read
        assert recorded["native", step] == Decimal("3456.78")
        assert recorded[evm.six.key, step] == Decimal("0.999912345678901235")  # 18 places
    assert len(recorded) == 6  # the unpriced token has no series


async def test_a_configured_list_of_one_chain_is_read_whatever_its_chain_id(
    database_url: str, chains: dict[str, Any], evm: EvmWorld, tmp_path: Path
) -> None:
    mainnet_ids = write_list(tmp_path / "mainnet-ids.json", 1, evm.good_tokens)
    settings = settings_for(database_url, **{**chains, "ethereum_token_list": mainnet_ids})
    async with serve(create_app(settings)) as client:
        wallet_id = await add(client, "ethereum", ONE)
        document = (await client.post(f"/api/v1/wallets/{wallet_id}/fetch")).json()
    assert set(by_symbol(document)) == {"ETH", "SIX", "EIGHTEEN", "TWENTYFOUR"}
    assert document["errors"] == []
