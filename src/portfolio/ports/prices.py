"""The price port: USD prices of many tokens at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from portfolio.domain.prices import Price
from portfolio.domain.tokens import Token


class PriceOracle(Protocol):
    @property
    def name(self) -> str: ...

    async def prices(self, tokens: Sequence[Token]) -> dict[str, Price]:
        """Prices by ``price_key``; a token the source does not know is left out.

        Raises PriceUnavailableError when the source cannot be asked at all."""
