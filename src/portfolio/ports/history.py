from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from portfolio.domain.chains import Chain
from portfolio.domain.history import HeldAt, HistoryPoint, Window
from portfolio.domain.performance import Recorded, Tracked


class HistoryRepository(Protocol):
    async def portfolio_history(self, tenant: str, window: Window) -> list[HistoryPoint]:
        """The tenant's points, one per bucket of the window, by the definition in
        domain.history (mark-to-market: amounts held times prices at each bucket's end)."""

    async def held_at(
        self, tenant: str, moment: datetime, wallet_id: UUID | None = None
    ) -> list[HeldAt]:
        """Every (wallet, token) of the tenant (or of one of its wallets) at ``moment``: its
        amount as last recorded at or before it, valued at the token's price then."""

    def stream_history(self, tenant: str, window: Window) -> AsyncIterator[HistoryPoint]:
        """The same points, yielded as they are computed, holding none (for exports)."""

    async def chains_of(self, tenant: str) -> list[Chain]:
        """The chains of the tenant's wallets, sorted."""

    async def prune(self, batch: int = 5000) -> int:
        """Drop one batch of prices and points past their retention; how many rows went."""

    async def seal(self, tenant: str) -> None:
        """Compute and keep the tenant's points up to a little before now."""

    async def lagging(self, behind: timedelta, limit: int) -> list[str]:
        """Up to ``limit`` tenants whose kept points end more than ``behind`` before now (or
        never began)."""


class PerformanceReader(Protocol):
    async def recorded(
        self,
        tenant: str,
        window: Window,
        wallet_id: UUID | None = None,
        chain: Chain | None = None,
        *,
        scaled: bool = False,
    ) -> Recorded | Tracked:
        """The tenant's positions (of one wallet, or of one chain's wallets) at the window's
        start, their changes in it and their tokens' prices at its boundaries; or the tracks
        of its tokens and wallets over the window, where they are kept (with every bucket's
        values and flows when ``scaled``: to be converted into another currency)."""

    async def keep(self, tenant: str) -> None:
        """Compute and keep the tenant's tracks up to a little before now (where kept)."""
