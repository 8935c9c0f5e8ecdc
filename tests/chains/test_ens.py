"""ENS on a real node (anvil) with ENS's published registry, public resolver and reverse
registrar: names resolve through the registry at its canonical address, primary names are
read from reverse records and kept only when they resolve back, hostile resolvers (reverting,
gas-burning, lying) give no answer and break nothing, and the primary names of many addresses
cost four batched requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from portfolio.adapters.chains.ens import EnsNames
from portfolio.domain.errors import ChainUnavailableError
from tests.chains.anvil import AnvilNode
from tests.chains.ens import VITALIK, Ens, ens_through_proxy
from tests.rpcproxy import RpcProxy

pytestmark = pytest.mark.slow
OTHER = "0x" + "5a" * 20
THIRD = "0x" + "6b" * 20


@dataclass
class World:
    node: AnvilNode
    ens: Ens
    proxy: RpcProxy
    names: EnsNames


@pytest.fixture(scope="module")
async def world() -> AsyncIterator[World]:
    async with ens_through_proxy() as (node, ens, proxy, names):
        yield World(node, ens, proxy, names)


async def test_a_name_resolves_to_its_address(world: World) -> None:
    assert await world.names.resolve("vitalik.eth") == VITALIK
    assert await world.names.resolve("nobody.eth") is None  # never registered
    await world.ens.register("empty.eth", None)
    assert await world.names.resolve("empty.eth") is None  # a resolver, no address


async def test_a_primary_name_is_kept_only_when_it_resolves_back(world: World) -> None:
    await world.ens.claim(OTHER, "vitalik.eth")  # claims a name that is not its own
    names = await world.names.primary_names([VITALIK, OTHER, THIRD])
    assert names == {VITALIK: "vitalik.eth", OTHER: None, THIRD: None}


async def test_hostile_resolvers_give_no_answer(world: World) -> None:
    """A resolver that reverts, one that burns its gas and one that lies: no address, no
    primary name, and the other names of the same batches are read as ever."""
    reverting = await world.node.deploy("RevertingResolver", [], [])
    burning = await world.node.deploy("GasBurningResolver", [], [])
    lying = await world.node.deploy("LyingResolver", ["string"], ["vitalik.eth"])
    shouting = await world.node.deploy("LyingResolver", ["string"], ["VITALIK.eth"])
    for label, resolver in [("reverts", reverting), ("burns", burning), ("lies", lying)]:
        await world.ens.register(f"{label}.eth", None, resolver)
        assert await world.names.resolve(f"{label}.eth") is None
    hosts = ["0x" + f"{n:02x}" * 20 for n in (0x71, 0x72, 0x73, 0x74)]
    for address, resolver in zip(hosts, [reverting, burning, lying, shouting], strict=True):
        await world.ens.set_reverse_resolver(address, resolver)
    names = await world.names.primary_names([*hosts, VITALIK])
    assert names == {**dict.fromkeys(hosts), VITALIK: "vitalik.eth"}


async def test_primary_names_of_many_addresses_cost_four_requests(world: World) -> None:
    many = [VITALIK] + ["0x" + f"{n:040x}" for n in range(1, 200)]
    before = world.proxy.requests
    names = await world.names.primary_names(many)
    assert world.proxy.requests - before <= 4 * -(-len(many) // 100)  # batches of 100
    assert names[VITALIK] == "vitalik.eth"
    assert sum(1 for n in names.values() if n is not None) == 1


async def test_a_node_that_does_not_answer_is_an_error(world: World) -> None:
    world.proxy.fault = "500"
    try:
        with pytest.raises(ChainUnavailableError):
            await world.names.resolve("vitalik.eth")
    finally:
        world.proxy.fault = None
    assert await world.names.resolve("vitalik.eth") == VITALIK
