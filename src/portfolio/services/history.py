"""The portfolio's value over time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from uuid import UUID

from loguru import logger

from portfolio.domain.chains import Chain
from portfolio.domain.history import (
    MAX_POINTS,
    MAX_STREAMED_POINTS,
    HeldAt,
    HistoryPoint,
    Interval,
    InvalidWindowError,
    Window,
)
from portfolio.ports.clock import Clock
from portfolio.ports.history import HistoryRepository

DEFAULT_SPAN = timedelta(days=7)
PRUNE_ROUNDS = 20  # batches of pruning a cycle at most: the rest waits for the next cycle
LAG = timedelta(days=1)  # tenants whose kept points are older get them computed by the upkeep
SEALS = 50  # tenants whose points an upkeep computes at most: the rest wait for the next cycle


class HistoryService:
    def __init__(self, history: HistoryRepository, clock: Clock) -> None:
        self._history = history
        self._clock = clock

    async def history(
        self, tenant: str, start: datetime | None, end: datetime | None, interval: Interval
    ) -> tuple[Window, list[HistoryPoint]]:
        """``end`` defaults to now, ``start`` to seven days before ``end``."""
        window = self._window(start, end, interval, MAX_POINTS)
        return window, await self._history.portfolio_history(tenant, window)

    async def stream(
        self, tenant: str, start: datetime | None, end: datetime | None, interval: Interval
    ) -> tuple[Window, list[Chain], AsyncIterator[HistoryPoint]]:
        """The same points streamed (up to MAX_STREAMED_POINTS), with the chains of the
        tenant's wallets (an export's columns)."""
        window = self._window(start, end, interval, MAX_STREAMED_POINTS)
        chains = await self._history.chains_of(tenant)
        return window, chains, self._history.stream_history(tenant, window)

    def _window(
        self, start: datetime | None, end: datetime | None, interval: Interval, max_points: int
    ) -> Window:
        end = end or self._clock.now()
        if start is None:
            try:
                start = end - DEFAULT_SPAN
            except OverflowError as exc:
                raise InvalidWindowError(
                    "The default window (7 days before end) starts before year 1."
                ) from exc
        return Window.of(start, end, interval, max_points)

    async def held_at(
        self, tenant: str, moment: datetime, wallet_id: UUID | None = None
    ) -> list[HeldAt]:
        """Every (wallet, token) balance and value as recorded at or before ``moment``, zero
        balances left out, by wallet and then by value (largest first)."""
        held = await self._history.held_at(tenant, moment, wallet_id)
        return sorted(
            (item for item in held if item.raw),
            key=lambda item: (str(item.wallet_id), -(item.usd_value or 0), item.token_key),
        )

    async def upkeep(self) -> None:
        """One cycle's care: prices and points past their retention dropped in bounded
        batches, and the kept points of tenants who have not asked for their history for a
        day brought up to date (so that no request has a long way to walk). A failure is
        logged; the next cycle tries again."""
        try:
            for _ in range(PRUNE_ROUNDS):
                if not await self._history.prune():
                    break
            for tenant in await self._history.lagging(LAG, SEALS):
                await self._history.seal(tenant)
        except Exception:  # the database away, or a bug: never the cycle's end
            logger.exception("history upkeep failed")
