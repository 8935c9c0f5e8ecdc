"""What the use cases tell the rest of the service when the portfolio changes."""

from __future__ import annotations

from typing import Protocol


class PortfolioWatcher(Protocol):
    async def portfolio_changed(self, tenant: str) -> None:
        """One of the tenant's wallets was added, removed, fetched or refreshed: whatever was
        derived from its whole portfolio (the rendered summary) is out of date."""
