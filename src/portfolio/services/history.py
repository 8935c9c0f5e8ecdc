"""The portfolio's value over time."""

from __future__ import annotations

from datetime import datetime, timedelta

from portfolio.domain.history import HistoryPoint, Interval, InvalidWindowError, Window
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
