"""ENS on the test node, from its published contracts (npm: the registry and reverse registrar
of @ensdomains/ens, the public resolver of @ensdomains/resolver, as built by their authors).

The registry's code is placed at its canonical address with its root owned by the test node's
account, as its constructor leaves it (the deployed copy's own storage, slot for slot): the
service reads ENS there, as on Ethereum. ``.eth`` and ``addr.reverse`` belong to the test's
account; names are registered under ``.eth`` with the public resolver, and primary names are
claimed from the address itself (impersonated) through the reverse registrar."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak

from portfolio.adapters.chains.ens import EnsNames
from portfolio.adapters.chains.evm import Web3ChainReader
from portfolio.adapters.resilience import CallPolicy
from portfolio.config import ENS_REGISTRY, MULTICALL3
from portfolio.domain.names import ROOT, namehash
from tests.chains.anvil import CHAIN_ID, AnvilNode, running_anvil
from tests.chains.solc import NODE_MODULES
from tests.rpcproxy import RpcProxy

FAST = CallPolicy(timeout_seconds=5, attempts=1, backoff_seconds=0.01, backoff_max_seconds=0.05)

ENS_BUILDS = {
    "ENSRegistry": NODE_MODULES / "@ensdomains" / "ens" / "build" / "contracts",
    "ReverseRegistrar": NODE_MODULES / "@ensdomains" / "ens" / "build" / "contracts",
    "PublicResolver": NODE_MODULES / "@ensdomains" / "resolver" / "build" / "contracts",
}
RECORDS_SLOT = 0  # ENSRegistry: mapping(bytes32 => Record) records, owner first in Record


@functools.cache
def published(contract: str) -> str:
    """The creation code of a published ENS contract."""
    artifact = json.loads((ENS_BUILDS[contract] / f"{contract}.json").read_text())
    code = str(artifact["bytecode"])
    assert len(code) > 1000, f"{contract}'s artifact holds no bytecode"
    return code


@dataclass
class Ens:
    node: AnvilNode
    resolver: str  # the public resolver
    reverse: str  # the reverse registrar

    async def register(self, name: str, address: str | None, resolver: str | None = None) -> None:
        """``label.eth`` owned by the test's account with ``resolver`` (the public one when not
        given), whose address is set to ``address`` on the public resolver."""
        label, parent = name.split(".", 1)
        resolver = resolver or self.resolver
        await self.node.transact(
            ENS_REGISTRY, "setSubnodeRecord(bytes32,bytes32,address,address,uint64)",
            ["bytes32", "bytes32", "address", "address", "uint64"],
            [namehash(parent), keccak(label.encode()), self.node.sender, resolver, 0],
        )  # fmt: skip
        if address is not None and resolver == self.resolver:
            await self.node.transact(self.resolver, "setAddr(bytes32,address)",
                                     ["bytes32", "address"], [namehash(name), address])  # fmt: skip

    async def claim(self, address: str, name: str) -> None:
        """``name`` as the primary name of ``address``: set by the address itself."""
        await self.node.rpc("anvil_impersonateAccount", address)
        await self.node.set_eth(address, 10**18)
        await self.node.transact(self.reverse, "setName(string)", ["string"], [name],
                                 sender=address)  # fmt: skip

    async def set_reverse_resolver(self, address: str, resolver: str) -> None:
        """Another resolver for the address's reverse record (set by the address itself)."""
        await self.node.rpc("anvil_impersonateAccount", address)
        await self.node.set_eth(address, 10**18)
        await self.node.transact(self.reverse, "claimWithResolver(address,address)",
                                 ["address", "address"], [address, resolver],
                                 sender=address)  # fmt: skip


async def deploy_ens(node: AnvilNode) -> Ens:
    deployed = await node.deploy_code(published("ENSRegistry"))
    await node.rpc("anvil_setCode", ENS_REGISTRY, await node.rpc("eth_getCode", deployed, "latest"))
    slot = "0x" + keccak(ROOT + RECORDS_SLOT.to_bytes(32, "big")).hex()
    owner = await node.rpc("eth_getStorageAt", deployed, slot, "latest")
    await node.rpc("anvil_setStorageAt", ENS_REGISTRY, slot, _word(owner))
    resolver = await node.deploy_code(published("PublicResolver"), ["address"], [ENS_REGISTRY])
    for label in ("eth", "reverse"):
        await node.transact(ENS_REGISTRY, "setSubnodeOwner(bytes32,bytes32,address)",
                            ["bytes32", "bytes32", "address"],
                            [ROOT, keccak(label.encode()), node.sender])  # fmt: skip
    reverse = await node.deploy_code(
        published("ReverseRegistrar"), ["address", "address"], [ENS_REGISTRY, resolver]
    )
    await node.transact(ENS_REGISTRY, "setSubnodeOwner(bytes32,bytes32,address)",
                        ["bytes32", "bytes32", "address"],
                        [namehash("reverse"), keccak(b"addr"), reverse])  # fmt: skip
    return Ens(node, resolver, reverse)


def _word(value: Any) -> str:
    return "0x" + int(str(value), 16).to_bytes(32, "big").hex()


VITALIK = "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"


@asynccontextmanager
async def ens_through_proxy() -> AsyncIterator[tuple[AnvilNode, Ens, RpcProxy, EnsNames]]:
    """anvil with ENS, vitalik.eth resolving to VITALIK and its primary name, and the service's
    ENS reader on it through a counting proxy."""
    async with running_anvil() as node, RpcProxy(node.url) as proxy:
        ens = await deploy_ens(node)
        await ens.register("vitalik.eth", VITALIK)
        await ens.claim(VITALIK, "vitalik.eth")
        reader = Web3ChainReader.from_urls([proxy.url], {CHAIN_ID: []}, MULTICALL3, FAST)
        try:
            yield node, ens, proxy, EnsNames(reader.calls, ENS_REGISTRY)
        finally:
            await reader.close()
