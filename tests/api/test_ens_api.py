"""Wallets by ENS name, through the API on a real node (anvil) with ENS's published contracts:
`vitalik.eth` is normalised, resolved and stored as its address with its name; the primary
name shows on wallets once the cycle has read it (only when it resolves back); a name that
resolves to nothing, is no valid name, or has a hostile resolver is a 422 and the service
answers on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from portfolio.main.app import create_app
from tests.api.conftest import serve, settings_for
from tests.chains.anvil import CHAIN_ID, AnvilNode, running_anvil
from tests.chains.ens import Ens, deploy_ens
from tests.chains.lists import write_list

pytestmark = pytest.mark.slow
VITALIK = "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"
IMPOSTOR = "0x" + "5a" * 20  # claims vitalik.eth as its primary name
THIRD = "0x6B6B6B6b6B6b6B6B6b6b6B6b6B6b6B6b6B6B6B6b"  # third.eth, both ways


@dataclass
class Named:
    node: AnvilNode
    ens: Ens
    client: httpx.AsyncClient

    async def add(self, address: str, chain: str = "ethereum") -> httpx.Response:
        return await self.client.post("/api/v1/wallets", json={"chain": chain, "address": address})

    async def named_once(self, wallet_id: str) -> dict[str, Any]:
        """The wallet once its primary name was read (30 s at most)."""
        stop = time.monotonic() + 30
        while True:
            listed = await self.client.get("/api/v1/wallets")
            row = next(w for w in listed.json()["items"] if w["id"] == wallet_id)
            if row["ens_name"] is not None or time.monotonic() > stop:
                # Read after the list (the cycle may write the name between two reads): the
                # wallet's own document says the same.
                answer = await self.client.get(f"/api/v1/wallets/{wallet_id}")
                assert answer.status_code == 200, answer.text
                assert answer.json() == row
                return dict(row)
            await asyncio.sleep(0.2)


@pytest.fixture
async def named(database_url: str, tmp_path: Path) -> AsyncIterator[Named]:
    async with running_anvil() as node:
        await node.install_multicall()
        ens = await deploy_ens(node)
        await ens.register("vitalik.eth", VITALIK)
        await ens.claim(VITALIK, "vitalik.eth")
        await ens.claim(IMPOSTOR, "vitalik.eth")
        await ens.register("third.eth", THIRD)
        await ens.claim(THIRD, "third.eth")
        settings = settings_for(
            database_url,
            ethereum_rpc_urls=[node.url],
            ethereum_chain_id=CHAIN_ID,
            ethereum_token_list=write_list(tmp_path / "none.json", CHAIN_ID, []),
            refresh_interval_seconds=1,
            rpc_timeout_seconds=2,
        )
        async with serve(create_app(settings)) as client:
            yield Named(node, ens, client)


async def test_a_wallet_added_by_ens_name_keeps_the_name_and_shows_its_primary_name(
    named: Named,
) -> None:
    added = await named.add("  VITALIK.eth ")
    assert added.status_code == 201, added.text
    assert added.json()["address"] == VITALIK
    assert added.json()["name"] == "vitalik.eth"
    wallet = await named.named_once(added.json()["id"])
    assert wallet["ens_name"] == "vitalik.eth"
    again = await named.add("vitalik.eth")
    assert again.status_code == 409, again.text  # the same address, tracked already


async def test_a_primary_name_shows_only_when_it_resolves_back(named: Named) -> None:
    impostor = await named.add(IMPOSTOR)
    third = await named.add(THIRD.lower())
    assert (await named.named_once(third.json()["id"]))["ens_name"] == "third.eth"
    assert third.json()["name"] is None  # added by address
    wallet = (await named.client.get(f"/api/v1/wallets/{impostor.json()['id']}")).json()
    assert wallet["ens_name"] is None  # read in the same cycle as third's: not its own


async def test_names_that_do_not_resolve_are_refused_and_the_service_answers_on(
    named: Named,
) -> None:
    reverting = await named.node.deploy("RevertingResolver", [], [])
    lying = await named.node.deploy("LyingResolver", ["string"], ["vitalik.eth"])
    await named.ens.register("reverts.eth", None, reverting)
    await named.ens.register("lies.eth", None, lying)
    await named.ens.register("empty.eth", None)
    cases = {
        "nobody.eth": "resolves to no address",
        "empty.eth": "resolves to no address",
        "reverts.eth": "resolves to no address",
        "lies.eth": "resolves to no address",
        "a_b.eth": "no valid ENS name",
        "..eth": "no valid ENS name",
        "\u202evitalik.eth": "no valid ENS name",
    }
    for name, reason in cases.items():
        refused = await named.add(name)
        assert refused.status_code == 422, (name, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert reason in refused.json()["detail"], (name, refused.json())
    solana = await named.add("vitalik.eth", chain="solana")
    assert solana.status_code == 422, solana.text
    assert (await named.client.get("/api/v1/wallets")).json()["items"] == []
    assert (await named.add("vitalik.eth")).status_code == 201
