"""History written the way a read writes it (balance changes, price points), for tests that
need a past: through the same functions, in one transaction per call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.ledger import forget_history_after, write_changes, write_prices
from portfolio.adapters.db.models import BalanceChangeRow, WalletRow
from portfolio.domain.amounts import Amount as TokenAmount
from portfolio.domain.amounts import amount_change
from portfolio.domain.chains import Chain
from portfolio.domain.history import PriceSeen


@dataclass(frozen=True, slots=True)
class Amount:
    """A (wallet, token) amount recorded at a moment."""

    wallet: UUID
    token: str
    at: datetime
    raw: int
    decimals: int = 0
    symbol: str | None = None


async def record_amounts(engine: AsyncEngine, amounts: Sequence[Amount]) -> None:
    """Each amount as a change where it differs from the (wallet, token)'s last one, in the
    order given (which must be time order per (wallet, token))."""
    async with session_factory(engine).begin() as session:
        last: dict[tuple[UUID, str], tuple[int, int]] = {}
        for row in await session.execute(
            select(
                BalanceChangeRow.wallet_id,
                BalanceChangeRow.token_key,
                BalanceChangeRow.raw_balance,
                BalanceChangeRow.decimals,
            ).order_by(BalanceChangeRow.changed_at, BalanceChangeRow.id)
        ):
            last[(row[0], row[1])] = (row[2], row[3])
        tenants = {
            wallet: tenant
            for wallet, tenant in await session.execute(select(WalletRow.id, WalletRow.tenant))
        }
        rows = []
        times = []
        for amount in amounts:
            key = (amount.wallet, amount.token)
            before = last.get(key, (0, 0))
            if before == (amount.raw, amount.decimals) or (key not in last and not amount.raw):
                continue
            delta = amount_change(TokenAmount(amount.raw, amount.decimals), TokenAmount(*before))
            last[key] = (amount.raw, amount.decimals)
            times.append(amount.at)
            rows.append(
                {"wallet_id": amount.wallet, "token_key": amount.token, "symbol": amount.symbol,
                 "decimals": amount.decimals, "raw_balance": amount.raw, "delta": delta,
                 "changed_at": amount.at}
            )  # fmt: skip
        await write_changes(session, rows, engine.dialect.name)
        if times:
            await forget_history_after(session, min(times), {tenants[a.wallet] for a in amounts})


async def record_prices(engine: AsyncEngine, prices: Sequence[PriceSeen]) -> None:
    async with session_factory(engine).begin() as session:
        await write_prices(session, prices, engine.dialect.name)


def price(chain: Chain | str, token: str, at: datetime, usd: str | Decimal) -> PriceSeen:
    return PriceSeen(Chain(chain), token, at, Decimal(usd))
