"""The portfolio's value over time."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from portfolio.domain.history import (
    HeldAt,
    HistoryPoint,
    Interval,
    InvalidWindowError,
    Window,
)
from portfolio.ports.clock import Clock
from portfolio.ports.history import HistoryRepository

DEFAULT_SPAN = timedelta(days=7)


class HistoryService:
    def __init__(self, history: HistoryRepository, clock: Clock) -> None:
        self._history = history
        self._clock = clock

    async def history(
        self, tenant: str, start: datetime | None, end: datetime | None, interval: Interval
    ) -> tuple[Window, list[HistoryPoint]]:
        """``end`` defaults to now, ``start`` to seven days before ``end``."""
        end = end or self._clock.now()
        if start is None:
            try:
                start = end - DEFAULT_SPAN
            except OverflowError as exc:
                raise InvalidWindowError(
                    "The default window (7 days before end) starts before year 1."
                ) from exc
        window = Window.of(start, end, interval)
        return window, await self._history.portfolio_history(tenant, window)

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
