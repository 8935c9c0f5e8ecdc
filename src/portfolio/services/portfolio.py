"""The portfolio summary over every wallet."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from portfolio.domain.balances import WalletBalances
from portfolio.domain.portfolio import Summary, WalletHoldings, summarize
from portfolio.domain.prices import Price
from portfolio.domain.tokens import Mark, TokenBalance, marked
from portfolio.domain.wallet import Wallet
from portfolio.ports.clock import Clock
from portfolio.ports.prices import Pricing
from portfolio.ports.repositories import BalanceRepository, TokenMarkRepository


class PortfolioService:
    def __init__(
        self,
        balances: BalanceRepository,
        prices: Pricing,
        clock: Clock,
        freshness: timedelta = timedelta(seconds=60),
        *,
        include_unverified: bool = False,
        marks: TokenMarkRepository | None = None,
    ) -> None:
        self._marks = marks
        self._balances = balances
        self._prices = prices
        self._clock = clock
        self._freshness = freshness
        self._include_unverified = include_unverified

    async def summary(self, tenant: str, *, include_spam: bool = False) -> Summary:
        """The summary over the tenant's wallets. A token the tenant marked spam is never
        counted and is left out (listed apart with ``include_spam``); one marked trusted is
        priced and counted like a listed token."""
        everything = await self._balances.everything(tenant)
        marks = await self._marks.marks(tenant) if self._marks is not None else {}
        now = self._clock.now()
        holdings, spam = [], []
        for wallet, snapshot in everything:
            kept, junk = [], []
            for balance in snapshot.balances:
                mark = marks.get((wallet.chain, balance.token.key))
                if mark is Mark.SPAM:
                    junk.append(balance)
                else:
                    kept.append(TokenBalance(marked(balance.token, mark), balance.raw))
            stale = snapshot.is_stale(now, self._freshness)
            holdings.append(WalletHoldings(wallet, kept, snapshot.as_of, stale))
            spam.append(WalletHoldings(wallet, junk, snapshot.as_of, stale))
        tokens = {b.token for held in holdings for b in held.balances if b.raw}
        prices = await self._prices.prices(list(tokens))
        summary = summarize(holdings, prices, include_unverified=self._include_unverified)
        if include_spam:  # merged per token, never priced
            summary = replace(summary, spam=summarize(spam, {}).unpriced)
        return summary

    async def holdings(
        self, tenant: str
    ) -> tuple[list[tuple[Wallet, WalletBalances]], dict[str, Price]]:
        """Every wallet's stored balances, and the prices of what they hold (for exports);
        tokens marked spam left out, those marked trusted priced."""
        marks = await self._marks.marks(tenant) if self._marks is not None else {}
        everything = [
            (wallet, replace(snapshot, balances=[
                TokenBalance(marked(b.token, marks.get((wallet.chain, b.token.key))), b.raw)
                for b in snapshot.balances
                if marks.get((wallet.chain, b.token.key)) is not Mark.SPAM
            ]))
            for wallet, snapshot in await self._balances.everything(tenant)
        ]  # fmt: skip
        tokens = {b.token for _, snapshot in everything for b in snapshot.balances if b.raw}
        return everything, await self._prices.prices(list(tokens))
