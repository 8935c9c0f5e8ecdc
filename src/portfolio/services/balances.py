"""Reading wallets from their chain, storing what was read, and serving the last good balances."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from loguru import logger

from portfolio.domain.balances import WalletBalances
from portfolio.domain.chains import Chain
from portfolio.domain.errors import (
    ChainUnavailableError,
    StorageUnavailableError,
    WalletNotFoundError,
)
from portfolio.domain.prices import Price
from portfolio.domain.tokens import Token, TokenAccount
from portfolio.domain.wallet import Wallet
from portfolio.ports.cache import Cache
from portfolio.ports.chains import ChainReader
from portfolio.ports.clock import Clock
from portfolio.ports.repositories import BalanceRepository, WalletRepository
from portfolio.services.codec import decode_balances, encode_balances
from portfolio.services.prices import PriceService

RECORD_SLICE = 500  # wallets recorded in one transaction
SUMMARY_KEY = "portfolio:summary"  # the rendered portfolio summary; a write deletes it


def balances_key(wallet_id: UUID) -> str:
    return f"balances:{wallet_id}"


@dataclass(frozen=True, slots=True)
class BalanceView:
    wallet: Wallet
    snapshot: WalletBalances
    stale: bool
    prices: Mapping[str, Price] = field(default_factory=dict)  # by price_key


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    wallet: Wallet
    snapshot: WalletBalances | None  # None when the wallet could not be refreshed
    error: str | None


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    freshness: timedelta = timedelta(seconds=60)
    lock_ttl_seconds: float = 120.0  # a crashed holder frees the wallet after this
    lock_wait_seconds: float = 60.0  # how long a second fetch waits for the first
    include_unverified: bool = False  # price tokens outside the token lists too
    # A refresh reads a Solana wallet's known token accounts again while its last discovery
    # is younger than this; a wallet's own fetch always discovers.
    discovery_max_age: timedelta = timedelta(hours=1)


class BalanceService:
    def __init__(
        self,
        wallets: WalletRepository,
        balances: BalanceRepository,
        readers: Mapping[Chain, ChainReader],
        cache: Cache,
        clock: Clock,
        policy: FetchPolicy | None = None,
        prices: PriceService | None = None,
    ) -> None:
        self._prices = prices
        self._wallets = wallets
        self._balances = balances
        self._readers = dict(readers)
        self._cache = cache
        self._clock = clock
        self._policy = policy or FetchPolicy()

    async def fetch(self, wallet_id: UUID) -> BalanceView:
        """Read the wallet from its chain now and store it; concurrent fetches share one read."""
        wallet = await self._wallet(wallet_id)
        asked_at = self._clock.now()
        policy = self._policy
        async with self._cache.lock(
            f"fetch:{wallet_id}",
            ttl_seconds=policy.lock_ttl_seconds,
            wait_seconds=policy.lock_wait_seconds,
        ):
            cached = await self._cached(wallet_id)
            if cached is not None and cached.as_of is not None and cached.as_of > asked_at:
                return await self._view(wallet, cached)  # read while we waited
            snapshot = await self._read_and_record(wallet)
        return await self._view(wallet, snapshot)

    async def get(self, wallet_id: UUID) -> BalanceView:
        """The last stored balances, marked stale when old or when the last fetch failed."""
        snapshot = await self._cached(wallet_id)
        if snapshot is None:
            snapshot = await self._balances.get(wallet_id)
            if snapshot is None:
                raise WalletNotFoundError(wallet_id)
            await self._remember(snapshot)
        return await self._view(await self._wallet(wallet_id), snapshot)

    async def price(self, tokens: Sequence[Token]) -> dict[str, Price]:
        """Current prices of the tokens that count (verified ones, unless told otherwise)."""
        if self._prices is None:
            return {}
        counted = [t for t in tokens if t.verified or self._policy.include_unverified]
        return await self._prices.prices(counted)

    async def _view(self, wallet: Wallet, snapshot: WalletBalances) -> BalanceView:
        prices = await self.price([b.token for b in snapshot.balances])
        return BalanceView(wallet, snapshot, self._stale(snapshot), prices)

    async def refresh_all(self) -> list[RefreshOutcome]:
        """Read every wallet, one batched read per chain; a chain that cannot be read leaves
        its wallets' stored data as it was and the other chains' wallets refreshed."""
        by_chain: dict[Chain, list[Wallet]] = {}
        for wallet in await self._all_wallets():
            by_chain.setdefault(wallet.chain, []).append(wallet)
        policy = self._policy
        async with self._cache.lock(
            "refresh:all",
            ttl_seconds=policy.lock_ttl_seconds,
            wait_seconds=policy.lock_wait_seconds,
        ):
            results = await asyncio.gather(
                *(self._refresh_chain(wallets) for wallets in by_chain.values())
            )
        return [outcome for outcomes in results for outcome in outcomes]

    async def _refresh_chain(self, wallets: list[Wallet]) -> list[RefreshOutcome]:
        try:
            recorded, failed = await self._read_and_record_many(wallets, reuse_accounts=True)
        except ChainUnavailableError as exc:
            return [RefreshOutcome(w, None, str(exc)) for w in wallets]
        return [
            RefreshOutcome(
                w, recorded.get(w.id), None if w.id in recorded else failed.get(w.id, "deleted")
            )
            for w in wallets
        ]

    async def _known_accounts(self, wallets: list[Wallet]) -> dict[str, list[TokenAccount]]:
        """Token accounts of the wallets whose last discovery is recent enough to trust."""
        if wallets[0].chain is not Chain.SOLANA:
            return {}
        oldest = self._clock.now() - self._policy.discovery_max_age
        known = await self._balances.known_accounts([w.id for w in wallets])
        return {
            w.address: known[w.id][1] for w in wallets if w.id in known and known[w.id][0] >= oldest
        }

    async def _all_wallets(self) -> list[Wallet]:
        wallets: list[Wallet] = []
        cursor = None
        while True:
            page = await self._wallets.list(chain=None, limit=1000, after=cursor)
            wallets += page.items
            if page.next_cursor is None:
                return wallets
            cursor = page.next_cursor

    async def _read_and_record(self, wallet: Wallet) -> WalletBalances:
        recorded, failed = await self._read_and_record_many([wallet])
        if wallet.id in failed:
            raise ChainUnavailableError(failed[wallet.id])
        if wallet.id not in recorded:
            raise WalletNotFoundError(wallet.id)
        return recorded[wallet.id]

    async def _read_and_record_many(
        self, wallets: list[Wallet], *, reuse_accounts: bool = False
    ) -> tuple[dict[UUID, WalletBalances], dict[UUID, str]]:
        """Read wallets of one chain in one batched read and record them in one transaction:
        what was recorded, and why each wallet that could not be read alone failed. When the
        chain cannot be read, each wallet remembers why and nothing stored changes."""
        chain = wallets[0].chain
        try:
            reader = self._readers.get(chain)
            if reader is None:
                raise ChainUnavailableError(f"No RPC endpoint is configured for {chain}.")
            known = await self._known_accounts(wallets) if reuse_accounts else {}
            readings = await reader.read_balances([w.address for w in wallets], known)
            if any(w.address not in readings for w in wallets):
                raise ChainUnavailableError("The node's answer left wallets out.")
        except ChainUnavailableError as exc:
            logger.warning("reading {} wallet(s) on {} failed: {}", len(wallets), chain, exc)
            await self._remember_failure(wallets, str(exc))
            raise
        failed = {w.id: error for w in wallets if (error := readings[w.address].error)}
        for wallet in wallets:
            if wallet.id in failed:
                logger.warning(
                    "reading {} wallet {} failed: {}", chain, wallet.id, failed[wallet.id]
                )
                await self._remember_failure([wallet], failed[wallet.id])
        by_id = {w.id: readings[w.address] for w in wallets if w.id not in failed}
        tokens = {b.token for reading in by_id.values() for b in reading.nonzero()}
        prices = await self.price(list(tokens))
        # One transaction per slice of wallets keeps statements and locks small on big refreshes.
        recorded: dict[UUID, WalletBalances] = {}
        fetched_at = self._clock.now()
        ids = list(by_id)
        for start in range(0, len(ids), RECORD_SLICE):
            part = {i: by_id[i] for i in ids[start : start + RECORD_SLICE]}
            recorded.update(await self._balances.record_many(part, fetched_at, prices))
        await self._cache.set_many(
            {balances_key(i): encode_balances(s) for i, s in recorded.items()},
            self._policy.freshness.total_seconds(),
        )
        await self._cache.delete(SUMMARY_KEY)
        return recorded, failed

    async def _remember_failure(self, wallets: list[Wallet], reason: str) -> None:
        """The reason goes on the wallets' rows (their cached balances are dropped so reads
        see it); a database that is down too loses only the reason."""
        try:
            await self._balances.record_failure([w.id for w in wallets], reason, self._clock.now())
        except StorageUnavailableError as exc:
            logger.warning("could not store why {} wallet(s) failed: {}", len(wallets), exc)
        await self._cache.delete_many([*(balances_key(w.id) for w in wallets), SUMMARY_KEY])

    async def _wallet(self, wallet_id: UUID) -> Wallet:
        wallet = await self._wallets.get(wallet_id)
        if wallet is None:
            raise WalletNotFoundError(wallet_id)
        return wallet

    async def _cached(self, wallet_id: UUID) -> WalletBalances | None:
        data = await self._cache.get(balances_key(wallet_id))
        return None if data is None else decode_balances(data)

    async def _remember(self, snapshot: WalletBalances) -> None:
        ttl = self._policy.freshness.total_seconds()
        await self._cache.set(balances_key(snapshot.wallet_id), encode_balances(snapshot), ttl)

    def _stale(self, snapshot: WalletBalances) -> bool:
        return snapshot.is_stale(self._clock.now(), self._policy.freshness)
