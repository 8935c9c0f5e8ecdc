"""Storage ports."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from portfolio.domain.chains import Chain
from portfolio.domain.wallet import Wallet, WalletCursor, WalletPage


class WalletRepository(Protocol):
    async def add(self, wallet: Wallet) -> None:
        """Store a new wallet; raises DuplicateWalletError naming the stored one."""

    async def get(self, wallet_id: UUID) -> Wallet | None: ...

    async def list(
        self, *, chain: Chain | None, limit: int, after: WalletCursor | None
    ) -> WalletPage:
        """Wallets in (created_at, id) order, strictly after ``after``."""

    async def delete(self, wallet_id: UUID) -> bool:
        """Remove the wallet with its balances and history; False when there was none."""
