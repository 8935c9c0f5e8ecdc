"""Reading wallets from their chain, storing what was read, and serving the last good balances."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from uuid import UUID

from loguru import logger

from portfolio.domain.balances import WalletBalances
from portfolio.domain.chains import Chain
from portfolio.domain.errors import ChainUnavailableError, WalletNotFoundError
from portfolio.domain.prices import Price
from portfolio.domain.tokens import Token
from portfolio.domain.wallet import Wallet
from portfolio.ports.cache import Cache
from portfolio.ports.chains import ChainReader
from portfolio.ports.clock import Clock
from portfolio.ports.repositories import BalanceRepository, WalletRepository
from portfolio.services.codec import decode_balances, encode_balances
from portfolio.services.prices import PriceService

FAILURE_MEMORY = timedelta(days=1)


SUMMARY_KEY = "portfolio:summary"  # the rendered portfolio summary; a write deletes it


def balances_key(wallet_id: UUID) -> str:
    return f"balances:{wallet_id}"


def fetch_error_key(wallet_id: UUID) -> str:
    return f"fetch-error:{wallet_id}"


@dataclass(frozen=True, slots=True)
class BalanceView:
    wallet: Wallet
    snapshot: WalletBalances
    stale: bool
    prices: Mapping[str, Price] = field(default_factory=dict)  # by price_key


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    freshness: timedelta = timedelta(seconds=60)
    lock_ttl_seconds: float = 120.0  # a crashed holder frees the wallet after this
    lock_wait_seconds: float = 60.0  # how long a second fetch waits for the first
    include_unverified: bool = False  # price tokens outside the token lists too


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
        wallet = await self._wallet(wallet_id)
        error = await self._cache.get(fetch_error_key(wallet_id))
        if error is not None:
            snapshot = replace(snapshot, last_error=error.decode())
        return await self._view(wallet, snapshot)

    async def price(self, tokens: Sequence[Token]) -> dict[str, Price]:
        """Current prices of the tokens that count (verified ones, unless told otherwise)."""
        if self._prices is None:
            return {}
        counted = [t for t in tokens if t.verified or self._policy.include_unverified]
        return await self._prices.prices(counted)

    async def _view(self, wallet: Wallet, snapshot: WalletBalances) -> BalanceView:
        prices = await self.price([b.token for b in snapshot.balances])
        return BalanceView(wallet, snapshot, self._stale(snapshot), prices)

    async def _read_and_record(self, wallet: Wallet) -> WalletBalances:
        reader = self._readers.get(wallet.chain)
        if reader is None:
            raise ChainUnavailableError(f"No RPC endpoint is configured for {wallet.chain}.")
        try:
            readings = await reader.read_balances([wallet.address])
            reading = readings.get(wallet.address)
            if reading is None:
                raise ChainUnavailableError("The node's answer left this wallet out.")
        except ChainUnavailableError as exc:
            logger.warning("fetch of wallet {} failed: {}", wallet.id, exc)
            await self._cache.set(
                fetch_error_key(wallet.id), str(exc).encode(), FAILURE_MEMORY.total_seconds()
            )
            raise
        prices = await self.price([b.token for b in reading.nonzero()])
        snapshot = await self._balances.record(wallet.id, reading, self._clock.now(), prices)
        await self._remember(snapshot)
        await self._cache.delete(fetch_error_key(wallet.id))
        await self._cache.delete(SUMMARY_KEY)
        return snapshot

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
