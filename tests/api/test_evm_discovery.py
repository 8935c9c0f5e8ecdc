"""EVM token discovery end to end, counted at the node: a chain the project has never seen, with
a token list it does not ship (hundreds of tokens, a few of them held). The wallet's fetch
reads the whole list and remembers what is held; a refresh reads only that; a token received
later is found by the next discovery (the wallet's own fetch, or a refresh once the discovery
is older than PORTFOLIO_EVM_DISCOVERY_SECONDS); a token sent away leaves the balances."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_utils.address import to_checksum_address

from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Token
from portfolio.main.app import create_app
from tests.api.conftest import chains_file, serve, settings_for
from tests.chains.anvil import AnvilNode, running_anvil
from tests.chains.lists import write_list
from tests.rpcproxy import RpcProxy

pytestmark = pytest.mark.slow

CHAIN_ID = 778
LISTED = 400
HOLDER = "0x4444444444444444444444444444444444444444"
HELD = {7: 3_000_000, 123: 10**18 + 1, 399: 5}  # list position: base units


@dataclass
class ListedChain:
    node: AnvilNode
    tokens: list[Token]

    async def hold(self, position: int, units: int) -> None:
        address = self.tokens[position].address or ""
        await self.node.set_token_balances([(address, HOLDER, units)])


@pytest.fixture
async def listed() -> AsyncIterator[ListedChain]:
    async with running_anvil(chain_id=CHAIN_ID) as node:
        await node.install_multicall()
        tokens = [
            Token(Chain("devchain"), to_checksum_address(f"0x{0xD15C0 + n:040x}"), f"D{n}",
                  f"Discovered {n}", (6, 8, 18)[n % 3], True)
            for n in range(LISTED)
        ]  # fmt: skip
        await node.place_tokens([t.address or "" for t in tokens])
        world = ListedChain(node, tokens)
        for position, units in HELD.items():
            await world.hold(position, units)
        await node.set_eth(HOLDER, 10**18)
        yield world


def app_settings(
    database_url: str, chains: dict[str, Any], tmp_path: Path, url: str, tokens: list[Token],
    **overrides: Any,
) -> Any:  # fmt: skip
    token_list = write_list(tmp_path / "listed.json", CHAIN_ID, tokens)
    path = chains_file(tmp_path / "chains.toml", CHAIN_ID, url, token_list)
    return settings_for(database_url, **chains, evm_chains_file=path, **overrides)


async def held(client: httpx.AsyncClient, wallet_id: str) -> dict[str, str]:
    answer = (await client.get(f"/api/v1/wallets/{wallet_id}/balances")).json()
    return {b["token"]["symbol"]: b["balance"] for b in answer["balances"]}


async def test_a_refresh_reads_only_what_the_last_discovery_found(
    postgres_url: str, chains: dict[str, Any], listed: ListedChain, tmp_path: Path
) -> None:
    async with RpcProxy(listed.node.url, count_calls=True) as node:
        settings = app_settings(postgres_url, chains, tmp_path, node.url, listed.tokens)
        async with serve(create_app(settings)) as client:
            created = await client.post(
                "/api/v1/wallets", json={"chain": "devchain", "address": HOLDER}
            )
            wallet = created.json()["id"]

            fetched = await client.post(f"/api/v1/wallets/{wallet}/fetch")
            assert fetched.status_code == 200, fetched.text
            assert node.balance_calls == LISTED  # discovery: the whole list
            # D7 has 8 decimals, D123 and D399 have 6.
            found = {"DEV": "1", "D7": "0.03", "D123": "1000000000000.000001", "D399": "0.000005"}
            assert await held(client, wallet) == found

            node.balance_calls = node.requests = 0
            refreshed = (await client.post("/api/v1/portfolio/refresh")).json()
            assert refreshed["refreshed"] == 1
            assert node.balance_calls == len(HELD)  # the held tokens only
            assert node.requests == 1  # the native coin and three tokens in one multicall
            assert LISTED / node.balance_calls >= 20
            assert await held(client, wallet) == found

            # A token received after the discovery is not seen by a refresh, but by the next
            # discovery: the wallet's own fetch.
            await listed.hold(200, 42)
            await client.post("/api/v1/portfolio/refresh")
            assert "D200" not in await held(client, wallet)
            node.balance_calls = 0
            await client.post(f"/api/v1/wallets/{wallet}/fetch")
            assert node.balance_calls == LISTED
            assert (await held(client, wallet))["D200"] == "0.000000000000000042"  # 18 decimals

            # A held token sent away is read as zero and leaves the balances.
            await listed.hold(7, 0)
            node.balance_calls = 0
            await client.post("/api/v1/portfolio/refresh")
            assert node.balance_calls == len(HELD) + 1
            assert "D7" not in await held(client, wallet)
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            at_moment = (await client.get("/api/v1/portfolio/at", params={"time": now})).json()
            assert "D7" not in {b["token"]["symbol"] for b in at_moment["balances"]}


async def test_discovery_comes_again_on_its_own_schedule(
    database_url: str, chains: dict[str, Any], listed: ListedChain, tmp_path: Path
) -> None:
    async with RpcProxy(listed.node.url, count_calls=True) as node:
        settings = app_settings(
            database_url, chains, tmp_path, node.url, listed.tokens, evm_discovery_seconds=0
        )
        async with serve(create_app(settings)) as client:
            await client.post("/api/v1/wallets", json={"chain": "devchain", "address": HOLDER})
            for _ in range(2):  # no discovery is trusted: each refresh reads the whole list
                node.balance_calls = 0
                assert (await client.post("/api/v1/portfolio/refresh")).json()["refreshed"] == 1
                assert node.balance_calls == LISTED
