"""Serving wallets' last stored balances, priced and judged fresh or stale."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from portfolio.domain.balances import WalletBalances
from portfolio.domain.errors import WalletNotFoundError
from portfolio.domain.prices import Price, price_key
from portfolio.domain.wallet import Wallet
from portfolio.ports.clock import Clock
from portfolio.ports.prices import Pricing
from portfolio.ports.repositories import (
    BalanceRepository,
    FoundTokenRepository,
    WalletRepository,
)
from portfolio.services.balance_cache import BalanceCache


@dataclass(frozen=True, slots=True)
class BalanceView:
    wallet: Wallet
    snapshot: WalletBalances
    stale: bool
    prices: Mapping[str, Price] = field(default_factory=dict)  # by price_key


class BalanceService:
    def __init__(
        self,
        wallets: WalletRepository,
        balances: BalanceRepository,
        cache: BalanceCache,
        prices: Pricing,
        clock: Clock,
        freshness: timedelta = timedelta(seconds=60),
        *,
        found: FoundTokenRepository | None = None,
    ) -> None:
        """``found``: the tokens on no list found in wallets' transfers (priced when a source
        prices them)."""
        self._found = found
        self._wallets = wallets
        self._balances = balances
        self._cache = cache
        self._prices = prices
        self._clock = clock
        self._freshness = freshness

    async def get(self, tenant: str, wallet_id: UUID) -> BalanceView:
        """The tenant's wallet's last stored balances, marked stale when old or when the last
        fetch failed."""
        wallet = await self._wallets.get(wallet_id, tenant)
        if wallet is None:
            raise WalletNotFoundError(wallet_id)
        snapshot = await self._cache.get(wallet_id)
        if snapshot is None:
            snapshot = await self._balances.get(wallet_id)
            if snapshot is None:
                raise WalletNotFoundError(wallet_id)
            await self._cache.put({wallet_id: snapshot})
        return await self.view(wallet, snapshot)

    async def view(self, wallet: Wallet, snapshot: WalletBalances) -> BalanceView:
        keys: set[str] = set()
        if self._found is not None and any(
            b.raw and not b.token.verified for b in snapshot.balances
        ):
            found = await self._found.found([wallet.id])  # (asked only when it may matter)
            keys = {price_key(t) for t in found.get(wallet.id, [])}
        prices = await self._prices.prices(
            [b.token for b in snapshot.balances if b.raw], found=keys
        )
        stale = snapshot.is_stale(self._clock.now(), self._freshness)
        return BalanceView(wallet, snapshot, stale, prices)
