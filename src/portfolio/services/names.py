"""Wallets' primary ENS names, read again once a day (``every``), a bounded number of addresses
a cycle: an address's reverse record may change at any time, and its name is only shown while
it resolves back to the address."""

from __future__ import annotations

from datetime import timedelta

from loguru import logger

from portfolio.domain.errors import ChainUnavailableError, StorageUnavailableError
from portfolio.ports.clock import Clock
from portfolio.ports.names import NameService
from portfolio.ports.repositories import PrimaryNameRepository

ADDRESSES_PER_CYCLE = 500


class PrimaryNames:
    def __init__(
        self,
        names: NameService,
        records: PrimaryNameRepository,
        clock: Clock,
        *,
        every: timedelta = timedelta(days=1),
        per_cycle: int = ADDRESSES_PER_CYCLE,
    ) -> None:
        self._names = names
        self._records = records
        self._clock = clock
        self._every = every
        self._per_cycle = per_cycle

    async def refresh(self) -> None:
        """The names of the addresses not read for ``every`` (never read first); when the
        node or the database cannot answer, the same ones next cycle."""
        now = self._clock.now()
        try:
            due = await self._records.due(now - self._every, self._per_cycle)
            if not due:
                return
            names = await self._names.primary_names(due)
            await self._records.record(names, now)
        except (ChainUnavailableError, StorageUnavailableError) as exc:
            logger.warning("primary ENS names not read: {}", exc)
            return
        logger.info("primary ENS names read for {} address(es)", len(due))
