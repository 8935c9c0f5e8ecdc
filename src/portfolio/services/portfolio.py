"""The portfolio summary over every wallet."""

from __future__ import annotations

from portfolio.domain.portfolio import Summary, WalletHoldings, summarize
from portfolio.ports.cache import Cache
from portfolio.ports.clock import Clock
from portfolio.ports.repositories import BalanceRepository
from portfolio.services.balances import BalanceService, FetchPolicy


class PortfolioService:
    def __init__(
        self,
        balances: BalanceRepository,
        pricing: BalanceService,
        cache: Cache,
        clock: Clock,
        policy: FetchPolicy | None = None,
    ) -> None:
        self._balances = balances
        self._pricing = pricing
        self._cache = cache
        self._clock = clock
        self._policy = policy or FetchPolicy()

    async def summary(self) -> Summary:
        everything = await self._balances.everything()
        now = self._clock.now()
        holdings = [
            WalletHoldings(
                wallet,
                snapshot.balances,
                snapshot.as_of,
                snapshot.is_stale(now, self._policy.freshness),
            )
            for wallet, snapshot in everything
        ]
        tokens = {b.token for _, snapshot in everything for b in snapshot.balances if b.raw}
        prices = await self._pricing.price(list(tokens))
        return summarize(holdings, prices, include_unverified=self._policy.include_unverified)
