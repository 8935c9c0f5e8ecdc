from __future__ import annotations

from typing import Protocol

from portfolio.domain.history import HistoryPoint, Window


class HistoryRepository(Protocol):
    async def portfolio_history(self, window: Window) -> list[HistoryPoint]:
        """One point per bucket of the window, by the definition in domain.history."""
