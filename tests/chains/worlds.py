from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from solders.pubkey import Pubkey

from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Token
from tests.chains.anvil import AnvilNode, running_anvil
from tests.chains.solana_rpc import TOKEN_2022_PROGRAM, SolanaRpcServer

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


@dataclass
class SolanaWorld:
    server: SolanaRpcServer
    rich: str  # SOL, an SPL Token balance, a Token-2022 balance, two accounts of one mint,
    #            a zero-balance account, an unknown mint
    empty: str  # no account at all
    huge: str  # the largest u64 amounts
    usdc: Token  # in the token list (SPL Token, 6 decimals)
    pyusd: Token  # in the token list (Token-2022, 6 decimals)
    split: Token  # in the token list, held through two accounts
    zero: Token  # in the token list, held through an empty account
    unknown_mint: str  # not in the token list (9 decimals)

    @property
    def token_list(self) -> list[Token]:
        return [self.usdc, self.pyusd, self.split, self.zero]


U64_MAX = 2**64 - 1


def _sol_token(mint: Pubkey, symbol: str, decimals: int) -> Token:
    return Token(Chain.SOLANA, str(mint), symbol, symbol.title(), decimals, True)


@pytest.fixture(scope="session")
async def solana() -> AsyncIterator[SolanaWorld]:
    async with SolanaRpcServer() as server:
        rich, empty, huge = Pubkey.new_unique(), Pubkey.new_unique(), Pubkey.new_unique()
        mints = {name: Pubkey.new_unique() for name in ("usdc", "pyusd", "split", "zero", "unk")}
        server.create_mint(mints["usdc"], 6)
        server.create_mint(mints["pyusd"], 6, TOKEN_2022_PROGRAM)
        server.create_mint(mints["split"], 8)
        server.create_mint(mints["zero"], 2)
        server.create_mint(mints["unk"], 9, TOKEN_2022_PROGRAM)
        server.set_sol(rich, 2_500_000_001)
        server.set_sol(huge, U64_MAX)
        holdings = [
            (rich, "usdc", 1_234_567), (rich, "pyusd", 5), (rich, "split", 100),
            (rich, "split", 23), (rich, "zero", 0), (rich, "unk", 77),
            (huge, "usdc", U64_MAX), (huge, "pyusd", U64_MAX),
        ]  # fmt: skip
        for owner, mint, amount in holdings:
            server.create_token_account(Pubkey.new_unique(), mints[mint], owner, amount)
        yield SolanaWorld(
            server,
            str(rich),
            str(empty),
            str(huge),
            _sol_token(mints["usdc"], "USDC", 6),
            _sol_token(mints["pyusd"], "PYUSD", 6),
            _sol_token(mints["split"], "SPLIT", 8),
            _sol_token(mints["zero"], "ZERO", 2),
            str(mints["unk"]),
        )
