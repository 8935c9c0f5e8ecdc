"""The portfolio summary over every wallet."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from portfolio.domain.balances import WalletBalances
from portfolio.domain.portfolio import Summary, WalletHoldings, summarize
from portfolio.domain.prices import Price, contract_price_key
from portfolio.domain.tokens import Mark, TokenBalance, marked
from portfolio.domain.wallet import Wallet
from portfolio.ports.clock import Clock
from portfolio.ports.prices import Pricing
from portfolio.ports.repositories import (
    BalanceRepository,
    FoundTokenRepository,
    TokenMarkRepository,
)


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
        found: FoundTokenRepository | None = None,
    ) -> None:
        """``found``: the tokens on no list found in the wallets' transfers, which count once
        a price source prices them (listed under ``unverified`` until then)."""
        self._marks = marks
        self._found = found
        self._balances = balances
        self._prices = prices
        self._clock = clock
        self._freshness = freshness
        self._include_unverified = include_unverified

    async def summary(self, tenant: str, *, include_spam: bool = False) -> Summary:
        """The summary over the tenant's wallets. A token the tenant marked spam is never
        counted and is left out (listed apart with ``include_spam``); one marked trusted is
        priced and counted like a listed token; one found on chain counts once priced."""
        everything, spam = await self._as_marked(tenant)
        found = await self._found_by(tenant, everything)
        now = self._clock.now()
        holdings = []
        spam_holdings = []
        for (wallet, snapshot), junk in zip(everything, spam, strict=True):
            stale = snapshot.is_stale(now, self._freshness)
            holdings.append(WalletHoldings(wallet, snapshot.balances, snapshot.as_of, stale))
            spam_holdings.append(WalletHoldings(wallet, junk, snapshot.as_of, stale))
        prices = await self._prices_of(everything, found)
        summary = summarize(
            holdings, prices, include_unverified=self._include_unverified, found=found
        )
        if include_spam:  # merged per token, never priced
            summary = replace(summary, spam=summarize(spam_holdings, {}).unpriced)
        return summary

    async def holdings(
        self, tenant: str
    ) -> tuple[list[tuple[Wallet, WalletBalances]], dict[str, Price]]:
        """Every wallet's stored balances, and the prices of what they hold (for exports);
        tokens marked spam left out, those marked trusted priced."""
        everything, _ = await self._as_marked(tenant)
        found = await self._found_by(tenant, everything)
        return everything, await self._prices_of(everything, found)

    async def _found_by(
        self, tenant: str, everything: list[tuple[Wallet, WalletBalances]]
    ) -> set[str]:
        """The price keys of the tokens found for the tenant's wallets, asked for only where
        a wallet holds a token on no list (only then may one have been found)."""
        unverified = any(
            b.raw and not b.token.verified for _, snapshot in everything for b in snapshot.balances
        )
        if self._found is None or not unverified:
            return set()
        return {contract_price_key(c, a) for c, a in await self._found.found_by(tenant)}

    async def _as_marked(
        self, tenant: str
    ) -> tuple[list[tuple[Wallet, WalletBalances]], list[list[TokenBalance]]]:
        """Every wallet's stored balances as the tenant's marks make them count (a trusted
        token counted as a listed one), and apart, per wallet, the balances marked spam."""
        marks = await self._marks.marks(tenant) if self._marks is not None else {}
        everything, spam = [], []
        for wallet, snapshot in await self._balances.everything(tenant):
            kept, junk = [], []
            for balance in snapshot.balances:
                mark = marks.get((wallet.chain, balance.token.key))
                if mark is Mark.SPAM:
                    junk.append(balance)
                else:
                    kept.append(TokenBalance(marked(balance.token, mark), balance.raw))
            everything.append((wallet, replace(snapshot, balances=kept)))
            spam.append(junk)
        return everything, spam

    async def _prices_of(
        self, everything: list[tuple[Wallet, WalletBalances]], found: set[str]
    ) -> dict[str, Price]:
        tokens = {b.token for _, snapshot in everything for b in snapshot.balances if b.raw}
        return await self._prices.prices(list(tokens), found=found)
