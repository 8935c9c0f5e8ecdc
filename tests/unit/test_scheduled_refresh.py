"""Planning refresh cycles and running their jobs, against fakes of the ports."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from portfolio.adapters.cache.memory import MemoryCache
from portfolio.domain.chains import Chain
from portfolio.domain.errors import ChainTimeoutError, ChainUnavailableError
from portfolio.domain.jobs import RefreshJob, plan_jobs
from portfolio.domain.wallet import Wallet
from portfolio.services.balance_cache import BalanceCache
from portfolio.services.fetching import FetchPolicy, FetchService, Stores
from portfolio.services.prices import NoPricing
from portfolio.services.scheduling import ScheduledRefresh, SchedulePolicy
from tests.fakes import (
    FakeBalanceRepository,
    FakeChainReader,
    FakeClock,
    FakeWalletRepository,
    FakeWatcher,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _wallet(chain: Chain, address: str, tenant: str) -> Wallet:
    return Wallet(uuid4(), chain, address, None, NOW, NOW, tenant)


wallets_strategy = st.lists(
    st.builds(
        _wallet,
        st.sampled_from([Chain.ETHEREUM, Chain.SOLANA, Chain("base")]),
        st.sampled_from([f"0x{n:040x}" for n in range(30)]),
        st.sampled_from(["alpha", "beta", "gamma"]),
    ),
    max_size=80,
)


@given(wallets_strategy, st.integers(min_value=1, max_value=12))
def test_a_plan_covers_every_address_once_in_bounded_single_chain_jobs(
    wallets: list[Wallet], size: int
) -> None:
    jobs = plan_jobs(wallets, size)
    planned = [i for job in jobs for i in job.wallet_ids]
    assert len(planned) == len(set(planned))
    by_id = {w.id: w for w in wallets}
    assert all(0 < len(job.wallet_ids) <= size for job in jobs)
    assert all(by_id[i].chain is job.chain for job in jobs for i in job.wallet_ids)
    covered = {(by_id[i].chain, by_id[i].address) for i in planned}
    assert covered == {(w.chain, w.address) for w in wallets}  # twins are read with these


class World:
    def __init__(self) -> None:
        self.wallets = FakeWalletRepository()
        self.reader = FakeChainReader(Chain.ETHEREUM)
        self.cache = MemoryCache()
        self.balances = FakeBalanceRepository(self.wallets)
        stores = Stores(self.wallets, self.balances, BalanceCache(self.cache, timedelta(minutes=1)))
        self.fetching = fetching = FetchService(
            stores, {Chain.ETHEREUM: self.reader}, NoPricing(), FakeWatcher(), FakeClock()
        )
        policy = SchedulePolicy(job_wallets=2, attempts=3, backoff_seconds=0.01, hold_seconds=5)
        self.scheduled = ScheduledRefresh(self.wallets, fetching, policy)

    async def add(self, count: int, tenant: str = "alpha") -> list[Wallet]:
        added = [_wallet(Chain.ETHEREUM, f"0x{n:040x}", tenant) for n in range(count)]
        for wallet in added:
            await self.wallets.add(wallet)
        return added


async def test_a_cycle_reads_every_tenants_wallets_in_jobs_of_the_configured_size() -> None:
    world = World()
    await world.add(3, "alpha")
    twins = await world.add(2, "beta")  # two of alpha's addresses: read with them
    jobs = await world.scheduled.plan()
    assert [len(job.wallet_ids) for job in jobs] == [2, 1]
    reports = await world.scheduled.run_cycle()
    assert sum(r.refreshed for r in reports) == 3  # the planned wallets
    assert world.reader.reads == 2
    assert all(w.id in world.balances.fetched_at for w in twins)


async def test_a_job_whose_chain_cannot_be_read_is_tried_again_then_reported_failed() -> None:
    world = World()
    wallets = await world.add(2)
    job = RefreshJob(Chain.ETHEREUM, tuple(w.id for w in wallets))
    world.reader.failure = ChainUnavailableError("node away")
    report = await world.scheduled.run(job)
    assert (report.refreshed, report.failed, world.reader.reads) == (0, 2, 3)

    world.reader.reads = 0
    flaky = asyncio.get_running_loop().call_later(0.005, setattr, world.reader, "failure", None)
    report = await world.scheduled.run(job)  # fails once, then the retry reads it
    flaky.cancel()
    assert (report.refreshed, report.failed) == (2, 0)
    assert world.reader.reads >= 2


async def test_a_wallet_another_worker_is_reading_is_skipped_not_read_twice() -> None:
    world = World()
    first, second = await world.add(2)
    async with world.cache.lock(f"fetch:{first.id}", ttl_seconds=5, wait_seconds=1):
        report = await world.scheduled.run(RefreshJob(Chain.ETHEREUM, (first.id, second.id)))
    assert (report.refreshed, report.skipped) == (1, 1)


async def test_a_deleted_wallet_drops_out_of_its_job() -> None:
    world = World()
    kept, deleted = await world.add(2)
    await world.wallets.delete(deleted.id, deleted.tenant)
    report = await world.scheduled.run(RefreshJob(Chain.ETHEREUM, (kept.id, deleted.id)))
    assert (report.refreshed, report.failed, report.skipped) == (1, 0, 0)


def _chunked_world(chunk: int) -> World:
    world = World()
    world.fetching = FetchService(
        Stores(world.wallets, world.balances, BalanceCache(world.cache, timedelta(minutes=1))),
        {Chain.ETHEREUM: world.reader},
        NoPricing(),
        FakeWatcher(),
        FakeClock(),
        FetchPolicy(chunk_wallets=chunk),
    )
    return world


async def test_a_chunk_that_times_out_is_read_again_in_halves() -> None:
    world = _chunked_world(8)
    wallets = await world.add(8)
    world.reader.refuse = lambda addresses: (
        ChainTimeoutError("no answer within 10s") if len(addresses) > 2 else None
    )
    outcomes = await world.fetching.refresh_all("alpha")
    assert {o.wallet.id for o in outcomes if o.error is None} == {w.id for w in wallets}
    assert world.reader.sizes == [8, 4, 2, 2, 4, 2, 2]
    assert world.balances.errors == {}  # the timeouts that were split are not failures


async def test_each_chunk_succeeds_or_fails_alone_and_the_smallest_timeout_is_a_failure() -> None:
    world = _chunked_world(16)  # halves down to 1 wallet
    wallets = await world.add(40)
    stuck = wallets[3].address  # a node that never finishes a read with this wallet in it
    world.reader.refuse = lambda addresses: (
        ChainTimeoutError("no answer within 10s") if stuck in addresses else None
    )
    outcomes = await world.fetching.refresh_all("alpha")
    failed = [o for o in outcomes if o.error is not None]
    assert [o.wallet.id for o in failed] == [wallets[3].id]
    assert failed[0].chain_failed
    assert len(outcomes) == 40
    assert set(world.balances.errors) == {wallets[3].id}  # remembered, on its row only
    assert max(world.reader.sizes) == 16
