"""The price port: USD prices of many tokens at once."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from portfolio.domain.prices import Price
from portfolio.domain.tokens import Token


class PriceOracle(Protocol):
    @property
    def name(self) -> str: ...

    async def prices(self, tokens: Sequence[Token]) -> dict[str, Price]:
        """Prices by ``price_key``; a token the source does not know is left out.

        Raises PriceUnavailableError when the source cannot be asked at all."""


class Pricing(Protocol):
    """What the use cases ask for prices: every source, the cache and the rules of which
    tokens are priced behind one call. Never raises: a token without a price is left out."""

    async def prices(
        self, tokens: Sequence[Token], *, found: Collection[str] = frozenset()
    ) -> dict[str, Price]:
        """Prices by ``price_key`` of the tokens that count: listed ones, and those on no list
        whose price keys are in ``found`` (found on chain in the wallets' transfers)."""
