"""The chain port: batch-first, so one call reads many wallets of one chain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Received, Token, TokenAccount, WalletReading


class ChainReader(Protocol):
    @property
    def chain(self) -> Chain: ...

    async def read_balances(
        self,
        addresses: Sequence[str],
        known_accounts: Mapping[str, Sequence[TokenAccount]] | None = None,
        extra_tokens: Mapping[str, Sequence[Token]] | None = None,
    ) -> dict[str, WalletReading]:
        """Every balance of every address, read at one point of the chain where it can.

        ``known_accounts`` (Solana) are the token accounts a recent discovery found for an
        address: the reader may read those again instead of discovering them anew; a reading
        that discovered accounts lists them.

        ``extra_tokens`` (EVM) are tokens on no list to read too for an address (tracked by a
        tenant); Solana finds every token account of a wallet anyway.

        Raises ChainUnavailableError when the chain cannot be read at all; a single token that
        cannot be read is a TokenFailure in its wallet's reading instead.
        """

    async def token(self, address: str) -> Token:
        """A token's decimals (and symbol and name where the chain has them) read from the
        chain; NotATokenError when the address holds no token contract or mint."""


class TransferLogs(Protocol):
    """An EVM chain's ERC-20 transfer logs: where tokens on no list are found."""

    @property
    def chain(self) -> Chain: ...

    async def head(self) -> int:
        """The chain's latest block."""

    async def received(self, start: int, end: int, addresses: Sequence[str]) -> list[Received]:
        """Every ERC-20 transfer to ``addresses`` in blocks ``start`` to ``end``, in block
        order, in as few requests as the node allows."""

    async def token(self, address: str) -> Token:
        """As ChainReader.token."""

    def is_listed(self, address: str) -> bool:
        """Whether a token list names the token (checksummed address): read anyway."""
