"""One contract for every WalletRepository: the fake, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.wallets import SqlWalletRepository
from portfolio.domain.chains import Chain
from portfolio.domain.errors import DuplicateWalletError
from portfolio.domain.wallet import DEFAULT_TENANT, Wallet
from portfolio.ports.repositories import WalletRepository
from tests.fakes import FakeWalletRepository

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def evm(n: int) -> str:
    return f"0x{n:040x}"


@pytest.fixture(params=["fake", "sqlite", "postgres"])
def repository(request: pytest.FixtureRequest) -> WalletRepository:
    if request.param == "fake":
        return FakeWalletRepository()
    engine: AsyncEngine = request.getfixturevalue(f"{request.param}_engine")
    return SqlWalletRepository(session_factory(engine))


def make(n: int, at: datetime = T0, chain: Chain = Chain.ETHEREUM) -> Wallet:
    address = evm(n) if chain == Chain.ETHEREUM else "11111111111111111111111111111111"
    return Wallet.create(chain, address, f"wallet {n}", at)


async def test_a_stored_wallet_comes_back_equal(repository: WalletRepository) -> None:
    wallet = make(1)
    await repository.add(wallet)
    assert await repository.get(wallet.id, DEFAULT_TENANT) == wallet


async def test_a_second_wallet_with_the_same_address_names_the_first(
    repository: WalletRepository,
) -> None:
    first = make(1)
    await repository.add(first)
    with pytest.raises(DuplicateWalletError) as raised:
        await repository.add(make(1, T0 + timedelta(seconds=1)))
    assert raised.value.existing_id == first.id
    page = await repository.list(tenant=DEFAULT_TENANT, chain=None, limit=10, after=None)
    assert [w.id for w in page.items] == [first.id]


async def test_pages_cover_every_wallet_once_in_creation_order(
    repository: WalletRepository,
) -> None:
    # Several wallets share a creation time: the id breaks the tie.
    wallets = [make(n, T0 + timedelta(seconds=n // 4)) for n in range(1, 31)]
    for wallet in reversed(wallets):
        await repository.add(wallet)
    seen: list[Wallet] = []
    cursor = None
    for _ in range(10):
        page = await repository.list(tenant=DEFAULT_TENANT, chain=None, limit=7, after=cursor)
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(wallets, key=lambda w: (w.created_at, w.id))


async def test_a_full_last_page_has_no_next_cursor(repository: WalletRepository) -> None:
    for n in range(1, 5):
        await repository.add(make(n))
    page = await repository.list(tenant=DEFAULT_TENANT, chain=None, limit=4, after=None)
    assert len(page.items) == 4
    assert page.next_cursor is None


async def test_the_chain_filter_keeps_one_chain(repository: WalletRepository) -> None:
    await repository.add(make(1))
    solana = make(2, chain=Chain.SOLANA)
    await repository.add(solana)
    page = await repository.list(tenant=DEFAULT_TENANT, chain=Chain.SOLANA, limit=10, after=None)
    assert page.items == [solana]


async def test_delete_removes_once(repository: WalletRepository) -> None:
    wallet = make(1)
    await repository.add(wallet)
    assert await repository.delete(wallet.id, DEFAULT_TENANT) is True
    assert await repository.get(wallet.id, DEFAULT_TENANT) is None
    assert await repository.delete(wallet.id, DEFAULT_TENANT) is False


async def test_the_oldest_read_of_wallets_never_read_is_the_earliest_creation(
    repository: WalletRepository,
) -> None:
    assert await repository.oldest_read() is None
    for n, minutes in [(1, 5), (2, 1), (3, 9)]:
        await repository.add(make(n, T0 + timedelta(minutes=minutes)))
    assert await repository.oldest_read() == T0 + timedelta(minutes=1)


async def test_get_many_finds_wallets_of_every_tenant_and_skips_unknown_ids(
    repository: WalletRepository,
) -> None:
    mine = make(1)
    theirs = Wallet.create(Chain.ETHEREUM, evm(2), None, T0, "another")
    for wallet in (mine, theirs):
        await repository.add(wallet)
    found = await repository.get_many([mine.id, theirs.id, make(3).id])
    assert sorted(w.id for w in found) == sorted([mine.id, theirs.id])
    assert await repository.get_many([]) == []
