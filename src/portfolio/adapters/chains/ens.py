"""ENS on Ethereum, read through the registry at its canonical address (ENSIP-1): a name's
resolver from the registry, its address from the resolver's ``addr(bytes32)``; an address's
primary name from its reverse record (ENSIP-3: the resolver of ``<address>.addr.reverse``, its
``name(bytes32)``), kept only when that name resolves back to the address.

Written over the Ethereum reader's batched ``eth_call``s rather than web3.py's ``AsyncENS``:
that one follows CCIP-read (EIP-3668) to whatever URLs a resolver names, which would let any
resolver make this service send requests where it likes, and it goes around the node pool's
failover and breakers. Here every read is an ``eth_call`` to the configured nodes, the primary
names of many addresses are read in four batched steps, and a resolver that reverts, burns its
gas or answers nonsense is only a name without an address.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from portfolio.domain.names import is_normalized, namehash, reverse_node

RESOLVER = function_signature_to_4byte_selector("resolver(bytes32)")
ADDR = function_signature_to_4byte_selector("addr(bytes32)")
NAME = function_signature_to_4byte_selector("name(bytes32)")
WORD = 32

Calls = Callable[[Sequence[tuple[str, bytes]]], Awaitable[list[bytes | None]]]


class EnsNames:
    def __init__(self, calls: Calls, registry: str) -> None:
        """``calls``: eth_calls on Ethereum (Web3ChainReader.calls)."""
        self._calls = calls
        self._registry = registry

    async def resolve(self, name: str) -> str | None:
        (address,) = await self._addresses([namehash(name)])
        return address

    async def primary_names(self, addresses: Sequence[str]) -> dict[str, str | None]:
        wanted = list(dict.fromkeys(addresses))
        nodes = [reverse_node(a) for a in wanted]
        resolvers = await self._resolvers(nodes)
        asked = [(i, (r, NAME + nodes[i])) for i, r in enumerate(resolvers) if r is not None]
        answers = await self._calls([call for _, call in asked])
        claimed: dict[int, str] = {}
        for (i, _), answer in zip(asked, answers, strict=True):
            name = _name(answer)
            if name is not None:
                claimed[i] = name
        forward = await self._addresses([namehash(n) for n in claimed.values()])
        names: dict[str, str | None] = dict.fromkeys(wanted)
        for (i, name), address in zip(claimed.items(), forward, strict=True):
            if address is not None and address.lower() == wanted[i].lower():
                names[wanted[i]] = name
        return names

    async def _resolvers(self, nodes: list[bytes]) -> list[str | None]:
        answers = await self._calls([(self._registry, RESOLVER + node) for node in nodes])
        return [_address(answer) for answer in answers]

    async def _addresses(self, nodes: list[bytes]) -> list[str | None]:
        """Each node's address through its resolver (two batched steps)."""
        resolvers = await self._resolvers(nodes)
        asked = [(i, (r, ADDR + nodes[i])) for i, r in enumerate(resolvers) if r is not None]
        answers = await self._calls([call for _, call in asked])
        found: list[str | None] = [None] * len(nodes)
        for (i, _), answer in zip(asked, answers, strict=True):
            found[i] = _address(answer)
        return found


def _address(answer: bytes | None) -> str | None:
    """An address word (12 zero bytes, then 20), or None: a failed call, any other answer,
    or the zero address (ENS's "none")."""
    if answer is None or len(answer) != WORD or any(answer[:12]) or not any(answer[12:]):
        return None
    return to_checksum_address(answer[12:])


def _name(answer: bytes | None) -> str | None:
    """An ABI string that is a normalised ENS name, or None."""
    if answer is None:
        return None
    try:
        (name,) = decode(["string"], answer)
    except (DecodingError, ValueError, OverflowError, UnicodeDecodeError):
        return None
    return name if isinstance(name, str) and is_normalized(name) else None
