from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from portfolio.adapters.chains.tokenlist import TokenListError, load_token_list, parse_token_list
from portfolio.domain.chains import Chain
from tests.netutil import free_port

# A few well-known mainnet tokens, checked against the shipped list.
KNOWN = {
    "0xdAC17F958D2ee523a2206206994597C13D831ec7": ("USDT", 6),
    "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48": ("USDC", 6),
    "0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599": ("WBTC", 8),
    "0x6B175474E89094C44Da98b954EedeAC495271d0F": ("DAI", 18),
    "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2": ("WETH", 18),
}


async def test_the_shipped_ethereum_list_has_the_most_held_tokens() -> None:
    tokens = (await load_token_list(Chain.ETHEREUM, None))[1]
    assert len(tokens) >= 25
    by_address = {t.address: (t.symbol, t.decimals) for t in tokens}
    assert {a: by_address[a] for a in KNOWN} == KNOWN
    assert all(t.verified and t.chain == Chain.ETHEREUM for t in tokens)


# Each preset's shipped list, the chain id its tokens are on, and one token it must name.
PRESETS = {
    "base": (8453, "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USDC"),
    "optimism": (10, "0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85", "USDC"),
    "arbitrum": (42161, "0xaf88d065e77c8cC2239327C5EDb3A432268e5831", "USDC"),
    "polygon": (137, "0x3c499c542cEF5E3811e1192ce70d8cC03d5c3359", "USDC"),
    "bsc": (56, "0x55d398326f99059fF775485246999027B3197955", "USDT"),
}


async def test_the_shipped_ethereum_list_is_large() -> None:
    """Discovery makes long lists cheap: the shipped one merges several packages."""
    tokens = (await load_token_list(Chain.ETHEREUM, None))[1]
    assert len(tokens) >= 1000
    assert len({t.address for t in tokens}) == len(tokens)


@pytest.mark.parametrize("name", sorted(PRESETS))
async def test_every_preset_ships_a_list_of_its_own_chain(name: str) -> None:
    chain_id, address, symbol = PRESETS[name]
    shipped = await load_token_list(Chain(name), None)
    assert set(shipped) == {chain_id}
    by_address = {t.address: t for t in shipped[chain_id]}
    assert by_address[address].symbol == symbol
    assert all(t.chain == name and t.verified for t in shipped[chain_id])
    # No stand-in for the native coin (0xEeee..., Polygon's 0x...1010): it would count twice.
    assert all(int(t.address or "0", 16) >= 2**20 for t in shipped[chain_id])
    assert not any((t.address or "").lower().startswith("0xeeeeeeeeee") for t in shipped[chain_id])


async def test_sources_are_merged_in_order_the_first_entry_of_an_address_kept(
    tmp_path: Path,
) -> None:
    usdc = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"tokens": [
        {"chainId": 1, "address": usdc, "symbol": "MYUSDC", "decimals": 6},
        {"chainId": 1, "address": "0x" + "cd" * 20, "symbol": "NEW", "decimals": 2},
    ]}))  # fmt: skip
    shipped = (await load_token_list(Chain.ETHEREUM, None))[1]
    merged = (await load_token_list(Chain.ETHEREUM, f"{mine}, shipped"))[1]
    assert len(merged) == len(shipped) + 1
    symbols = {t.address.lower(): t.symbol for t in merged if t.address}
    assert (symbols[usdc], symbols["0x" + "cd" * 20]) == ("MYUSDC", "NEW")
    shipped_first = (await load_token_list(Chain.ETHEREUM, f"shipped,{mine}"))[1]
    assert {t.address.lower(): t.symbol for t in shipped_first if t.address}[usdc] == "USDC"
    assert await load_token_list(Chain("gnosis"), "shipped") == {}  # none shipped for it
    assert [t.symbol for t in (await load_token_list(Chain("gnosis"), str(mine)))[1]] == [
        "MYUSDC", "NEW"
    ]  # fmt: skip


async def test_the_shipped_solana_list_names_its_mints() -> None:
    tokens = (await load_token_list(Chain.SOLANA, None))[101]
    usdc = next(t for t in tokens if t.symbol == "USDC")
    assert (usdc.address, usdc.decimals) == ("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", 6)


def test_entries_are_grouped_by_chain_and_deduplicated() -> None:
    entry = {"chainId": 1, "address": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "symbol": "A",
             "decimals": 6}  # fmt: skip
    other = {**entry, "chainId": 10, "symbol": "B"}
    parsed = parse_token_list(Chain.ETHEREUM, {"tokens": [entry, {**entry, "symbol": "X"}, other]})
    assert {cid: [t.symbol for t in ts] for cid, ts in parsed.items()} == {1: ["A"], 10: ["B"]}
    assert parsed[1][0].address == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55


@pytest.mark.parametrize(
    "document",
    [
        [],
        {"tokens": {}},
        {"tokens": [{"chainId": 1, "address": "0x12", "decimals": 6}]},
        {"tokens": [{"chainId": 1, "address": "0x" + "ab" * 20, "decimals": 300}]},
        {"tokens": [{"address": "0x" + "ab" * 20, "decimals": 6}]},
    ],
)
def test_a_malformed_list_is_refused(document: object) -> None:
    with pytest.raises(TokenListError):
        parse_token_list(Chain.ETHEREUM, document)


async def test_a_list_is_read_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text(
        json.dumps({"tokens": [{"chainId": 5, "address": "0x" + "cd" * 20, "decimals": 0}]})
    )
    assert [t.decimals for t in (await load_token_list(Chain.ETHEREUM, str(path)))[5]] == [0]
    with pytest.raises(TokenListError):
        await load_token_list(Chain.ETHEREUM, str(tmp_path / "missing.json"))


@pytest.fixture
async def list_server() -> AsyncIterator[str]:
    document = {"tokens": [{"chainId": 1, "address": "0x" + "ef" * 20, "decimals": 9}]}
    app = web.Application()

    async def serve_list(_request: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/list.json", serve_list)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_list_is_read_from_a_url(list_server: str) -> None:
    tokens = await load_token_list(Chain.ETHEREUM, f"{list_server}/list.json")
    assert [t.decimals for t in tokens[1]] == [9]
    with pytest.raises(TokenListError):
        await load_token_list(Chain.ETHEREUM, f"{list_server}/nothing.json")
