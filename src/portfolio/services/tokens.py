"""A tenant's marks on tokens: trusted (counted in net worth though on no list) or spam (never
counted, hidden unless asked)."""

from __future__ import annotations

from portfolio.domain.addresses import normalize_address
from portfolio.domain.chains import Chain
from portfolio.domain.errors import ValidationError
from portfolio.domain.tokens import NATIVE_KEY, STAKED_KEY, Mark
from portfolio.ports.changes import PortfolioWatcher
from portfolio.ports.clock import Clock
from portfolio.ports.repositories import TokenMarkRepository


class TokenService:
    def __init__(
        self,
        marks: TokenMarkRepository,
        clock: Clock,
        watcher: PortfolioWatcher | None = None,
        reads: TokenMarkRepository | None = None,
    ) -> None:
        self._marks = marks
        self._reads = reads or marks
        self._clock = clock
        self._watcher = watcher

    async def mark(self, tenant: str, chain: Chain, address: str, mark: Mark | None) -> str:
        """Mark a token (its contract or mint address, normalized) or clear its mark; the
        portfolio is rendered anew. Returns the normalized address."""
        if address.strip().lower() in (NATIVE_KEY, STAKED_KEY):
            raise ValidationError("A chain's own coin is not marked.", field="address")
        normalized = normalize_address(chain, address)
        await self._marks.set_mark(tenant, chain, normalized, mark, self._clock.now())
        if self._watcher is not None:
            await self._watcher.portfolio_changed(tenant)
        return normalized

    async def marks(self, tenant: str) -> dict[tuple[Chain, str], Mark]:
        return await self._reads.marks(tenant)
