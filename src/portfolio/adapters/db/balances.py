"""Current balances and their history in SQL: every successful read is one transaction."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.errors import rejected_records, storage_errors
from portfolio.adapters.db.marks import write_history
from portfolio.adapters.db.models import (
    BalanceRow,
    TokenAccountRow,
    WalletRow,
)
from portfolio.adapters.db.wallets import to_wallet
from portfolio.domain.balances import WalletBalances
from portfolio.domain.chains import Chain
from portfolio.domain.errors import WalletNotFoundError
from portfolio.domain.prices import Price, price_key, valued
from portfolio.domain.tokens import (
    Token,
    TokenAccount,
    TokenBalance,
    TokenFailure,
    WalletReading,
    token_fields,
    token_of,
)
from portfolio.domain.wallet import Wallet

ERROR_LENGTH = 1000  # the wallets.last_error column


class SqlBalanceRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._dialect = dialect

    async def get(self, wallet_id: UUID) -> WalletBalances | None:
        async with storage_errors(), self._sessions() as session:
            wallet = await session.get(WalletRow, wallet_id)
            if wallet is None:
                return None
            rows = await _current_rows(session, wallet_id)
            return _snapshot(wallet, rows)

    async def everything(self, tenant: str) -> list[tuple[Wallet, WalletBalances]]:
        async with storage_errors(), self._sessions() as session:
            return await _everything(session, tenant)

    async def record(
        self,
        wallet_id: UUID,
        reading: WalletReading,
        fetched_at: datetime,
        prices: Mapping[str, Price],
    ) -> WalletBalances:
        recorded = await self.record_many({wallet_id: reading}, fetched_at, prices)
        if wallet_id not in recorded:
            raise WalletNotFoundError(wallet_id)
        return recorded[wallet_id]

    async def record_many(
        self,
        readings: Mapping[UUID, WalletReading],
        fetched_at: datetime,
        prices: Mapping[str, Price],
    ) -> dict[UUID, WalletBalances]:
        if not readings:
            return {}
        async with rejected_records(), self._sessions.begin() as session:
            # Locks the wallet rows (in one order) on PostgreSQL: records of one wallet go one
            # at a time. A wallet deleted meanwhile is left out.
            wallets = (
                await session.scalars(
                    select(WalletRow)
                    .where(WalletRow.id.in_(list(readings)))
                    .order_by(WalletRow.id)
                    .with_for_update()
                )
            ).all()
            ids = [w.id for w in wallets]
            before: dict[UUID, dict[str, BalanceRow]] = {wid: {} for wid in ids}
            for row in await session.scalars(
                select(BalanceRow).where(BalanceRow.wallet_id.in_(ids)).order_by(BalanceRow.id)
            ):
                before[row.wallet_id][row.token_key] = row
            current: list[dict[str, object]] = []
            history: list[dict[str, object]] = []
            snapshots = {}
            whole = [wid for wid in ids if not readings[wid].failures]
            if whole:  # wallets read in full lose every current row at once
                await session.execute(delete(BalanceRow).where(BalanceRow.wallet_id.in_(whole)))
            for wallet in wallets:
                reading = readings[wallet.id]
                failed = {failure.token.key for failure in reading.failures}
                held = {b.token.key: b for b in reading.nonzero()}
                old = before[wallet.id]
                if failed:  # keep the rows of the tokens that could not be read
                    await session.execute(
                        delete(BalanceRow).where(
                            BalanceRow.wallet_id == wallet.id, BalanceRow.token_key.not_in(failed)
                        )
                    )
                current += [_current(wallet.id, b, fetched_at, prices) for b in held.values()]
                history += [_history(wallet.id, b, fetched_at, prices) for b in held.values()]
                history += [
                    _zero_history(row, fetched_at)
                    for key, row in old.items()
                    if key not in held and key not in failed
                ]
                wallet.last_fetched_at = fetched_at
                wallet.last_error = wallet.last_error_at = None
                wallet.token_failures = _failures_json(reading.failures)
                kept = [row for key, row in old.items() if key in failed]
                chain = Chain(wallet.chain)
                balances = [TokenBalance(_token(chain, row), row.raw_balance) for row in kept]
                balances += list(held.values())
                snapshots[wallet.id] = WalletBalances(
                    wallet.id,
                    balances,
                    fetched_at,
                    list(reading.failures),
                    kept_as_of={row.token_key: row.fetched_at for row in kept},
                )
            if current:
                await session.execute(insert(BalanceRow), current)
            await write_history(session, history, self._dialect)
            await _replace_accounts(session, wallets, readings, fetched_at)
        return snapshots

    async def record_failure(self, wallet_ids: Sequence[UUID], reason: str, at: datetime) -> None:
        async with storage_errors(), self._sessions.begin() as session:
            await session.execute(
                update(WalletRow)
                .where(WalletRow.id.in_(list(wallet_ids)))
                .values(last_error=reason[:ERROR_LENGTH], last_error_at=at)
            )

    async def known_accounts(
        self, wallet_ids: Sequence[UUID]
    ) -> dict[UUID, tuple[datetime, list[TokenAccount]]]:
        async with storage_errors(), self._sessions() as session:
            discovered = await session.execute(
                select(WalletRow.id, WalletRow.accounts_discovered_at).where(
                    WalletRow.id.in_(list(wallet_ids)),
                    WalletRow.accounts_discovered_at.is_not(None),
                )
            )
            found: dict[UUID, tuple[datetime, list[TokenAccount]]] = {
                wallet_id: (at, []) for wallet_id, at in discovered if at is not None
            }
            rows = await session.scalars(
                select(TokenAccountRow).where(TokenAccountRow.wallet_id.in_(list(found)))
            )
            for row in rows:
                found[row.wallet_id][1].append(
                    TokenAccount(row.address, row.mint, row.program, row.decimals)
                )
            return found


async def _replace_accounts(
    session: AsyncSession,
    wallets: Sequence[WalletRow],
    readings: Mapping[UUID, WalletReading],
    at: datetime,
) -> None:
    """Discovered token accounts replace the known ones of their wallet."""
    discovered = [w for w in wallets if readings[w.id].accounts is not None]
    if not discovered:
        return
    await session.execute(
        delete(TokenAccountRow).where(TokenAccountRow.wallet_id.in_([w.id for w in discovered]))
    )
    rows = [
        {"wallet_id": w.id, "address": a.address, "mint": a.mint, "program": a.program,
         "decimals": a.decimals}
        for w in discovered
        for a in readings[w.id].accounts or []
    ]  # fmt: skip
    if rows:
        await session.execute(insert(TokenAccountRow), rows)
    for wallet in discovered:
        wallet.accounts_discovered_at = at


async def _everything(session: AsyncSession, tenant: str) -> list[tuple[Wallet, WalletBalances]]:
    wallets = (
        await session.scalars(
            select(WalletRow)
            .where(WalletRow.tenant == tenant)
            .order_by(WalletRow.created_at, WalletRow.id)
        )
    ).all()
    columns = (
        BalanceRow.wallet_id,
        BalanceRow.token_key,
        BalanceRow.symbol,
        BalanceRow.name,
        BalanceRow.decimals,
        BalanceRow.verified,
        BalanceRow.raw_balance,
    )
    held: dict[UUID, list[TokenBalance]] = {w.id: [] for w in wallets}
    chains = {w.id: Chain(w.chain) for w in wallets}
    for wallet_id, key, symbol, name, decimals, verified, raw in await session.execute(
        select(*columns)
        .join(WalletRow, WalletRow.id == BalanceRow.wallet_id)
        .where(WalletRow.tenant == tenant)
        .order_by(BalanceRow.id)
    ):
        if wallet_id in held:  # a wallet added after the first query is left for next time
            token = Token.stored(chains[wallet_id], key, symbol, name, decimals, verified)
            held[wallet_id].append(TokenBalance(token, raw))
    return [
        (to_wallet(w), WalletBalances(w.id, held[w.id], w.last_fetched_at, last_error=w.last_error))
        for w in wallets
    ]


async def _current_rows(session: AsyncSession, wallet_id: UUID) -> Sequence[BalanceRow]:
    query = select(BalanceRow).where(BalanceRow.wallet_id == wallet_id).order_by(BalanceRow.id)
    return (await session.scalars(query)).all()


def _sample(
    wallet_id: UUID, balance: TokenBalance, prices: Mapping[str, Price]
) -> dict[str, object]:
    """The columns a current balance and a history row share."""
    token = balance.token
    usd_price, value = valued(balance.raw, token.decimals, prices.get(price_key(token)))
    return {
        "wallet_id": wallet_id,
        "token_key": token.key,
        "symbol": token.symbol,
        "decimals": token.decimals,
        "raw_balance": balance.raw,
        "usd_price": usd_price,
        "usd_value": value,
    }


def _current(
    wallet_id: UUID, balance: TokenBalance, at: datetime, prices: Mapping[str, Price]
) -> dict[str, object]:
    token = balance.token
    sample = _sample(wallet_id, balance, prices)
    return {**sample, "name": token.name, "verified": token.verified, "fetched_at": at}


def _history(
    wallet_id: UUID, balance: TokenBalance, at: datetime, prices: Mapping[str, Price]
) -> dict[str, object]:
    return {**_sample(wallet_id, balance, prices), "recorded_at": at}


def _zero_history(row: BalanceRow, at: datetime) -> dict[str, object]:
    return {
        "wallet_id": row.wallet_id,
        "token_key": row.token_key,
        "symbol": row.symbol,
        "decimals": row.decimals,
        "raw_balance": 0,
        "usd_price": None,
        "usd_value": Decimal(0),
        "recorded_at": at,
    }


def _snapshot(wallet: WalletRow, rows: Sequence[BalanceRow]) -> WalletBalances:
    chain = Chain(wallet.chain)
    balances = [TokenBalance(_token(chain, row), row.raw_balance) for row in rows]
    read_at = wallet.last_fetched_at
    return WalletBalances(
        wallet.id,
        balances,
        read_at,
        _failures_of(wallet.token_failures),
        wallet.last_error,
        # Rows older than the last read were kept: their token failed since.
        {r.token_key: r.fetched_at for r in rows if read_at is not None and r.fetched_at < read_at},
    )


def _failures_json(failures: Sequence[TokenFailure]) -> str | None:
    if not failures:
        return None
    return json.dumps([{"token": token_fields(f.token), "reason": f.reason} for f in failures])


def _failures_of(stored: str | None) -> list[TokenFailure]:
    if not stored:
        return []
    return [TokenFailure(token_of(f["token"]), f["reason"]) for f in json.loads(stored)]


def _token(chain: Chain, row: BalanceRow) -> Token:
    return Token.stored(chain, row.token_key, row.symbol, row.name, row.decimals, row.verified)
