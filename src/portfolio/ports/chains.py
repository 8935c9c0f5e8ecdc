"""The chain port: batch-first, so one call reads many wallets of one chain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from portfolio.domain.chains import Chain
from portfolio.domain.tokens import TokenAccount, WalletReading


class ChainReader(Protocol):
    @property
    def chain(self) -> Chain: ...

    async def read_balances(
        self,
        addresses: Sequence[str],
        known_accounts: Mapping[str, Sequence[TokenAccount]] | None = None,
    ) -> dict[str, WalletReading]:
        """Every balance of every address, read at one point of the chain where it can.

        ``known_accounts`` (Solana) are the token accounts a recent discovery found for an
        address: the reader may read those again instead of discovering them anew; a reading
        that discovered accounts lists them.

        Raises ChainUnavailableError when the chain cannot be read at all; a single token that
        cannot be read is a TokenFailure in its wallet's reading instead.
        """
