"""The event outbox on both databases: a record that changed balances writes its event in the
same transaction, and only then."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db import balances as balances_module
from portfolio.adapters.db.balances import SqlBalanceRepository
from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.events import SqlEventLog, SqlTenantTotals
from portfolio.adapters.db.wallets import SqlWalletRepository
from portfolio.domain.chains import Chain
from portfolio.domain.errors import StorageUnavailableError
from portfolio.domain.events import Event, EventType
from portfolio.domain.prices import Price, price_key
from portfolio.domain.tokens import Token, TokenBalance, TokenFailure, WalletReading
from portfolio.domain.wallet import Wallet
from portfolio.services.events import EventService
from portfolio.services.portfolio import PortfolioService
from tests.fakes import FakeClock

T0 = datetime(2026, 6, 1, tzinfo=UTC)
ETH = Token.native(Chain.ETHEREUM)
USDC = Token(
    Chain.ETHEREUM, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "USDC", "USD Coin", 6, True
)
ADDRESS = "0x" + "12" * 20


def reading(*balances: TokenBalance, failures: tuple[TokenFailure, ...] = ()) -> WalletReading:
    return WalletReading(ADDRESS, list(balances), list(failures))


async def setup(engine: AsyncEngine, tenant: str = "acme") -> tuple[Wallet, SqlBalanceRepository]:
    sessions = session_factory(engine)
    wallet = Wallet.create(Chain.ETHEREUM, ADDRESS, "savings", T0, tenant)
    await SqlWalletRepository(sessions).add(wallet)
    return wallet, SqlBalanceRepository(sessions, engine.dialect.name)


async def events_of(engine: AsyncEngine, tenant: str = "acme") -> list[Event]:
    return [event for _, event in await SqlEventLog(session_factory(engine)).after(tenant, 0, 99)]


async def test_a_record_that_changed_balances_writes_one_event_with_before_and_after(
    db_engine: AsyncEngine,
) -> None:
    wallet, balances = await setup(db_engine)
    await balances.record(wallet.id, reading(TokenBalance(ETH, 10**18)), T0)
    await balances.record(wallet.id, reading(TokenBalance(ETH, 10**18)), T0 + timedelta(minutes=5))
    await balances.record(
        wallet.id,
        reading(TokenBalance(ETH, 15 * 10**17), TokenBalance(USDC, 2**200)),
        T0 + timedelta(minutes=10),
    )
    await balances.record(wallet.id, reading(TokenBalance(USDC, 2**200)), T0 + timedelta(hours=1))
    first, second, third = await events_of(db_engine)  # the unchanged read told nothing
    assert {e.type for e in (first, second, third)} == {EventType.BALANCES_CHANGED}
    assert len({e.id for e in (first, second, third)}) == 3
    assert (first.tenant, first.at, third.at) == ("acme", T0, T0 + timedelta(hours=1))
    assert first.data["wallet_id"] == str(wallet.id)
    assert (first.data["chain"], first.data["address"], first.data["label"]) == (
        "ethereum",
        ADDRESS,
        "savings",
    )
    assert first.data["tokens"] == [
        {"token": {"chain": "ethereum", "address": None, "symbol": "ETH", "name": "Ether",
                   "decimals": 18},
         "before": {"raw": "0", "amount": "0"},
         "after": {"raw": str(10**18), "amount": "1"}},
    ]  # fmt: skip
    changed = {t["token"]["symbol"]: (t["before"], t["after"]) for t in second.data["tokens"]}
    assert changed == {
        "ETH": ({"raw": str(10**18), "amount": "1"}, {"raw": str(15 * 10**17), "amount": "1.5"}),
        "USDC": ({"raw": "0", "amount": "0"},
                 {"raw": str(2**200), "amount": str(2**200)[:-6] + "." + str(2**200)[-6:]}),
    }  # fmt: skip
    gone = third.data["tokens"]
    assert [(t["token"]["symbol"], t["after"]["raw"]) for t in gone] == [("ETH", "0")]


async def test_a_token_that_failed_to_read_is_no_change(db_engine: AsyncEngine) -> None:
    wallet, balances = await setup(db_engine)
    await balances.record(wallet.id, reading(TokenBalance(USDC, 5)), T0)
    failed = reading(failures=(TokenFailure(USDC, "reverted"),))
    await balances.record(wallet.id, failed, T0 + timedelta(minutes=5))
    assert len(await events_of(db_engine)) == 1


async def test_no_event_for_a_record_rolled_back(
    db_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the event was written in the record's transaction takes both the change
    and its event back."""
    wallet, balances = await setup(db_engine)

    async def broken(*_: object) -> None:
        raise ConnectionError("the database went away mid-transaction")

    monkeypatch.setattr(balances_module, "_replace_accounts", broken)
    with pytest.raises((ConnectionError, StorageUnavailableError)):
        await balances.record(wallet.id, reading(TokenBalance(ETH, 7)), T0)
    monkeypatch.undo()
    assert await events_of(db_engine) == []
    snapshot = await balances.get(wallet.id)
    assert snapshot is not None
    assert snapshot.balances == []
    await balances.record(wallet.id, reading(TokenBalance(ETH, 7)), T0)
    assert len(await events_of(db_engine)) == 1


async def test_a_tenant_reads_its_own_events_in_order_and_old_ones_are_pruned(
    db_engine: AsyncEngine,
) -> None:
    ours, balances = await setup(db_engine, "acme")
    theirs, _ = await setup(db_engine, "other")
    for minute in range(3):
        at = T0 + timedelta(minutes=5 * minute)
        await balances.record(ours.id, reading(TokenBalance(ETH, minute + 1)), at)
        await balances.record(theirs.id, reading(TokenBalance(ETH, minute + 1)), at)
    log = SqlEventLog(session_factory(db_engine))
    page = await log.after("acme", 0, 2)
    assert [e.data["wallet_id"] for _, e in page] == [str(ours.id)] * 2
    rest = await log.after("acme", page[-1][0], 10)
    assert [e.at for _, e in page + rest] == [T0 + timedelta(minutes=m) for m in (0, 5, 10)]
    assert await log.prune(T0 + timedelta(minutes=6), batch=1) == 1
    assert await log.prune(T0 + timedelta(minutes=6), batch=10) == 3
    assert await log.prune(T0 + timedelta(minutes=6), batch=10) == 0
    assert [e.at for _, e in await log.after("acme", 0, 10)] == [T0 + timedelta(minutes=10)]


async def test_consecutive_failed_reads_tell_once_and_a_good_read_starts_again(
    db_engine: AsyncEngine,
) -> None:
    sessions = session_factory(db_engine)
    wallet = Wallet.create(Chain.ETHEREUM, ADDRESS, "savings", T0, "acme")
    await SqlWalletRepository(sessions).add(wallet)
    balances = SqlBalanceRepository(sessions, db_engine.dialect.name, failure_events=2)
    node = "https://node.example/v2/key-123456"  # a node's words, its key in them
    for minute in range(3):
        at = T0 + timedelta(minutes=minute)
        await balances.record_failure([wallet.id], f"{node}: timed out after 10 s", at)
    (told,) = await events_of(db_engine)
    assert told.type is EventType.WALLET_READ_FAILED
    assert told.at == T0 + timedelta(minutes=1)  # at the second failure, once
    assert told.data == {"wallet_id": str(wallet.id), "chain": "ethereum", "address": ADDRESS,
                         "label": "savings", "failures": 2, "reason": "timeout"}  # fmt: skip
    await balances.record(wallet.id, reading(TokenBalance(ETH, 1)), T0 + timedelta(minutes=5))
    await balances.record_failure(
        [wallet.id], "HTTP 429 Too Many Requests", T0 + timedelta(hours=1)
    )
    assert len(await events_of(db_engine)) == 2  # the good read's change; no failure told yet
    await balances.record_failure(
        [wallet.id], "HTTP 429 Too Many Requests", T0 + timedelta(hours=2)
    )
    *_, again = await events_of(db_engine)
    assert (again.type, again.data["reason"]) == (EventType.WALLET_READ_FAILED, "rate_limited")


class Prices:
    def __init__(self, usd: Decimal) -> None:
        self.usd = usd

    async def prices(
        self, tokens: Sequence[Token], *, found: Collection[str] = frozenset()
    ) -> dict[str, Price]:
        return {price_key(t): Price(self.usd, None, T0, "test") for t in tokens}


async def test_the_total_is_told_when_it_moved_once_per_upkeep(db_engine: AsyncEngine) -> None:
    wallet, balances = await setup(db_engine)
    await setup(db_engine, "other")  # holds nothing: its total never moves
    clock = FakeClock(T0)
    prices = Prices(Decimal("2000"))
    sessions = session_factory(db_engine)
    events = EventService(
        SqlEventLog(sessions), clock, retention=timedelta(hours=72),
        totals=SqlTenantTotals(sessions),
        portfolio=PortfolioService(balances, prices, clock, include_unverified=True),
    )  # fmt: skip
    await balances.record(wallet.id, reading(TokenBalance(ETH, 15 * 10**17)), T0)
    assert await events.tell_totals() == 1
    assert await events.tell_totals() == 0  # nothing moved
    prices.usd = Decimal("2000.001")  # moves less than a cent
    assert await events.tell_totals() == 0
    prices.usd = Decimal("1000")
    clock.advance(minutes=5)
    await events.upkeep()
    told = [e for e in await events_of(db_engine) if e.type is EventType.PORTFOLIO_CHANGED]
    assert [e.data for e in told] == [
        {"total_usd": {"before": "0.00", "after": "3000.00"}, "change_usd": "3000.00",
         "wallet_count": 1},
        {"total_usd": {"before": "3000.00", "after": "1500.00"}, "change_usd": "-1500.00",
         "wallet_count": 1},
    ]  # fmt: skip
    assert await events_of(db_engine, "other") == []
    clock.advance(hours=80)  # past the retention: the upkeep drops them
    await events.upkeep()
    assert await events_of(db_engine) == []
