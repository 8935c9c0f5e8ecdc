"""In-memory fakes of the ports. The repository contract suite runs over them too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from portfolio.domain.chains import Chain
from portfolio.domain.errors import DuplicateWalletError
from portfolio.domain.wallet import Wallet, WalletCursor, WalletPage


class FakeClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class FakeWalletRepository:
    def __init__(self) -> None:
        self.wallets: dict[UUID, Wallet] = {}

    async def add(self, wallet: Wallet) -> None:
        for stored in self.wallets.values():
            if (stored.chain, stored.address) == (wallet.chain, wallet.address):
                raise DuplicateWalletError(stored.id)
        self.wallets[wallet.id] = wallet

    async def get(self, wallet_id: UUID) -> Wallet | None:
        return self.wallets.get(wallet_id)

    async def list(
        self, *, chain: Chain | None, limit: int, after: WalletCursor | None
    ) -> WalletPage:
        ordered = sorted(self.wallets.values(), key=lambda w: (w.created_at, w.id))
        if chain is not None:
            ordered = [w for w in ordered if w.chain is chain]
        if after is not None:
            ordered = [w for w in ordered if (w.created_at, w.id) > (after.created_at, after.id)]
        items = ordered[:limit]
        more = len(ordered) > limit
        return WalletPage(items, WalletCursor.after(items[-1]) if more else None)

    async def delete(self, wallet_id: UUID) -> bool:
        return self.wallets.pop(wallet_id, None) is not None


class FailingHealthCheck:
    def __init__(self, name: str, exc: Exception) -> None:
        self.name = name
        self._exc = exc

    async def check(self) -> None:
        raise self._exc


class PassingHealthCheck:
    def __init__(self, name: str) -> None:
        self.name = name

    async def check(self) -> None:
        return None
