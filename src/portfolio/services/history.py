"""The portfolio's value over time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from uuid import UUID

from loguru import logger

from portfolio.domain.chains import Chain
from portfolio.domain.currencies import USD
from portfolio.domain.errors import WalletNotFoundError
from portfolio.domain.history import (
    MAX_POINTS,
    MAX_STREAMED_POINTS,
    HeldAt,
    HistoryPoint,
    Interval,
    InvalidWindowError,
    Window,
)
from portfolio.domain.performance import Performance, Recorded, Tracked
from portfolio.ports.clock import Clock
from portfolio.ports.history import HistoryRepository, PerformanceReader
from portfolio.ports.repositories import WalletRepository

DEFAULT_SPAN = timedelta(days=7)
PERFORMANCE_SPAN = timedelta(days=30)  # a performance's default window
PRUNE_ROUNDS = 20  # batches of pruning a cycle at most: the rest waits for the next cycle
LAG = timedelta(days=1)  # tenants whose kept points are older get them computed by the upkeep
SEALS = 50  # tenants whose points an upkeep computes at most: the rest wait for the next cycle


class HistoryService:
    def __init__(
        self,
        history: HistoryRepository,
        clock: Clock,
        *,
        recorded: PerformanceReader | None = None,
        wallets: WalletRepository | None = None,
    ) -> None:
        self._history = history
        self._clock = clock
        self._recorded = recorded
        self._wallets = wallets

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

    async def performance(
        self,
        tenant: str,
        start: datetime | None,
        end: datetime | None,
        interval: Interval | None,
        *,
        wallet_id: UUID | None = None,
        chain: Chain | None = None,
        currency: str = USD,
        rates: Callable[[Window], Awaitable[list[Decimal | None]]] | None = None,
    ) -> tuple[Recorded | Tracked, Performance]:
        """How the tenant's portfolio (or one wallet, or one chain) performed: ``end``
        defaults to now, ``start`` to 30 days before ``end``, the interval to one fitting the
        window's length (``default_interval``). In ``currency`` other than USD, each price is
        taken at the currency's rate of its boundary (``rates``); a boundary without a rate is
        refused (RateMissingError), never converted at a guess."""
        if self._recorded is None:
            raise RuntimeError("performance needs a PerformanceReader")
        if wallet_id is not None and (
            self._wallets is None or await self._wallets.get(wallet_id, tenant) is None
        ):
            raise WalletNotFoundError(wallet_id)
        end = end or self._clock.now()
        start = start or _before(end, PERFORMANCE_SPAN)
        chosen = interval or default_interval(end - start)
        window = self._window(start, end, chosen, MAX_POINTS)
        converted = currency != USD and rates is not None
        recorded = await self._recorded.recorded(tenant, window, wallet_id, chain, scaled=converted)
        if converted and rates is not None:
            recorded.convert(currency, await rates(window))
        return recorded, recorded.performance()

    def _window(
        self, start: datetime | None, end: datetime | None, interval: Interval, max_points: int
    ) -> Window:
        end = end or self._clock.now()
        return Window.of(start or _before(end, DEFAULT_SPAN), end, interval, max_points)

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
        batches, and the kept points and performance tracks of tenants who have not asked for
        their history for a day brought up to date (so that no request has a long way to
        walk). A failure is logged; the next cycle tries again."""
        try:
            for _ in range(PRUNE_ROUNDS):
                if not await self._history.prune():
                    break
            for tenant in await self._history.lagging(LAG, SEALS):
                await self._history.seal(tenant)
                if self._recorded is not None:  # and its performance tracks
                    await self._recorded.keep(tenant)
        except Exception:  # the database away, or a bug: never the cycle's end
            logger.exception("history upkeep failed")


def default_interval(span: timedelta) -> Interval:
    """5 minutes up to two days, hours up to 90 days, days beyond."""
    if span <= timedelta(days=2):
        return Interval.FIVE_MINUTES
    return Interval.HOUR if span <= timedelta(days=90) else Interval.DAY


def _before(end: datetime, span: timedelta) -> datetime:
    try:
        return end - span
    except OverflowError as exc:
        days = span.days
        raise InvalidWindowError(
            f"The default window ({days} days before end) starts before year 1."
        ) from exc
