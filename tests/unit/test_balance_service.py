from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID

import pytest

from portfolio.adapters.cache.memory import MemoryCache
from portfolio.domain.chains import Chain
from portfolio.domain.errors import ChainUnavailableError, WalletNotFoundError
from portfolio.domain.tokens import Token, TokenAccount, TokenBalance, TokenFailure, WalletReading
from portfolio.domain.wallet import DEFAULT_TENANT, Wallet
from portfolio.ports.chains import ChainReader
from portfolio.services.balance_cache import BalanceCache
from portfolio.services.balances import BalanceService, BalanceView
from portfolio.services.fetching import FetchPolicy, FetchService, Stores, trusted_for
from portfolio.services.prices import NoPricing
from tests.fakes import (
    FakeBalanceRepository,
    FakeChainReader,
    FakeClock,
    FakeWalletRepository,
    FakeWatcher,
)

ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
ETH = Token.native(Chain.ETHEREUM)
USDC = Token(Chain.ETHEREUM, "0x" + "a0" * 20, "USDC", "USD Coin", 6, True)


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.wallets = FakeWalletRepository()
        self.balances = FakeBalanceRepository(self.wallets)
        self.reader = FakeChainReader(Chain.ETHEREUM)
        self.watcher = FakeWatcher()
        self.fetcher = self.fetching({Chain.ETHEREUM: self.reader}, FetchPolicy())

    def fetching(self, readers: dict[Chain, ChainReader], policy: FetchPolicy) -> FetchService:
        freshness = timedelta(seconds=60)
        cache = BalanceCache(MemoryCache(), freshness)
        self.reads = BalanceService(
            self.wallets, self.balances, cache, NoPricing(), self.clock, freshness
        )
        stores = Stores(self.wallets, self.balances, cache)
        return FetchService(stores, readers, NoPricing(), self.watcher, self.clock, policy)

    async def fetch(self, wallet_id: UUID) -> BalanceView:
        """A fetch served as the route serves it."""
        return await self.reads.view(*await self.fetcher.fetch(DEFAULT_TENANT, wallet_id))

    async def wallet(self) -> Wallet:
        wallet = Wallet.create(Chain.ETHEREUM, ADDRESS, None, self.clock.now())
        await self.wallets.add(wallet)
        return wallet

    def chain_holds(
        self, *balances: TokenBalance, failures: list[TokenFailure] | None = None
    ) -> None:
        self.reader.readings[ADDRESS] = WalletReading(ADDRESS, list(balances), failures or [])


@pytest.fixture
def world() -> World:
    return World()


async def test_a_fetch_stores_and_serves_what_the_chain_holds(world: World) -> None:
    wallet = await world.wallet()
    world.chain_holds(TokenBalance(ETH, 10**18), TokenBalance(USDC, 0))
    fetched = await world.fetch(wallet.id)
    assert [(b.token, b.raw) for b in fetched.snapshot.balances] == [(ETH, 10**18)]
    assert fetched.stale is False
    assert world.watcher.changes == [DEFAULT_TENANT]  # the portfolio was told
    served = await world.reads.get(DEFAULT_TENANT, wallet.id)
    assert served.snapshot.balances == fetched.snapshot.balances
    assert served.snapshot.as_of == world.clock.now()


async def test_balances_grow_stale_with_time(world: World) -> None:
    wallet = await world.wallet()
    world.chain_holds(TokenBalance(ETH, 1))
    await world.fetch(wallet.id)
    world.clock.advance(seconds=61)
    assert (await world.reads.get(DEFAULT_TENANT, wallet.id)).stale is True


async def test_a_failed_fetch_changes_nothing_and_marks_the_last_good_data_stale(
    world: World,
) -> None:
    wallet = await world.wallet()
    world.chain_holds(TokenBalance(ETH, 1))
    good = await world.fetch(wallet.id)
    changes_before = list(world.balances.changes)
    world.reader.failure = ChainUnavailableError("all endpoints down")
    world.chain_holds(TokenBalance(ETH, 2))
    with pytest.raises(ChainUnavailableError):
        await world.fetch(wallet.id)
    served = await world.reads.get(DEFAULT_TENANT, wallet.id)
    assert served.snapshot.balances == good.snapshot.balances
    assert served.stale is True
    assert served.snapshot.last_error == "all endpoints down"
    assert world.balances.changes == changes_before
    world.reader.failure = None
    assert (await world.fetch(wallet.id)).stale is False
    assert (await world.reads.get(DEFAULT_TENANT, wallet.id)).snapshot.last_error is None


async def test_a_token_that_fails_alone_is_reported_and_leaves_the_rest(world: World) -> None:
    wallet = await world.wallet()
    world.chain_holds(TokenBalance(ETH, 3), failures=[TokenFailure(USDC, "reverted")])
    fetched = await world.fetch(wallet.id)
    assert [b.raw for b in fetched.snapshot.balances] == [3]
    assert fetched.snapshot.failures == [TokenFailure(USDC, "reverted")]
    assert fetched.stale is False  # the read succeeded; the token is listed as an error
    served = await world.reads.get(DEFAULT_TENANT, wallet.id)
    assert served.snapshot.failures == [TokenFailure(USDC, "reverted")]
    assert served.stale is False


async def test_a_balance_kept_from_an_earlier_read_carries_its_own_time(world: World) -> None:
    wallet = await world.wallet()
    world.chain_holds(TokenBalance(ETH, 3), TokenBalance(USDC, 5))
    first = await world.fetch(wallet.id)
    world.clock.advance(seconds=30)
    world.chain_holds(TokenBalance(ETH, 4), failures=[TokenFailure(USDC, "reverted")])
    second = await world.fetch(wallet.id)
    snapshot = second.snapshot
    by_key = {b.token.key: b for b in snapshot.balances}
    assert by_key[USDC.key].raw == 5
    assert snapshot.balance_as_of(by_key[USDC.key]) == first.snapshot.as_of
    assert snapshot.balance_as_of(by_key[ETH.key]) == snapshot.as_of == world.clock.now()
    assert second.stale is False


async def test_twenty_concurrent_fetches_make_one_chain_read(world: World) -> None:
    wallet = await world.wallet()
    world.chain_holds(TokenBalance(ETH, 42))
    world.reader.gate = asyncio.Event()
    tasks = [asyncio.create_task(world.fetch(wallet.id)) for _ in range(20)]
    await asyncio.sleep(0)
    world.clock.advance(seconds=1)
    world.reader.gate.set()
    views = await asyncio.gather(*tasks)
    assert world.reader.reads == 1
    assert {v.snapshot.as_of for v in views} == {world.clock.now()}
    assert world.balances.records == 1


async def test_unknown_wallets_are_not_found(world: World) -> None:
    wallet = await world.wallet()
    await world.wallets.delete(wallet.id, DEFAULT_TENANT)
    with pytest.raises(WalletNotFoundError):
        await world.fetch(wallet.id)
    with pytest.raises(WalletNotFoundError):
        await world.reads.get(DEFAULT_TENANT, wallet.id)


async def test_a_chain_without_a_reader_is_unavailable(world: World) -> None:
    wallet = Wallet.create(
        Chain.SOLANA, "11111111111111111111111111111111", None, world.clock.now()
    )
    await world.wallets.add(wallet)
    with pytest.raises(ChainUnavailableError):
        await world.fetch(wallet.id)


SOLANA_KEY = "11111111111111111111111111111111"


@pytest.mark.parametrize(
    ("chain", "address", "policy"),
    [
        (Chain.SOLANA, SOLANA_KEY, FetchPolicy(discovery_max_age=timedelta(hours=1))),
        (Chain.ETHEREUM, ADDRESS, FetchPolicy(evm_discovery_max_age=timedelta(hours=1))),
    ],
)
async def test_a_refresh_reuses_recent_discoveries_and_a_fetch_always_discovers(
    chain: Chain, address: str, policy: FetchPolicy
) -> None:
    world = World()
    reader = FakeChainReader(chain)
    world.fetcher = world.fetching({chain: reader}, policy)
    wallet = Wallet.create(chain, address, None, world.clock.now())
    await world.wallets.add(wallet)
    account = TokenAccount("acc1", "mint1", "prog", 6)
    reader.readings[address] = WalletReading(
        address, [TokenBalance(Token.native(chain), 5)], [], [account]
    )

    await world.fetcher.refresh_all(DEFAULT_TENANT)  # nothing known yet: discovery
    world.clock.advance(minutes=30)
    await world.fetcher.refresh_all(DEFAULT_TENANT)  # discovered 30 minutes ago: read again
    await world.fetch(wallet.id)  # a wallet's own fetch discovers
    world.clock.advance(minutes=61)
    await world.fetcher.refresh_all(DEFAULT_TENANT)  # too old: discover again
    assert reader.known == [{}, {address: [account]}, {}, {}]


def test_wallets_discovered_together_are_discovered_again_over_several_cycles() -> None:
    now = FakeClock().now()
    wallets = [Wallet.create(Chain.ETHEREUM, f"0x{n + 1:040x}", None, now) for n in range(200)]
    hour = timedelta(hours=1)
    trusted = [trusted_for(w, hour) for w in wallets]
    assert all(hour * 3 / 4 <= t <= hour for t in trusted)
    assert len({t // timedelta(minutes=5) for t in trusted}) >= 3  # over three 5-minute cycles
    assert trusted == [trusted_for(w, hour) for w in wallets]  # the same each time


async def test_a_wallet_new_at_an_address_has_the_address_discovered() -> None:
    world = World()
    world.fetcher = world.fetching({Chain.ETHEREUM: world.reader}, FetchPolicy())
    account = TokenAccount.held(USDC)
    world.reader.readings[ADDRESS] = WalletReading(ADDRESS, [TokenBalance(ETH, 1)], [], [account])
    await world.wallet()
    await world.fetcher.refresh_all(DEFAULT_TENANT)
    await world.fetcher.refresh_all(DEFAULT_TENANT)
    other = Wallet.create(Chain.ETHEREUM, ADDRESS, None, world.clock.now(), tenant="other")
    await world.wallets.add(other)
    await world.fetcher.refresh_all(DEFAULT_TENANT)  # reads the other tenant's wallet too
    await world.fetcher.refresh_all(DEFAULT_TENANT)
    assert world.reader.known == [{}, {ADDRESS: [account]}, {}, {ADDRESS: [account]}]


async def test_a_refresh_records_big_sets_in_slices(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("portfolio.services.fetching.RECORD_SLICE", 2)
    wallets = []
    for n in range(5):
        wallet = Wallet.create(Chain.ETHEREUM, f"0x{n + 1:040x}", None, world.clock.now())
        await world.wallets.add(wallet)
        wallets.append(wallet)
    calls = []
    record_many = world.balances.record_many

    async def counted(*args: object) -> object:
        calls.append(args)
        return await record_many(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(world.balances, "record_many", counted)
    outcomes = await world.fetcher.refresh_all(DEFAULT_TENANT)
    assert [o.snapshot is not None for o in outcomes] == [True] * 5
    assert len(calls) == 3
