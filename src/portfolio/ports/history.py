from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol
from uuid import UUID

from portfolio.domain.chains import Chain
from portfolio.domain.history import HeldAt, HistoryPoint, Window


class HistoryRepository(Protocol):
    async def portfolio_history(self, tenant: str, window: Window) -> list[HistoryPoint]:
        """The tenant's points, one per bucket of the window, by the definition in
        domain.history."""

    async def held_at(
        self, tenant: str, moment: datetime, wallet_id: UUID | None = None
    ) -> list[HeldAt]:
        """Every (wallet, token) of the tenant (or of one of its wallets) as last recorded at or
        before ``moment``, by the definition in domain.history."""

    def stream_history(self, tenant: str, window: Window) -> AsyncIterator[HistoryPoint]:
        """The same points, yielded as they are computed, holding none (for exports)."""

    async def chains_of(self, tenant: str) -> list[Chain]:
        """The chains of the tenant's wallets, sorted."""
