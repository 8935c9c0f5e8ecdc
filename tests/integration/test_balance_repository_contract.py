"""One contract for every BalanceRepository: the fake, SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db.balances import SqlBalanceRepository
from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.models import BalanceChangeRow
from portfolio.adapters.db.wallets import SqlWalletRepository
from portfolio.domain.amounts import UINT256_MAX
from portfolio.domain.chains import Chain
from portfolio.domain.errors import WalletNotFoundError
from portfolio.domain.tokens import (
    Token,
    TokenAccount,
    TokenBalance,
    TokenFailure,
    WalletReading,
)
from portfolio.domain.wallet import DEFAULT_TENANT, Wallet
from portfolio.ports.repositories import BalanceRepository, WalletRepository
from tests.fakes import FakeBalanceRepository, FakeWalletRepository

T0 = datetime(2026, 6, 1, tzinfo=UTC)
ETH = Token.native(Chain.ETHEREUM)
USDC = Token(
    Chain.ETHEREUM, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "USDC", "USD Coin", 6, True
)
BIG = Token(Chain.ETHEREUM, "0x" + "ab" * 20, None, None, 24, False)


@dataclass
class Stores:
    wallets: WalletRepository
    balances: BalanceRepository
    engine: AsyncEngine | None


@pytest.fixture(params=["fake", "sqlite", "postgres"])
def stores(request: pytest.FixtureRequest) -> Stores:
    if request.param == "fake":
        wallets = FakeWalletRepository()
        return Stores(wallets, FakeBalanceRepository(wallets), None)
    engine: AsyncEngine = request.getfixturevalue(f"{request.param}_engine")
    sessions = session_factory(engine)
    return Stores(
        SqlWalletRepository(sessions), SqlBalanceRepository(sessions, engine.dialect.name), engine
    )


async def new_wallet(stores: Stores) -> Wallet:
    wallet = Wallet.create(Chain.ETHEREUM, "0x" + "12" * 20, None, T0)
    await stores.wallets.add(wallet)
    return wallet


def reading(*balances: TokenBalance, failures: tuple[TokenFailure, ...] = ()) -> WalletReading:
    return WalletReading("0x" + "12" * 20, list(balances), list(failures))


def by_key(balances: list[TokenBalance]) -> dict[str, int]:
    return {b.token.key: b.raw for b in balances}


async def test_a_wallet_never_read_has_no_balances_and_no_time(stores: Stores) -> None:
    wallet = await new_wallet(stores)
    snapshot = await stores.balances.get(wallet.id)
    assert snapshot is not None
    assert (snapshot.balances, snapshot.as_of) == ([], None)
    assert await stores.balances.get(uuid4()) is None


async def test_a_read_is_stored_without_its_zero_balances(stores: Stores) -> None:
    wallet = await new_wallet(stores)
    read = reading(TokenBalance(ETH, 1), TokenBalance(USDC, 0), TokenBalance(BIG, UINT256_MAX))
    recorded = await stores.balances.record(wallet.id, read, T0)
    stored = await stores.balances.get(wallet.id)
    assert stored is not None
    assert (
        by_key(recorded.balances) == by_key(stored.balances) == {"native": 1, BIG.key: UINT256_MAX}
    )
    assert stored.as_of == T0
    assert {b.token for b in stored.balances} == {ETH, BIG}


async def test_a_token_that_is_gone_is_removed_and_a_failed_token_kept(stores: Stores) -> None:
    wallet = await new_wallet(stores)
    first = reading(TokenBalance(ETH, 5), TokenBalance(USDC, 7), TokenBalance(BIG, 9))
    await stores.balances.record(wallet.id, first, T0)
    later = T0 + timedelta(minutes=5)
    second = reading(TokenBalance(ETH, 6), failures=(TokenFailure(BIG, "reverted"),))
    recorded = await stores.balances.record(wallet.id, second, later)
    assert recorded.failures == [TokenFailure(BIG, "reverted")]
    stored = await stores.balances.get(wallet.id)
    assert stored is not None
    assert by_key(stored.balances) == {"native": 6, BIG.key: 9}
    assert stored.as_of == later
    # What failed, and when the kept balance was read, are stored, not only returned.
    assert stored.failures == [TokenFailure(BIG, "reverted")]
    assert stored.kept_as_of == {BIG.key: T0}
    assert recorded.kept_as_of == {BIG.key: T0}
    assert not stored.is_stale(later, timedelta(minutes=1))


async def test_a_failed_read_is_remembered_on_the_wallet_until_a_good_one(
    stores: Stores,
) -> None:
    wallet = await new_wallet(stores)
    await stores.balances.record(wallet.id, reading(TokenBalance(ETH, 5)), T0)
    await stores.balances.record_failure([wallet.id], "no node answered", T0)
    stored = await stores.balances.get(wallet.id)
    assert stored is not None
    assert stored.last_error == "no node answered"
    assert by_key(stored.balances) == {"native": 5}
    (_, everything), *_ = await stores.balances.everything(DEFAULT_TENANT)
    assert everything.last_error == "no node answered"
    later = T0 + timedelta(minutes=1)
    await stores.balances.record(wallet.id, reading(TokenBalance(ETH, 6)), later)
    again = await stores.balances.get(wallet.id)
    assert again is not None
    assert again.last_error is None
    assert again.failures == []


async def test_recording_for_a_deleted_wallet_is_not_found(stores: Stores) -> None:
    wallet = await new_wallet(stores)
    await stores.wallets.delete(wallet.id, DEFAULT_TENANT)
    with pytest.raises(WalletNotFoundError):
        await stores.balances.record(wallet.id, reading(TokenBalance(ETH, 1)), T0)


async def test_a_change_is_written_only_when_an_amount_differs(stores: Stores) -> None:
    wallet = await new_wallet(stores)
    first = reading(TokenBalance(ETH, 5 * 10**17), TokenBalance(USDC, 7))
    await stores.balances.record(wallet.id, first, T0)
    same = T0 + timedelta(minutes=5)
    await stores.balances.record(wallet.id, first, same)  # nothing changed: no change
    later = T0 + timedelta(minutes=10)
    failed = (TokenFailure(BIG, "reverted"),)
    second = reading(TokenBalance(ETH, 6), failures=failed)
    await stores.balances.record(wallet.id, second, later)
    expected = [
        ("native", 5 * 10**17, T0),
        (USDC.key, 7, T0),
        ("native", 6, later),
        (USDC.key, 0, later),  # gone: a change to 0
    ]
    assert sorted(await changes(stores, wallet), key=str) == sorted(expected, key=str)
    stored = await stores.balances.get(wallet.id)
    assert stored is not None
    assert stored.as_of == later  # the read is kept on the wallet, once


async def changes(stores: Stores, wallet: Wallet) -> list[tuple[str, int, datetime]]:
    if stores.engine is None:
        fake = stores.balances
        assert isinstance(fake, FakeBalanceRepository)
        return [(key, raw, at) for wid, key, raw, at in fake.changes if wid == wallet.id]
    async with session_factory(stores.engine)() as session:
        rows = await session.scalars(
            select(BalanceChangeRow).where(BalanceChangeRow.wallet_id == wallet.id)
        )
        found = [(r.token_key, r.raw_balance, r.changed_at, r.delta, r.decimals) for r in rows]
    by_token: dict[str, Decimal] = {}
    for key, raw, _, delta, decimals in found:  # the deltas add up to each amount
        by_token[key] = by_token.get(key, Decimal(0)) + delta
        assert by_token[key] == Decimal(raw).scaleb(-decimals)
    return [(key, raw, at) for key, raw, at, _, _ in found]


async def test_many_wallets_are_recorded_at_once_and_a_deleted_one_is_left_out(
    stores: Stores,
) -> None:
    wallets = [Wallet.create(Chain.ETHEREUM, f"0x{n:040x}", None, T0) for n in range(1, 4)]
    for wallet in wallets:
        await stores.wallets.add(wallet)
    await stores.balances.record(wallets[0].id, reading(TokenBalance(USDC, 9)), T0)
    await stores.wallets.delete(wallets[2].id, DEFAULT_TENANT)
    later = T0 + timedelta(hours=1)
    recorded = await stores.balances.record_many(
        {
            wallets[0].id: reading(TokenBalance(ETH, 1)),
            wallets[1].id: reading(TokenBalance(ETH, 2), TokenBalance(BIG, 3)),
            wallets[2].id: reading(TokenBalance(ETH, 4)),
        },
        later,
    )
    assert set(recorded) == {wallets[0].id, wallets[1].id}
    for wallet, expected in ((wallets[0], {"native": 1}), (wallets[1], {"native": 2, BIG.key: 3})):
        stored = await stores.balances.get(wallet.id)
        assert stored is not None
        assert by_key(stored.balances) == by_key(recorded[wallet.id].balances) == expected
        assert stored.as_of == later


async def test_discovered_token_accounts_replace_the_known_ones(stores: Stores) -> None:
    wallet = await new_wallet(stores)
    assert await stores.balances.known_accounts([wallet.id]) == {}
    first = [TokenAccount("a1", "m1", "p", 6), TokenAccount("a2", "m1", "p", 6)]
    await stores.balances.record(wallet.id, replace(reading(), accounts=first), T0)
    assert await stores.balances.known_accounts([wallet.id]) == {wallet.id: (T0, first)}
    later = T0 + timedelta(minutes=1)
    await stores.balances.record(wallet.id, reading(TokenBalance(ETH, 1)), later)  # no discovery
    second = [TokenAccount("a3", "m2", "p", 9)]
    latest = T0 + timedelta(minutes=2)
    await stores.balances.record(wallet.id, replace(reading(), accounts=second), latest)
    assert await stores.balances.known_accounts([wallet.id]) == {wallet.id: (latest, second)}
