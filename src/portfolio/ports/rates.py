"""Currency rates: units of a currency for one USD, from the price sources and as recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from portfolio.domain.currencies import Rate
from portfolio.domain.history import Window


@runtime_checkable
class RateSource(Protocol):
    @property
    def name(self) -> str: ...

    async def rates(self, currencies: Sequence[str]) -> dict[str, Decimal]:
        """Units of each currency for one USD; a currency the source does not know is left
        out. Raises ServiceUnavailableError when the source cannot be asked."""


class RateSeries(Protocol):
    async def record(self, rates: Sequence[Rate], at: datetime) -> None:
        """Each rate into the series of 5 minutes, 1 hour and 1 day, where it is the latest."""

    async def latest(self, currency: str) -> Rate | None:
        """The last rate recorded."""

    async def at_boundaries(self, currency: str, window: Window) -> list[Decimal | None]:
        """The rate at each boundary of the window (its last at or before it)."""
