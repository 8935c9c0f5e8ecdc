"""What the schema guarantees, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db.balances import SqlBalanceRepository
from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.models import BalanceChangeRow, PricePointRow, WalletRow
from portfolio.adapters.db.wallets import SqlWalletRepository
from portfolio.domain.amounts import UINT256_MAX
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import NATIVE_KEY as NATIVE_TOKEN_KEY
from portfolio.domain.tokens import Token, TokenBalance, WalletReading
from portfolio.domain.wallet import DEFAULT_TENANT, Wallet

NOW = datetime(2026, 5, 1, 8, 30, tzinfo=UTC)


async def stored_wallet(engine: AsyncEngine) -> Wallet:
    wallet = Wallet.create(Chain.ETHEREUM, f"0x{7:040x}", None, NOW)
    await SqlWalletRepository(session_factory(engine)).add(wallet)
    return wallet


async def record(engine: AsyncEngine, wallet: Wallet, raw: int) -> None:
    """The wallet read with ``raw`` of the native coin, through the repository."""
    reading = WalletReading(wallet.address, [TokenBalance(Token.native(Chain.ETHEREUM), raw)], [])
    await SqlBalanceRepository(session_factory(engine), engine.dialect.name).record(
        wallet.id, reading, NOW
    )


def change(wallet: Wallet, raw: int, decimals: int = 18) -> BalanceChangeRow:
    return BalanceChangeRow(
        wallet_id=wallet.id,
        token_key=NATIVE_TOKEN_KEY,
        symbol="ETH",
        decimals=decimals,
        raw_balance=raw,
        delta=-Decimal(raw).scaleb(-decimals),
        changed_at=NOW,
    )


@pytest.mark.parametrize("raw", [0, 1, 2**63, 10**30 + 7, UINT256_MAX])
async def test_raw_balances_up_to_uint256_are_stored_exactly(
    db_engine: AsyncEngine, raw: int
) -> None:
    wallet = await stored_wallet(db_engine)
    price = PricePointRow(chain="ethereum", token_key=NATIVE_TOKEN_KEY, step_seconds=300,
                          bucket=NOW, usd_price=Decimal("3456.789012345678901234"),
                          priced_at=NOW)  # fmt: skip
    async with session_factory(db_engine).begin() as session:
        session.add_all([change(wallet, raw, 255), price])
    await record(db_engine, wallet, raw)
    current = await SqlBalanceRepository(session_factory(db_engine), "").get(wallet.id)
    async with session_factory(db_engine)() as session:
        past = (
            await session.scalars(select(BalanceChangeRow).order_by(BalanceChangeRow.id))
        ).first()
        priced = (await session.scalars(select(PricePointRow))).one()
    assert past is not None
    assert current is not None
    assert past.raw_balance == raw
    assert [b.raw for b in current.balances] == ([raw] if raw else [])
    assert past.delta == -Decimal(raw).scaleb(-255)  # a change of any scale, exact
    assert priced.usd_price == Decimal("3456.789012345678901234")


async def test_the_native_coin_is_held_once_by_a_wallet(db_engine: AsyncEngine) -> None:
    wallet = await stored_wallet(db_engine)
    await record(db_engine, wallet, 1)
    await record(db_engine, wallet, 2)
    current = await SqlBalanceRepository(session_factory(db_engine), "").get(wallet.id)
    assert current is not None
    assert [(b.token.key, b.raw) for b in current.balances] == [(NATIVE_TOKEN_KEY, 2)]


async def test_deleting_a_wallet_deletes_its_balances_and_history(
    db_engine: AsyncEngine,
) -> None:
    wallet = await stored_wallet(db_engine)
    await record(db_engine, wallet, 5)
    async with session_factory(db_engine).begin() as session:
        session.add_all([change(wallet, 4), change(wallet, 5)])
    assert await SqlWalletRepository(session_factory(db_engine)).delete(wallet.id, DEFAULT_TENANT)
    async with session_factory(db_engine)() as session:
        for table in (WalletRow, BalanceChangeRow):
            count = await session.scalar(select(func.count()).select_from(table))
            assert count == 0, table.__tablename__
