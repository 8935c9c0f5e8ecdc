"""Tokens and balances. A token is identified by (chain, contract or mint address), never by
symbol: symbols collide and spam tokens copy them. The native coin has no address."""

from __future__ import annotations

from dataclasses import dataclass

from portfolio.domain.amounts import Amount
from portfolio.domain.chains import KNOWN_NATIVE, Chain, NativeCoin

NATIVE_KEY = "native"


@dataclass(frozen=True, slots=True)
class Token:
    chain: Chain
    address: str | None  # None for the chain's native coin
    symbol: str | None
    name: str | None
    decimals: int
    verified: bool

    @classmethod
    def native(cls, chain: Chain, coin: NativeCoin | None = None) -> Token:
        """The chain's coin; ``coin`` may be left out for Ethereum and Solana."""
        coin = coin or KNOWN_NATIVE[chain]
        return cls(chain, None, coin.symbol, coin.name, coin.decimals, True)

    @property
    def key(self) -> str:
        """The storage key: the contract or mint address, or ``native``."""
        return self.address or NATIVE_KEY

    @property
    def is_native(self) -> bool:
        return self.address is None


def token_fields(token: Token) -> list[object]:
    """The token as a JSON-ready list (for caches and stored JSON); ``token_of`` reverses it."""
    return [token.chain.value, token.address, token.symbol, token.name, token.decimals,
            token.verified]  # fmt: skip


def token_of(fields: list[object]) -> Token:
    chain, address, symbol, name, decimals, verified = fields
    return Token(
        Chain(str(chain)),
        None if address is None else str(address),
        None if symbol is None else str(symbol),
        None if name is None else str(name),
        int(str(decimals)),
        bool(verified),
    )


@dataclass(frozen=True, slots=True)
class TokenBalance:
    token: Token
    raw: int

    @property
    def amount(self) -> Amount:
        return Amount(self.raw, self.token.decimals)


@dataclass(frozen=True, slots=True)
class TokenFailure:
    """One token that could not be read for one wallet; the wallet's other balances stand."""

    token: Token
    reason: str


@dataclass(frozen=True, slots=True)
class TokenAccount:
    """A Solana token account of a wallet, as found by discovery: enough to read its amount
    again without asking the owner's whole account list."""

    address: str
    mint: str
    program: str  # the owning program's id
    decimals: int


@dataclass(frozen=True, slots=True)
class WalletReading:
    """What one chain read found for one address."""

    address: str
    balances: list[TokenBalance]
    failures: list[TokenFailure]
    accounts: list[TokenAccount] | None = None  # set when the read discovered token accounts
    error: str | None = None  # set when this wallet alone could not be read (the rest stand)

    def nonzero(self) -> list[TokenBalance]:
        return [b for b in self.balances if b.raw]
