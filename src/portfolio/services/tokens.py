"""A tenant's tokens: those it tracks by address (read from the chain, then read for its
wallets), and its marks: trusted (counted in net worth though on no list) or spam (never
counted, hidden unless asked)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from portfolio.domain.addresses import normalize_address
from portfolio.domain.chains import Chain
from portfolio.domain.errors import QuotaExceededError, UnsupportedChainError, ValidationError
from portfolio.domain.tokens import NATIVE_KEY, STAKED_KEY, Mark, Token
from portfolio.ports.chains import ChainReader
from portfolio.ports.changes import PortfolioWatcher
from portfolio.ports.clock import Clock
from portfolio.ports.repositories import TokenMarkRepository, TrackedTokenRepository


@dataclass(frozen=True, slots=True)
class TokenQuotas:
    """A tenant's quotas (None: none): tokens tracked by address, tokens marked."""

    tracked: int | None = None
    marks: int | None = None


class TokenService:
    def __init__(
        self,
        marks: TokenMarkRepository,
        clock: Clock,
        watcher: PortfolioWatcher | None = None,
        reads: TokenMarkRepository | None = None,
        *,
        tracked: TrackedTokenRepository | None = None,
        readers: Mapping[Chain, ChainReader] | None = None,
        quotas: TokenQuotas | None = None,
    ) -> None:
        self._quotas = quotas or TokenQuotas()
        self._tracked = tracked
        self._readers = dict(readers or {})
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
        limit = self._quotas.marks
        if mark is not None and limit is not None:
            marks = await self._marks.marks(tenant)
            if (chain, normalized) not in marks and len(marks) >= limit:
                raise QuotaExceededError(
                    f"A tenant marks at most {limit} tokens (PORTFOLIO_TENANT_MAX_MARKS); "
                    "clear a mark first."
                )
        await self._marks.set_mark(tenant, chain, normalized, mark, self._clock.now())
        if self._watcher is not None:
            await self._watcher.portfolio_changed(tenant)
        return normalized

    async def marks(self, tenant: str) -> dict[tuple[Chain, str], Mark]:
        return await self._reads.marks(tenant)

    async def track(self, tenant: str, chain: Chain, address: str) -> tuple[Token, bool]:
        """Track a token by its address: its decimals, symbol and name are read from the chain
        (an address that holds no token is a 422), and its balance is read for the tenant's
        wallets from then on. Returns the token, and whether it is new to the tenant."""
        reader = self._readers.get(chain)
        if reader is None or self._tracked is None:
            raise UnsupportedChainError(f"{chain} is not a configured chain.")
        normalized = normalize_address(chain, address)
        limit = self._quotas.tracked
        if limit is not None:  # before the chain is asked: a node call spent on nothing
            tracked = (await self._tracked.tracked([tenant])).get(tenant, [])
            known = {(t.chain, (t.address or "").lower()) for t in tracked}
            if (chain, normalized.lower()) not in known and len(tracked) >= limit:
                raise QuotaExceededError(
                    f"A tenant tracks at most {limit} tokens (PORTFOLIO_TENANT_MAX_TRACKED_TOKENS)."
                )
        token = await reader.token(normalized)
        added = await self._tracked.track(tenant, token, self._clock.now())
        return token, added

    async def tracked(self, tenant: str) -> list[Token]:
        if self._tracked is None:
            return []
        return (await self._tracked.tracked([tenant])).get(tenant, [])
