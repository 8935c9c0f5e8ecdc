"""Marks on tokens through the app: spam leaves the total (listed apart when asked), trusted
brings an unlisted token in, null clears; per tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from solders.pubkey import Pubkey
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.token_marks import SqlTokenMarkRepository
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Mark
from portfolio.main.app import create_app
from tests.api.conftest import add, serve, settings_for
from tests.chains.worlds import EvmWorld, SolanaWorld
from tests.prices.price_server import PriceServer, Quote


@pytest.fixture
async def priced(
    database_url: str, chains: dict[str, Any], solana: SolanaWorld
) -> AsyncIterator[httpx.AsyncClient]:
    async with PriceServer() as prices:
        prices.llama = {
            "coingecko:solana": Quote(Decimal("100")),
            f"solana:{solana.usdc.address}": Quote(Decimal("1")),
            f"solana:{solana.unknown_mint}": Quote(Decimal("1000000000")),  # 77 units: 77 USD
        }
        settings = settings_for(
            database_url, **chains, defillama_base_url=f"{prices.url}/llama",
            price_sources=["defillama"],
        )  # fmt: skip
        async with serve(create_app(settings)) as client:
            yield client


def symbols(tokens: list[dict[str, Any]]) -> set[str]:
    return {t["token"]["symbol"] or t["token"]["address"] for t in tokens}


async def test_spam_leaves_the_total_and_trusted_enters_it(
    priced: httpx.AsyncClient, solana: SolanaWorld
) -> None:
    wallet = await add(priced, "solana", solana.rich)
    assert (await priced.post(f"/api/v1/wallets/{wallet}/fetch")).status_code == 200
    before = await priced.get("/api/v1/portfolio")
    assert before.json()["total_usd"] == "251.23"  # SOL 250.00 + USDC 1.23
    assert solana.unknown_mint in symbols(before.json()["unpriced"])  # on no list: not counted

    usdc = f"/api/v1/tokens/solana/{solana.usdc.address}"
    spam = await priced.put(usdc, json={"mark": "spam"})
    assert spam.status_code == 200
    assert spam.json() == {"chain": "solana", "address": solana.usdc.address, "mark": "spam"}
    after = await priced.get("/api/v1/portfolio", headers={"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200  # a mark changes the portfolio: a new document
    assert after.json()["total_usd"] == "250.00"
    assert "USDC" not in symbols(after.json()["by_token"]) | symbols(after.json()["unpriced"])
    assert after.json()["spam"] == []  # hidden unless asked
    asked = (await priced.get("/api/v1/portfolio", params={"include_spam": "true"})).json()
    assert symbols(asked["spam"]) == {"USDC"}
    assert asked["total_usd"] == "250.00"  # listed, never counted

    trusted = await priced.put(
        f"/api/v1/tokens/solana/{solana.unknown_mint}", json={"mark": "trusted"}
    )
    assert trusted.status_code == 200
    counted = (await priced.get("/api/v1/portfolio")).json()
    assert counted["total_usd"] == "327.00"  # + the unlisted token, 77.00
    assert solana.unknown_mint in symbols(counted["by_token"])

    listed = (await priced.get("/api/v1/tokens")).json()["items"]
    assert {(m["address"], m["mark"]) for m in listed} == {
        (solana.usdc.address, "spam"), (solana.unknown_mint, "trusted"),
    }  # fmt: skip
    assert (await priced.put(usdc, json={"mark": None})).status_code == 200
    assert (await priced.get("/api/v1/portfolio")).json()["total_usd"] == "328.23"
    csv_rows = (await priced.get("/api/v1/portfolio", headers={"Accept": "text/csv"})).text
    assert solana.unknown_mint in csv_rows

    for bad, field in (({"mark": "maybe"}, "mark"), ({}, "mark")):
        refused = await priced.put(usdc, json=bad)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["loc"][-1] == field
    assert (
        await priced.put("/api/v1/tokens/solana/native", json={"mark": "spam"})
    ).status_code == 422
    assert (
        await priced.put("/api/v1/tokens/ethereum/0x12", json={"mark": "spam"})
    ).status_code == 422
    assert (
        await priced.get("/api/v1/portfolio", params={"include_spam": "maybe"})
    ).status_code == 422


async def test_marks_are_per_tenant(db_engine: AsyncEngine) -> None:
    marks = SqlTokenMarkRepository(session_factory(db_engine))
    now = datetime.now(UTC)
    await marks.set_mark("alpha", Chain.SOLANA, "Mint1", Mark.SPAM, now)
    await marks.set_mark("beta", Chain.SOLANA, "Mint1", Mark.TRUSTED, now)
    await marks.set_mark("alpha", Chain.SOLANA, "Mint1", Mark.TRUSTED, now)  # replaced
    assert await marks.marks("alpha") == {(Chain.SOLANA, "Mint1"): Mark.TRUSTED}
    await marks.set_mark("beta", Chain.SOLANA, "Mint1", None, now)  # cleared
    assert await marks.marks("beta") == {}
    assert await marks.marks("alpha") == {(Chain.SOLANA, "Mint1"): Mark.TRUSTED}


@pytest.fixture
async def evm_priced(
    database_url: str, chains: dict[str, Any], evm: EvmWorld
) -> AsyncIterator[tuple[httpx.AsyncClient, PriceServer]]:
    async with PriceServer() as prices:
        prices.llama = {"coingecko:ethereum": Quote(Decimal("2000"))}
        settings = settings_for(
            database_url, **chains, defillama_base_url=f"{prices.url}/llama",
            price_sources=["defillama"],
        )  # fmt: skip
        async with serve(create_app(settings)) as client:
            yield client, prices


async def test_a_token_on_no_list_is_tracked_read_and_counted_once_trusted(
    evm_priced: tuple[httpx.AsyncClient, PriceServer], evm: EvmWorld
) -> None:
    client, prices = evm_priced
    holder = "0x" + "ab" * 20
    offlist = await evm.node.deploy(
        "TestToken", ["string", "string", "uint8"], ["Off List", "OFF", 4]
    )
    await evm.node.transact(offlist, "mint(address,uint256)", ["address", "uint256"],
                            [holder, 123_456])  # fmt: skip
    old = await evm.node.deploy(
        "Bytes32Token", ["bytes32", "bytes32", "uint8"],
        [b"MKR".ljust(32, b"\0"), b"Maker".ljust(32, b"\0"), 18],
    )  # fmt: skip
    wallet = await add(client, "ethereum", holder)
    before = (await client.post(f"/api/v1/wallets/{wallet}/fetch")).json()
    assert "OFF" not in {b["token"]["symbol"] for b in before["balances"]}  # on no list

    tracked = await client.post("/api/v1/tokens", json={"chain": "ethereum", "address": offlist})
    assert tracked.status_code == 201, tracked.text
    assert {k: tracked.json()[k] for k in ("symbol", "name", "decimals", "verified")} == {
        "symbol": "OFF", "name": "Off List", "decimals": 4, "verified": False
    }  # fmt: skip
    again = await client.post("/api/v1/tokens", json={"chain": "ethereum", "address": offlist})
    assert again.status_code == 200
    maker = await client.post("/api/v1/tokens", json={"chain": "ethereum", "address": old})
    assert (maker.json()["symbol"], maker.json()["name"]) == ("MKR", "Maker")  # bytes32
    nothing = await client.post("/api/v1/tokens", json={"chain": "ethereum", "address": holder})
    assert nothing.status_code == 422  # no contract there
    assert nothing.json()["errors"][0]["loc"] == ["body", "address"]

    after = (await client.post(f"/api/v1/wallets/{wallet}/fetch")).json()
    held = {b["token"]["symbol"]: b for b in after["balances"]}
    assert held["OFF"]["balance"] == "12.3456"
    assert held["OFF"]["usd_value"] is None  # tracked, not trusted: not counted
    summary = (await client.get("/api/v1/portfolio")).json()
    assert "OFF" in symbols(summary["unpriced"])

    prices.llama[f"ethereum:{offlist.lower()}"] = Quote(Decimal("10"))
    await client.put(f"/api/v1/tokens/ethereum/{offlist}", json={"mark": "trusted"})
    await client.post(f"/api/v1/wallets/{wallet}/fetch")  # prices are cached a minute
    counted = (await client.get("/api/v1/portfolio")).json()
    assert "OFF" in symbols(counted["by_token"])
    listed = {(t["address"], t["tracked"], t["mark"]) for t in
              (await client.get("/api/v1/tokens")).json()["items"]}  # fmt: skip
    assert (offlist, True, "trusted") in listed
    assert (old, True, None) in listed


async def test_a_tracked_token_2022_mint_lends_its_name_to_the_balance(
    priced: httpx.AsyncClient, solana: SolanaWorld
) -> None:
    wallet, mint, account = Pubkey.new_unique(), Pubkey.new_unique(), Pubkey.new_unique()
    solana.server.create_mint_with_metadata(mint, 5, "Local Dollar", "LUSD")
    solana.server.create_token_account(account, mint, wallet, 1_234_500)
    wallet_id = await add(priced, "solana", str(wallet))
    before = (await priced.post(f"/api/v1/wallets/{wallet_id}/fetch")).json()
    unnamed = next(b for b in before["balances"] if b["token"]["address"] == str(mint))
    assert (unnamed["token"]["symbol"], unnamed["balance"]) == (None, "12.345")
    tracked = await priced.post("/api/v1/tokens", json={"chain": "solana", "address": str(mint)})
    assert tracked.status_code == 201
    assert (tracked.json()["symbol"], tracked.json()["name"]) == ("LUSD", "Local Dollar")
    after = (await priced.post(f"/api/v1/wallets/{wallet_id}/fetch")).json()
    named = next(b for b in after["balances"] if b["token"]["address"] == str(mint))
    assert (named["token"]["symbol"], named["token"]["name"]) == ("LUSD", "Local Dollar")
    wallet_as_token = await priced.post(
        "/api/v1/tokens", json={"chain": "solana", "address": str(wallet)}
    )
    assert wallet_as_token.status_code == 422  # a wallet, no mint
