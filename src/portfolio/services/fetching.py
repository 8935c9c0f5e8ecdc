"""Reading wallets from their chain and storing what was read: one wallet now (fetch), or every
wallet, batched per chain (refresh)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

from loguru import logger

from portfolio.domain.balances import WalletBalances
from portfolio.domain.chains import Chain
from portfolio.domain.errors import (
    ChainTimeoutError,
    ChainUnavailableError,
    LockTimeoutError,
    RecordRejectedError,
    StorageUnavailableError,
    WalletNotFoundError,
)
from portfolio.domain.prices import price_key
from portfolio.domain.tokens import Token, TokenAccount, TokenBalance, WalletReading
from portfolio.domain.wallet import Wallet
from portfolio.ports.chains import ChainReader
from portfolio.ports.changes import PortfolioWatcher
from portfolio.ports.clock import Clock
from portfolio.ports.prices import Pricing
from portfolio.ports.repositories import (
    BalanceRepository,
    FoundTokenRepository,
    PriceSeriesRepository,
    TrackedTokenRepository,
    WalletRepository,
)
from portfolio.ports.telemetry import Telemetry
from portfolio.services.balance_cache import BalanceCache
from portfolio.services.wallets import every_wallet

RECORD_SLICE = 500  # wallets recorded in one transaction
DISCOVERY_SPREAD = 0.25  # a discovery is trusted for (1 - this) to all of its max age


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    wallet: Wallet
    snapshot: WalletBalances | None  # None when the wallet could not be refreshed
    error: str | None
    chain_failed: bool = False  # the chain could not be read at all (not the wallet alone)


class Tally(NamedTuple):
    """What a scheduled job's read did, other tenants' wallets at its addresses included."""

    refreshed: int
    failed: int
    skipped: int  # being read by another worker


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    lock_ttl_seconds: float = 120.0  # a crashed holder frees the wallet after this
    lock_wait_seconds: float = 60.0  # how long a second fetch waits for the first
    # A refresh reads again what a wallet's last discovery found (a Solana wallet's token and
    # stake accounts, the listed tokens an EVM wallet held) while the discovery is younger than
    # this (see trusted_for), and discovers again after; a wallet's own fetch always discovers.
    discovery_max_age: timedelta = timedelta(hours=1)
    evm_discovery_max_age: timedelta = timedelta(hours=1)
    # A refresh reads a chain's wallets in chunks of at most this many, each read and recorded
    # alone: a failure stays with its chunk, and memory is bounded by the chunk. A chunk whose
    # read times out is split in half and read again, down to 1/16 of this size.
    chunk_wallets: int = 500


@dataclass(frozen=True, slots=True)
class Stores:
    wallets: WalletRepository
    balances: BalanceRepository
    cache: BalanceCache
    price_series: PriceSeriesRepository | None = None  # where prices seen are recorded


class FetchService:
    def __init__(
        self,
        stores: Stores,
        readers: Mapping[Chain, ChainReader],
        prices: Pricing,
        watcher: PortfolioWatcher,
        clock: Clock,
        policy: FetchPolicy | None = None,
        telemetry: Telemetry | None = None,
        tracked: TrackedTokenRepository | None = None,
        found: FoundTokenRepository | None = None,
    ) -> None:
        """``tracked``: the tokens tenants track on EVM chains, read with the lists' ones;
        ``found``: the tokens on no list found for wallets in Transfer logs, read likewise."""
        self._tracked = tracked
        self._found = found
        self._stores = stores
        self._readers = dict(readers)
        self._prices = prices
        self._watcher = watcher
        self._clock = clock
        self._policy = policy or FetchPolicy()
        self._telemetry = telemetry

    async def fetch(self, tenant: str, wallet_id: UUID) -> tuple[Wallet, WalletBalances]:
        """Read the tenant's wallet from its chain now and store it; concurrent fetches share
        one read. The balances are served (priced, judged fresh) by BalanceService.view."""
        wallet = await self._stores.wallets.get(wallet_id, tenant)
        if wallet is None:
            raise WalletNotFoundError(wallet_id)
        asked_at = self._clock.now()
        async with self._lock(f"fetch:{wallet_id}"):
            cached = await self._stores.cache.get(wallet_id)
            if cached is not None and cached.as_of is not None and cached.as_of > asked_at:
                return wallet, cached  # read while we waited
            recorded, failed = await self._read_and_record([wallet], "fetch")
        if wallet.id in failed:
            raise ChainUnavailableError(failed[wallet.id])
        if wallet.id not in recorded:
            raise WalletNotFoundError(wallet.id)
        return wallet, recorded[wallet.id]

    async def refresh_all(self, tenant: str) -> list[RefreshOutcome]:
        """Read every wallet of the tenant, one batched read per chain; a chain that cannot be
        read leaves its wallets' stored data as it was and the other chains' wallets
        refreshed."""
        by_chain: dict[Chain, list[Wallet]] = {}
        for wallet in await every_wallet(self._stores.wallets, tenant):
            by_chain.setdefault(wallet.chain, []).append(wallet)
        async with self._lock(f"refresh:{tenant}"):
            results = await asyncio.gather(
                *(self._read_in_chunks(wallets, "refresh") for wallets in by_chain.values())
            )
        return [outcome for outcomes in results for outcome in outcomes]

    def _lock(self, key: str) -> AbstractAsyncContextManager[None]:
        policy = self._policy
        return self._stores.cache.lock(
            key, ttl_seconds=policy.lock_ttl_seconds, wait_seconds=policy.lock_wait_seconds
        )

    async def refresh_wallets(
        self, chain: Chain, wallet_ids: Sequence[UUID], *, hold_seconds: float
    ) -> Tally:
        """Read these wallets of one chain (any tenant's: a scheduled job) as a refresh does,
        with the other tenants' wallets at their addresses. Each wallet is claimed first, for
        at most ``hold_seconds``, so that no two workers read it at once; one that another
        reader holds is skipped (it is being read). Raises ChainUnavailableError when the
        chain cannot be read at all (nothing stored changes), so that the job can be tried
        again."""
        wallets = [w for w in await self._stores.wallets.get_many(wallet_ids) if w.chain == chain]
        async with AsyncExitStack() as claims:
            claimed = [w for w in wallets if await self._claim(claims, w.id, hold_seconds)]
            skipped = len(wallets) - len(claimed)
            if not claimed:
                return Tally(0, 0, skipped)
            outcomes = await self._read_in_chunks(claimed, "job")
        failed = [o for o in outcomes if o.error is not None]
        if failed and len(failed) == len(outcomes) and all(o.chain_failed for o in failed):
            raise ChainUnavailableError(failed[-1].error or "the chain could not be read")
        return Tally(len(outcomes) - len(failed), len(failed), skipped)

    async def _claim(self, claims: AsyncExitStack, wallet_id: UUID, hold_seconds: float) -> bool:
        try:
            await claims.enter_async_context(
                self._stores.cache.lock(
                    f"fetch:{wallet_id}", ttl_seconds=hold_seconds, wait_seconds=0
                )
            )
        except LockTimeoutError:
            return False
        return True

    async def _read_in_chunks(self, wallets: list[Wallet], trigger: str) -> list[RefreshOutcome]:
        """The wallets (of one chain) in chunks of ``chunk_wallets``, one after another, each
        recorded as it completes."""
        size = self._policy.chunk_wallets
        smallest = max(1, size // 16)
        outcomes: list[RefreshOutcome] = []
        for start in range(0, len(wallets), size):
            outcomes += await self._read_chunk(wallets[start : start + size], trigger, smallest)
        return outcomes

    async def _read_chunk(
        self, wallets: list[Wallet], trigger: str, smallest: int
    ) -> list[RefreshOutcome]:
        """One chunk; split in half and read again when its read timed out (nodes differ in
        what they finish in time), until halves would be smaller than ``smallest``."""
        splittable = len(wallets) >= 2 * smallest
        try:
            recorded, failed = await self._read_and_record(
                wallets, trigger, reuse_accounts=True, remember=not splittable
            )
        except ChainTimeoutError as exc:
            if not splittable:
                return [RefreshOutcome(w, None, str(exc), chain_failed=True) for w in wallets]
            half = len(wallets) // 2
            logger.info("{} wallet(s) timed out on {}: reading halves", len(wallets), trigger)
            return [
                *await self._read_chunk(wallets[:half], trigger, smallest),
                *await self._read_chunk(wallets[half:], trigger, smallest),
            ]
        except ChainUnavailableError as exc:
            return [RefreshOutcome(w, None, str(exc), chain_failed=True) for w in wallets]
        return _outcomes(wallets, recorded, failed)

    async def _read_and_record(
        self,
        wallets: list[Wallet],
        trigger: str,
        *,
        reuse_accounts: bool = False,
        remember: bool = True,
    ) -> tuple[dict[UUID, WalletBalances], dict[UUID, str]]:
        """Read wallets of one chain in one batched read and record them: what was recorded,
        and why each wallet that could not be read alone failed. When the chain cannot be read,
        each wallet remembers why and nothing stored changes. Other tenants' wallets at the
        same addresses are read and recorded with them: each address is read once."""
        chain = wallets[0].chain
        wallets = [*wallets, *await self._stores.wallets.twins(wallets)]
        started = time.monotonic()
        try:
            tracked = await self._tracked_tokens(chain, wallets)
            found = await self._found_tokens(chain, wallets)
            readings = await self._read(
                chain, wallets, reuse_accounts, _per_address(wallets, tracked, found)
            )
        except ChainUnavailableError as exc:
            logger.warning("reading {} wallet(s) on {} failed: {}", len(wallets), chain, exc)
            self._observe(chain, trigger, started, 0, len(wallets))
            if remember or not isinstance(exc, ChainTimeoutError):  # else: read again, smaller
                await self._remember_failure(wallets, str(exc))
            raise
        failed = {w.id: error for w in wallets if (error := readings[w.address].error)}
        for wallet in (w for w in wallets if w.id in failed):
            logger.warning("reading wallet {} failed: {}", wallet.id, failed[wallet.id])
            await self._remember_failure([wallet], failed[wallet.id])
        by_id = {
            w.id: _own(readings[w.address], w, tracked, found.get(w.id, []))
            for w in wallets
            if w.id not in failed
        }
        found_keys = {price_key(t) for tokens in found.values() for t in tokens}
        recorded, refused = await self._record(by_id, found_keys)
        for wallet in (w for w in wallets if w.id in refused):
            logger.warning("recording wallet {} failed: {}", wallet.id, refused[wallet.id])
            await self._remember_failure([wallet], refused[wallet.id])
        failed |= refused
        self._observe(chain, trigger, started, len(recorded), len(failed))
        await self._stores.cache.put(recorded)
        await self._changed({w.tenant for w in wallets if w.id in recorded})
        return recorded, failed

    def _observe(
        self, chain: Chain, trigger: str, started: float, refreshed: int, failed: int
    ) -> None:
        if self._telemetry is not None:
            seconds = time.monotonic() - started
            self._telemetry.refreshed(chain, trigger, seconds, refreshed, failed)

    async def _changed(self, tenants: set[str]) -> None:
        for tenant in sorted(tenants):
            await self._watcher.portfolio_changed(tenant)

    async def _tracked_tokens(self, chain: Chain, wallets: list[Wallet]) -> dict[str, list[Token]]:
        """The tokens each tenant of these wallets tracks on this chain (an EVM read reads
        them; on Solana, found anyway, they lend their symbol and name)."""
        if self._tracked is None:
            return {}
        return await self._tracked.tracked({w.tenant for w in wallets}, chain)

    async def _found_tokens(self, chain: Chain, wallets: list[Wallet]) -> dict[UUID, list[Token]]:
        """The tokens on no list found for these wallets in the logs (EVM chains only)."""
        if self._found is None or not chain.is_evm:
            return {}
        return await self._found.found([w.id for w in wallets])

    async def _read(
        self,
        chain: Chain,
        wallets: list[Wallet],
        reuse_accounts: bool,
        extra: Mapping[str, list[Token]] | None = None,
    ) -> dict[str, WalletReading]:
        reader = self._readers.get(chain)
        if reader is None:
            raise ChainUnavailableError(f"No RPC endpoint is configured for {chain}.")
        known = await self._known_accounts(wallets) if reuse_accounts else {}
        addresses = list(dict.fromkeys(w.address for w in wallets))  # once each
        readings = await reader.read_balances(addresses, known, extra)
        if any(w.address not in readings for w in wallets):
            raise ChainUnavailableError("The node's answer left wallets out.")
        return readings

    async def _record(
        self, readings: dict[UUID, WalletReading], found: Collection[str] = frozenset()
    ) -> tuple[dict[UUID, WalletBalances], dict[UUID, str]]:
        """Priced and stored; one transaction per slice of wallets keeps statements and locks
        small on big refreshes. What was recorded, and why each wallet the database refused
        failed: a slice it refuses is recorded again in halves, down to the wallet, so that a
        record that cannot be stored fails its own wallet, never its neighbours (another
        tenant's wallet at the same address among them)."""
        tokens = {b.token for reading in readings.values() for b in reading.nonzero()}
        prices = await self._prices.prices(list(tokens), found=found)  # found: in the series too
        recorded: dict[UUID, WalletBalances] = {}
        refused: dict[UUID, str] = {}
        fetched_at = self._clock.now()
        if self._stores.price_series is not None:  # once per read, for every wallet in it
            seen = [(t, prices[price_key(t)]) for t in tokens if price_key(t) in prices]
            await self._stores.price_series.record_prices(seen, fetched_at)
        ids = list(readings)
        for start in range(0, len(ids), RECORD_SLICE):
            part = {i: readings[i] for i in ids[start : start + RECORD_SLICE]}
            recorded.update(await self._store(part, fetched_at, refused))
        return recorded, refused

    async def _store(
        self,
        part: dict[UUID, WalletReading],
        fetched_at: datetime,
        refused: dict[UUID, str],
    ) -> dict[UUID, WalletBalances]:
        """``part`` in one transaction; refused, each half again, down to the wallet whose
        record the database will not take (added to ``refused``)."""
        try:
            return await self._stores.balances.record_many(part, fetched_at)
        except RecordRejectedError as exc:
            if len(part) == 1:
                refused.update(dict.fromkeys(part, str(exc)))
                return {}
        ids = list(part)
        halves = (ids[: len(ids) // 2], ids[len(ids) // 2 :])
        stored: dict[UUID, WalletBalances] = {}
        for half in halves:
            stored |= await self._store({i: part[i] for i in half}, fetched_at, refused)
        return stored

    async def _known_accounts(self, wallets: list[Wallet]) -> dict[str, list[TokenAccount]]:
        """What the last discovery found at each address where every wallet's discovery is
        recent enough to trust (a wallet new at an address has the address discovered)."""
        chain = wallets[0].chain
        policy = self._policy
        max_age = policy.evm_discovery_max_age if chain.is_evm else policy.discovery_max_age
        now = self._clock.now()
        known = await self._stores.balances.known_accounts([w.id for w in wallets])
        accounts: dict[str, list[TokenAccount]] = {}
        stale: set[str] = set()
        for wallet in wallets:
            found = known.get(wallet.id)
            if found is None or found[0] < now - trusted_for(wallet, max_age):
                stale.add(wallet.address)
            else:
                accounts[wallet.address] = found[1]
        return {address: held for address, held in accounts.items() if address not in stale}

    async def _remember_failure(self, wallets: list[Wallet], reason: str) -> None:
        """The reason goes on the wallets' rows (their cached balances are dropped so reads
        see it); a database that is down too loses only the reason."""
        ids = [w.id for w in wallets]
        try:
            await self._stores.balances.record_failure(ids, reason, self._clock.now())
        except StorageUnavailableError as exc:
            logger.warning("could not store why {} wallet(s) failed: {}", len(wallets), exc)
        await self._stores.cache.drop(ids)
        await self._changed({w.tenant for w in wallets})


def trusted_for(wallet: Wallet, max_age: timedelta) -> timedelta:
    """How long the wallet's discovery is trusted: between 3/4 of ``max_age`` and all of it,
    fixed per wallet, so that wallets discovered together (added at once, or by one cycle) are
    discovered again over several cycles rather than all in one."""
    share = (wallet.id.int % 1024) / 1024
    return max_age * (1 - DISCOVERY_SPREAD * share)


def _per_address(
    wallets: list[Wallet],
    tracked: dict[str, list[Token]],
    found: Mapping[UUID, list[Token]],
) -> dict[str, list[Token]]:
    """The tokens on no list to read at each address: those every tenant with a wallet there
    tracks, and those found for its wallets."""
    extra: dict[str, dict[str, Token]] = {}
    for wallet in wallets:
        for token in [*tracked.get(wallet.tenant, []), *found.get(wallet.id, [])]:
            extra.setdefault(wallet.address, {}).setdefault(token.key, token)
    return {address: list(tokens.values()) for address, tokens in extra.items()}


def _own(
    reading: WalletReading,
    wallet: Wallet,
    tracked: dict[str, list[Token]],
    found: Sequence[Token] = (),
) -> WalletReading:
    """The reading as the wallet's tenant sees it: without the tokens read only because other
    tenants track them (an address is read once for every tenant at it), and with its own
    tracked tokens' symbols and names on tokens the lists do not name. Tokens found for the
    wallet are its own."""
    mine = {t.key: t for t in [*found, *tracked.get(wallet.tenant, [])]}
    theirs = {t.key for tokens in tracked.values() for t in tokens} - set(mine)
    if not mine and not theirs:
        return reading
    return replace(
        reading,
        balances=[
            TokenBalance(_named(b.token, mine), b.raw)
            for b in reading.balances
            if _own_token(b.token, wallet, theirs)
        ],
        failures=[f for f in reading.failures if _own_token(f.token, wallet, theirs)],
    )


def _own_token(token: Token, wallet: Wallet, theirs: set[str]) -> bool:
    """False for a token read only because another tenant tracks it (EVM: a listed token is
    everyone's; on Solana every token account is found whoever tracks what)."""
    return token.verified or not wallet.chain.is_evm or token.key not in theirs


def _named(token: Token, tracked: dict[str, Token]) -> Token:
    """A token on no list, named as the tenant's tracked token of the same address is."""
    known = tracked.get(token.key)
    if token.verified or known is None or token.symbol is not None:
        return token
    return replace(token, symbol=known.symbol, name=known.name)


def _outcomes(
    wallets: list[Wallet], recorded: dict[UUID, WalletBalances], failed: dict[UUID, str]
) -> list[RefreshOutcome]:
    return [
        RefreshOutcome(
            w, recorded.get(w.id), None if w.id in recorded else failed.get(w.id, "deleted")
        )
        for w in wallets
    ]
