"""Tokens and balances. A token is identified by (chain, contract or mint address), never by
symbol: symbols collide and spam tokens copy them. The native coin has no address."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from portfolio.domain.amounts import Amount
from portfolio.domain.chains import KNOWN_NATIVE, Chain, NativeCoin

NATIVE_KEY = "native"
LIQUID = "liquid"
STAKED = "staked"  # the native coin delegated in stake accounts (Solana)
STAKED_KEY = "native:staked"
ERC20 = "erc20"  # the program of an EVM token a wallet held at its last discovery


@dataclass(frozen=True, slots=True)
class Received:
    """An ERC-20 transfer of ``token`` (its contract) to a watched ``wallet`` address in
    ``block``, as the chain's logs show it (addresses in lowercase hex)."""

    token: str
    wallet: str
    block: int


@dataclass(frozen=True, slots=True)
class Token:
    chain: Chain
    address: str | None  # None for the chain's native coin
    symbol: str | None
    name: str | None
    decimals: int
    verified: bool
    kind: str = LIQUID  # or STAKED: the native coin held in stake accounts

    @classmethod
    def native(cls, chain: Chain, coin: NativeCoin | None = None) -> Token:
        """The chain's coin; ``coin`` may be left out for Ethereum and Solana."""
        coin = coin or KNOWN_NATIVE[chain]
        return cls(chain, None, coin.symbol, coin.name, coin.decimals, True)

    @classmethod
    def staked(cls, chain: Chain, coin: NativeCoin | None = None) -> Token:
        """The chain's coin as held in stake accounts: its own balance beside the liquid one,
        priced as the coin."""
        return replace(cls.native(chain, coin), kind=STAKED)

    @classmethod
    def stored(
        cls, chain: Chain, key: str, symbol: str | None, name: str | None, decimals: int,
        verified: bool,
    ) -> Token:  # fmt: skip
        """The token of a stored row, by its key."""
        address, kind = address_and_kind(key)
        return cls(chain, address, symbol, name, decimals, verified, kind)

    @property
    def key(self) -> str:
        """The storage key: the contract or mint address, ``native``, or ``native:staked``."""
        if self.address is not None:
            return self.address
        return STAKED_KEY if self.kind == STAKED else NATIVE_KEY

    @property
    def is_native(self) -> bool:
        return self.address is None


def address_and_kind(key: str) -> tuple[str | None, str]:
    """A stored token key's contract or mint address (None for the native coin) and kind."""
    if key == STAKED_KEY:
        return None, STAKED
    return (None if key == NATIVE_KEY else key), LIQUID


def token_fields(token: Token) -> list[object]:
    """The token as a JSON-ready list (for caches and stored JSON); ``token_of`` reverses it."""
    return [token.chain.value, token.address, token.symbol, token.name, token.decimals,
            token.verified, token.kind]  # fmt: skip


def token_of(fields: list[object]) -> Token:
    chain, address, symbol, name, decimals, verified, *rest = fields  # kind came later
    return Token(
        Chain(str(chain)),
        None if address is None else str(address),
        None if symbol is None else str(symbol),
        None if name is None else str(name),
        int(str(decimals)),
        bool(verified),
        str(rest[0]) if rest else LIQUID,
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
    """What discovery found a wallet holding, enough to read its amount again without looking
    at everything: on Solana a token (or stake) account; on an EVM chain a token contract of
    the lists that the wallet held (or that could not be read, so may be held), whose address
    and mint are both the contract's."""

    address: str
    mint: str
    program: str  # the owning program's id; ERC20 on an EVM chain
    decimals: int

    @classmethod
    def held(cls, token: Token) -> TokenAccount:
        """An EVM token a wallet held at discovery."""
        if token.address is None:
            raise ValueError("the native coin is read anyway")
        return cls(token.address, token.address, ERC20, token.decimals)


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


class Mark(StrEnum):
    """A tenant's word on a token."""

    TRUSTED = "trusted"  # counted in net worth, though on no token list
    SPAM = "spam"  # never counted; hidden unless asked for


def marked(token: Token, mark: Mark | None) -> Token:
    """The token as a tenant's mark makes it count: trusted is counted as a listed token."""
    return replace(token, verified=True) if mark is Mark.TRUSTED else token
