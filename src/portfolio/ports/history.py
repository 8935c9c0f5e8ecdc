from __future__ import annotations

from typing import Protocol

from portfolio.domain.history import HistoryPoint, Window


class HistoryRepository(Protocol):
    async def portfolio_history(self, tenant: str, window: Window) -> list[HistoryPoint]:
        """The tenant's points, one per bucket of the window, by the definition in
        domain.history."""
