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
