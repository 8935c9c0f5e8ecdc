"""The chain port: batch-first, so one call reads many wallets of one chain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from portfolio.domain.chains import Chain
from portfolio.domain.tokens import WalletReading


class ChainReader(Protocol):
    @property
    def chain(self) -> Chain: ...

    async def read_balances(self, addresses: Sequence[str]) -> dict[str, WalletReading]:
        """Every balance of every address, read at one point of the chain where it can.

        Raises ChainUnavailableError when the chain cannot be read at all; a single token that
        cannot be read is a TokenFailure in its wallet's reading instead.
        """
