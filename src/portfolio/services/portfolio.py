"""The portfolio summary over every wallet."""

from __future__ import annotations

from datetime import timedelta

from portfolio.domain.balances import WalletBalances
from portfolio.domain.portfolio import Summary, WalletHoldings, summarize
from portfolio.domain.prices import Price
from portfolio.domain.wallet import Wallet
from portfolio.ports.clock import Clock
from portfolio.ports.prices import Pricing
from portfolio.ports.repositories import BalanceRepository


class PortfolioService:
    def __init__(
        self,
        balances: BalanceRepository,
        prices: Pricing,
        clock: Clock,
        freshness: timedelta = timedelta(seconds=60),
        *,
        include_unverified: bool = False,
    ) -> None:
        self._balances = balances
        self._prices = prices
        self._clock = clock
        self._freshness = freshness
        self._include_unverified = include_unverified

    async def summary(self, tenant: str) -> Summary:
        everything = await self._balances.everything(tenant)
        now = self._clock.now()
        holdings = [
            WalletHoldings(
                wallet, snapshot.balances, snapshot.as_of, snapshot.is_stale(now, self._freshness)
            )
            for wallet, snapshot in everything
        ]
        tokens = {b.token for _, snapshot in everything for b in snapshot.balances if b.raw}
        prices = await self._prices.prices(list(tokens))
        return summarize(holdings, prices, include_unverified=self._include_unverified)

    async def holdings(
        self, tenant: str
    ) -> tuple[list[tuple[Wallet, WalletBalances]], dict[str, Price]]:
        """Every wallet's stored balances, and the prices of what they hold (for exports)."""
        everything = list(await self._balances.everything(tenant))
        tokens = {b.token for _, snapshot in everything for b in snapshot.balances if b.raw}
        return everything, await self._prices.prices(list(tokens))
