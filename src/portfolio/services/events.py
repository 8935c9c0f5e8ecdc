"""The tenant's events: kept for their retention, and the ``portfolio.changed`` ones, told at
most once per refresh cycle by its upkeep."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from loguru import logger

from portfolio.domain.errors import ServiceUnavailableError
from portfolio.domain.events import Event, EventType
from portfolio.domain.jobs import BatchProgress
from portfolio.domain.prices import round_usd
from portfolio.ports.clock import Clock
from portfolio.services.portfolio import PortfolioService

PRUNE_BATCH = 5_000


class EventLog(Protocol):
    async def record(self, events: Sequence[Event]) -> None: ...

    async def prune(self, before: datetime, batch: int) -> int: ...


class TenantTotals(Protocol):
    async def tenants(self) -> list[str]: ...

    async def told(self) -> dict[str, str]: ...

    async def tell(self, event: Event, total: str) -> None: ...


class EventService:
    def __init__(
        self,
        log: EventLog,
        clock: Clock,
        *,
        retention: timedelta,
        totals: TenantTotals | None = None,
        portfolio: PortfolioService | None = None,
    ) -> None:
        self._log = log
        self._clock = clock
        self._retention = retention
        self._totals = totals
        self._portfolio = portfolio

    async def batch_finished(self, batch: BatchProgress) -> None:
        """``refresh.completed``: a refresh handed to the workers (a 202) ran all its jobs."""
        data = {"batch_id": batch.batch_id, "jobs": batch.jobs, "refreshed": batch.refreshed,
                "failed": batch.failed}  # fmt: skip
        event = Event.new(EventType.REFRESH_COMPLETED, batch.tenant, self._clock.now(), data)
        await self._log.record([event])

    async def upkeep(self) -> None:
        """Once a cycle: each tenant's ``portfolio.changed`` when its total moved since the
        last one told, then events past their retention dropped. Failures are logged: the
        next cycle tries again."""
        try:
            await self.tell_totals()
            before = self._clock.now() - self._retention
            while await self._log.prune(before, PRUNE_BATCH) >= PRUNE_BATCH:
                pass  # a batch at a time: no long transaction
        except ServiceUnavailableError as exc:
            logger.warning("event upkeep skipped: {}", exc)
        except Exception:  # a bug must not end the cycle
            logger.exception("event upkeep failed")

    async def tell_totals(self) -> int:
        """A ``portfolio.changed`` for each tenant whose total (to the cent, USD, as GET
        /portfolio counts it) is not the one last told (0 before the first); how many."""
        if self._totals is None or self._portfolio is None:
            return 0
        told = 0
        last_told = await self._totals.told()  # one read for every tenant
        for tenant in await self._totals.tenants():
            summary = await self._portfolio.summary(tenant)
            after = round_usd(summary.total)
            last = last_told.get(tenant)
            before = round_usd(Decimal(last)) if last is not None else Decimal("0.00")
            if after == before:
                continue
            data = {
                "total_usd": {"before": str(before), "after": str(after)},
                "change_usd": str(after - before),
                "wallet_count": summary.wallet_count,
            }
            event = Event.new(EventType.PORTFOLIO_CHANGED, tenant, self._clock.now(), data)
            await self._totals.tell(event, str(after))
            told += 1
        return told
