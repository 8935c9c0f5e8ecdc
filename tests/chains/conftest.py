from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Token
from tests.chains.anvil import AnvilNode, running_anvil

ONE = "0x1111111111111111111111111111111111111111"
BIG = "0x2222222222222222222222222222222222222222"
ZERO = "0x3333333333333333333333333333333333333333"
HUGE = 10**30 + 7


@dataclass
class EvmWorld:
    node: AnvilNode
    six: Token
    eighteen: Token
    twentyfour: Token
    reverting: Token
    garbage: Token

    @property
    def tokens(self) -> list[Token]:
        return [self.six, self.eighteen, self.twentyfour, self.reverting, self.garbage]

    @property
    def good_tokens(self) -> list[Token]:
        return [self.six, self.eighteen, self.twentyfour]


def _token(address: str, symbol: str, decimals: int) -> Token:
    return Token(Chain.ETHEREUM, address, symbol, symbol.title(), decimals, True)


@pytest.fixture(scope="session")
async def evm() -> AsyncIterator[EvmWorld]:
    """anvil with a Multicall3-compatible contract at the canonical address, ERC-20s of 6, 18
    and 24 decimals, a token whose balanceOf reverts and one that answers garbage; wallets
    holding nothing, one base unit of everything, and more than 10**30 base units."""
    async with running_anvil() as node:
        await node.install_multicall()
        kinds = {"six": 6, "eighteen": 18, "twentyfour": 24}
        tokens = {}
        for name, decimals in kinds.items():
            address = await node.deploy(
                "TestToken", ["string", "string", "uint8"], [name, name.upper(), decimals]
            )
            tokens[name] = _token(address, name.upper(), decimals)
            await node.transact(address, "mint(address,uint256)", ["address", "uint256"], [ONE, 1])
            await node.transact(
                address, "mint(address,uint256)", ["address", "uint256"], [BIG, HUGE * decimals]
            )
        reverting = _token(await node.deploy("RevertingToken", [], []), "REV", 18)
        garbage = _token(await node.deploy("GarbageToken", [], []), "GRB", 18)
        await node.set_eth(ONE, 1)
        await node.set_eth(BIG, HUGE)
        yield EvmWorld(
            node, tokens["six"], tokens["eighteen"], tokens["twentyfour"], reverting, garbage
        )
