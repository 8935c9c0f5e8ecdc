"""In-memory fakes of the ports. The repository contract suite runs over them too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from portfolio.domain.balances import WalletBalances
from portfolio.domain.chains import Chain
from portfolio.domain.errors import DuplicateWalletError, WalletNotFoundError
from portfolio.domain.history import HeldAt, HistoryPoint, Window
from portfolio.domain.tokens import (
    Token,
    TokenAccount,
    TokenBalance,
    TokenFailure,
    WalletReading,
)
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

    async def add(self, *wallets: Wallet) -> None:
        for wallet in wallets:  # every one checked before any is stored: all or none
            for stored in self.wallets.values():
                if (stored.tenant, stored.chain, stored.address) == (
                    wallet.tenant,
                    wallet.chain,
                    wallet.address,
                ):
                    raise DuplicateWalletError(stored.id)
        for wallet in wallets:
            self.wallets[wallet.id] = wallet

    async def count(self, tenant: str) -> int:
        return sum(w.tenant == tenant for w in self.wallets.values())

    async def get(self, wallet_id: UUID, tenant: str) -> Wallet | None:
        wallet = self.wallets.get(wallet_id)
        return wallet if wallet is not None and wallet.tenant == tenant else None

    async def list(
        self,
        *,
        tenant: str | None,
        chain: Chain | None,
        limit: int,
        after: WalletCursor | None,
    ) -> WalletPage:
        ordered = sorted(self.wallets.values(), key=lambda w: (w.created_at, w.id))
        if tenant is not None:
            ordered = [w for w in ordered if w.tenant == tenant]
        if chain is not None:
            ordered = [w for w in ordered if w.chain is chain]
        if after is not None:
            ordered = [w for w in ordered if (w.created_at, w.id) > (after.created_at, after.id)]
        items = ordered[:limit]
        more = len(ordered) > limit
        return WalletPage(items, WalletCursor.after(items[-1]) if more else None)

    async def delete(self, wallet_id: UUID, tenant: str) -> bool:
        if await self.get(wallet_id, tenant) is None:
            return False
        return self.wallets.pop(wallet_id, None) is not None

    async def twins(self, wallets: Sequence[Wallet]) -> Sequence[Wallet]:
        ids = {w.id for w in wallets}
        places = {(w.chain, w.address) for w in wallets}
        return [
            w for w in self.wallets.values() if w.id not in ids and (w.chain, w.address) in places
        ]

    async def oldest_read(self) -> datetime | None:
        return min((w.created_at for w in self.wallets.values()), default=None)

    async def get_many(self, wallet_ids: Sequence[UUID]) -> Sequence[Wallet]:
        return [self.wallets[i] for i in dict.fromkeys(wallet_ids) if i in self.wallets]


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


class FakeBalanceRepository:
    """Keeps current balances and history in dicts, with the semantics of the SQL one."""

    def __init__(self, wallets: FakeWalletRepository) -> None:
        self._wallets = wallets
        self.current: dict[UUID, dict[str, TokenBalance]] = {}
        self.fetched_at: dict[UUID, datetime] = {}
        # (wallet id, token key, raw balance, time): an amount that differs from the last
        self.changes: list[tuple[UUID, str, int, datetime]] = []
        self.records = 0  # successful reads recorded
        self.accounts: dict[UUID, tuple[datetime, list[TokenAccount]]] = {}
        self.read_at: dict[tuple[UUID, str], datetime] = {}  # when each current balance was read
        self.failures: dict[UUID, list[TokenFailure]] = {}
        self.errors: dict[UUID, str] = {}

    async def get(self, wallet_id: UUID) -> WalletBalances | None:
        if wallet_id not in self._wallets.wallets:
            return None
        balances = list(self.current.get(wallet_id, {}).values())
        as_of = self.fetched_at.get(wallet_id)
        kept = {
            b.token.key: at
            for b in balances
            if (at := self.read_at[(wallet_id, b.token.key)]) != as_of
        }
        return WalletBalances(
            wallet_id,
            balances,
            as_of,
            list(self.failures.get(wallet_id, [])),
            self.errors.get(wallet_id),
            kept,
        )

    async def record_failure(self, wallet_ids: Sequence[UUID], reason: str, at: datetime) -> None:
        for wallet_id in wallet_ids:
            if wallet_id in self._wallets.wallets:
                self.errors[wallet_id] = reason

    async def record_many(
        self, readings: Mapping[UUID, WalletReading], fetched_at: datetime
    ) -> dict[UUID, WalletBalances]:
        return {
            wallet_id: await self.record(wallet_id, reading, fetched_at)
            for wallet_id, reading in readings.items()
            if wallet_id in self._wallets.wallets
        }

    async def known_accounts(
        self, wallet_ids: Sequence[UUID]
    ) -> dict[UUID, tuple[datetime, list[TokenAccount]]]:
        return {i: self.accounts[i] for i in wallet_ids if i in self.accounts}

    async def everything(self, tenant: str) -> list[tuple[Wallet, WalletBalances]]:
        ordered = sorted(
            (w for w in self._wallets.wallets.values() if w.tenant == tenant),
            key=lambda w: (w.created_at, w.id),
        )
        found = [(w, await self.get(w.id)) for w in ordered]
        return [(w, snapshot) for w, snapshot in found if snapshot is not None]

    async def record(
        self, wallet_id: UUID, reading: WalletReading, fetched_at: datetime
    ) -> WalletBalances:
        if wallet_id not in self._wallets.wallets:
            raise WalletNotFoundError(wallet_id)
        self.records += 1
        failed = {f.token.key for f in reading.failures}
        before = self.current.get(wallet_id, {})
        held = {b.token.key: b for b in reading.nonzero()}
        kept = {key: b for key, b in before.items() if key in failed}
        for key in before.keys() - held.keys() - failed:
            self.changes.append((wallet_id, key, 0, fetched_at))
        for key, balance in held.items():
            old = before.get(key)
            amount = (balance.raw, balance.token.decimals)
            if old is None or (old.raw, old.token.decimals) != amount:
                self.changes.append((wallet_id, key, balance.raw, fetched_at))
        self.current[wallet_id] = {**kept, **held}
        self.read_at.update({(wallet_id, key): fetched_at for key in held})
        self.fetched_at[wallet_id] = fetched_at
        self.failures[wallet_id] = list(reading.failures)
        self.errors.pop(wallet_id, None)
        if reading.accounts is not None:
            self.accounts[wallet_id] = (fetched_at, list(reading.accounts))
        snapshot = await self.get(wallet_id)
        assert snapshot is not None
        return snapshot


class FakeChainReader:
    """Answers from a dict of readings; counts its reads; can be told to fail or to wait."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.readings: dict[str, WalletReading] = {}
        self.reads = 0
        self.failure: Exception | None = None
        self.gate: asyncio.Event | None = None
        self.known: list[dict[str, Sequence[TokenAccount]]] = []  # what each read was given
        # Decides, from the addresses of a read, whether it fails (and how): a node that
        # times out on big reads, say.
        self.refuse: Callable[[Sequence[str]], Exception | None] = lambda _: None
        self.sizes: list[int] = []  # how many addresses each read carried

    async def read_balances(
        self,
        addresses: Sequence[str],
        known_accounts: Mapping[str, Sequence[TokenAccount]] | None = None,
        extra_tokens: Mapping[str, Sequence[Token]] | None = None,
    ) -> dict[str, WalletReading]:
        self.reads += 1
        self.sizes.append(len(addresses))
        self.known.append(dict(known_accounts or {}))
        if self.gate is not None:
            await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        if (refused := self.refuse(addresses)) is not None:
            raise refused
        return {a: self.readings.get(a, WalletReading(a, [], [])) for a in addresses}

    async def token(self, address: str) -> Token:
        return Token(self.chain, address, None, None, 18, False)


class FakeHistoryRepository:
    def __init__(self) -> None:
        self.points: list[HistoryPoint] = []

    async def portfolio_history(self, tenant: str, window: Window) -> list[HistoryPoint]:
        return list(self.points)

    async def held_at(
        self, tenant: str, moment: datetime, wallet_id: UUID | None = None
    ) -> list[HeldAt]:
        return []

    async def stream_history(self, tenant: str, window: Window) -> AsyncIterator[HistoryPoint]:
        for point in self.points:
            yield point

    async def chains_of(self, tenant: str) -> list[Chain]:
        return sorted({chain for point in self.points for chain in point.by_chain})

    async def prune(self, batch: int = 5000) -> int:
        return 0

    async def seal(self, tenant: str) -> None:
        return None

    async def lagging(self, behind: timedelta, limit: int) -> list[str]:
        return []


class FakeWatcher:
    def __init__(self) -> None:
        self.changes: list[str] = []  # the tenants told, in order

    async def portfolio_changed(self, tenant: str) -> None:
        self.changes.append(tenant)
