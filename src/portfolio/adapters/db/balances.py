"""Current balances and their changes in SQL: every successful read is one transaction, which
writes only what changed."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.engine import insert_for
from portfolio.adapters.db.errors import rejected_records, storage_errors
from portfolio.adapters.db.ledger import forget_history_after, write_changes
from portfolio.adapters.db.models import (
    BalanceRow,
    TokenAccountRow,
    WalletRow,
)
from portfolio.adapters.db.wallets import to_wallet
from portfolio.domain.amounts import Amount, amount_change
from portfolio.domain.balances import WalletBalances
from portfolio.domain.chains import Chain
from portfolio.domain.errors import WalletNotFoundError
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
        self, wallet_id: UUID, reading: WalletReading, fetched_at: datetime
    ) -> WalletBalances:
        recorded = await self.record_many({wallet_id: reading}, fetched_at)
        if wallet_id not in recorded:
            raise WalletNotFoundError(wallet_id)
        return recorded[wallet_id]

    async def record_many(
        self, readings: Mapping[UUID, WalletReading], fetched_at: datetime
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
            edits = _Edits()
            snapshots = {}
            for wallet in wallets:
                snapshots[wallet.id] = edits.wallet(
                    wallet, readings[wallet.id], before[wallet.id], fetched_at
                )
            await edits.write(session, self._dialect, fetched_at)
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


class _Edits:
    """What one record changes: only the (wallet, token) amounts that differ from the stored
    ones are written, as current rows and as changes; an unchanged balance writes nothing."""

    def __init__(self) -> None:
        self.upserts: list[dict[str, object]] = []
        self.gone: list[tuple[UUID, str]] = []
        self.changes: list[dict[str, object]] = []
        self.tenants: set[str] = set()

    def wallet(
        self,
        wallet: WalletRow,
        reading: WalletReading,
        old: dict[str, BalanceRow],
        at: datetime,
    ) -> WalletBalances:
        failed = {failure.token.key for failure in reading.failures}
        held = {b.token.key: b for b in reading.nonzero()}
        for key, balance in held.items():
            row = old.get(key)
            token = balance.token
            if row is None or (row.raw_balance, row.decimals) != (balance.raw, token.decimals):
                previous = None if row is None else Amount(row.raw_balance, row.decimals)
                self._change(wallet, key, token.symbol, token.decimals, balance.raw, previous, at)
                self.upserts.append(_current(wallet.id, balance, at))
            elif (row.symbol, row.name, row.verified) != (token.symbol, token.name, token.verified):
                self.upserts.append(_current(wallet.id, balance, row.fetched_at))
        for key, row in old.items():
            if key not in held and key not in failed:
                previous = Amount(row.raw_balance, row.decimals)
                self._change(wallet, key, row.symbol, row.decimals, 0, previous, at)
                self.gone.append((wallet.id, key))
        kept_as_of = _kept_as_of(wallet, reading, old)
        wallet.last_fetched_at = at
        wallet.last_error = wallet.last_error_at = None
        wallet.token_failures = _failures_json(reading.failures, kept_as_of)
        chain = Chain(wallet.chain)
        kept = [row for key, row in old.items() if key in failed]
        balances = [TokenBalance(_token(chain, row), row.raw_balance) for row in kept]
        return WalletBalances(
            wallet.id, balances + list(held.values()), at, list(reading.failures),
            kept_as_of={row.token_key: kept_as_of[row.token_key] for row in kept},
        )  # fmt: skip

    def _change(
        self,
        wallet: WalletRow,
        key: str,
        symbol: str | None,
        decimals: int,
        raw: int,
        previous: Amount | None,
        at: datetime,
    ) -> None:
        delta = amount_change(Amount(raw, decimals), previous)
        self.changes.append(
            {"wallet_id": wallet.id, "token_key": key, "symbol": symbol, "decimals": decimals,
             "raw_balance": raw, "delta": delta, "changed_at": at}
        )  # fmt: skip
        self.tenants.add(wallet.tenant)

    async def write(self, session: AsyncSession, dialect: str, at: datetime) -> None:
        if self.gone:
            await session.execute(
                delete(BalanceRow).where(
                    tuple_(BalanceRow.wallet_id, BalanceRow.token_key).in_(self.gone)
                )
            )
        if self.upserts:
            statement = insert_for(dialect, BalanceRow)
            columns = ("symbol", "name", "decimals", "verified", "raw_balance", "fetched_at")
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["wallet_id", "token_key"],
                    set_={c: statement.excluded[c] for c in columns},
                ),
                self.upserts,
            )
        if self.changes:
            await write_changes(session, self.changes, dialect)
            await forget_history_after(session, at, self.tenants)


def _kept_as_of(
    wallet: WalletRow, reading: WalletReading, old: dict[str, BalanceRow]
) -> dict[str, datetime]:
    """When each token that failed to read was last read: as the previous record said when it
    failed then too, else at the wallet's previous read."""
    earlier = _failed_since(wallet.token_failures)
    kept: dict[str, datetime] = {}
    for failure in reading.failures:
        key = failure.token.key
        row = old.get(key)
        if row is not None:
            last = earlier.get(key, wallet.last_fetched_at)
            kept[key] = last or row.fetched_at
    return kept


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


def _current(wallet_id: UUID, balance: TokenBalance, at: datetime) -> dict[str, object]:
    token = balance.token
    return {
        "wallet_id": wallet_id,
        "token_key": token.key,
        "symbol": token.symbol,
        "name": token.name,
        "decimals": token.decimals,
        "verified": token.verified,
        "raw_balance": balance.raw,
        "fetched_at": at,
    }


def _snapshot(wallet: WalletRow, rows: Sequence[BalanceRow]) -> WalletBalances:
    chain = Chain(wallet.chain)
    balances = [TokenBalance(_token(chain, row), row.raw_balance) for row in rows]
    failed_since = _failed_since(wallet.token_failures)
    return WalletBalances(
        wallet.id,
        balances,
        wallet.last_fetched_at,
        _failures_of(wallet.token_failures),
        wallet.last_error,
        # The rows of tokens the last read could not read were kept as they were.
        {r.token_key: failed_since.get(r.token_key) or r.fetched_at for r in rows
         if r.token_key in failed_since},
    )  # fmt: skip


def _failures_json(failures: Sequence[TokenFailure], as_of: Mapping[str, datetime]) -> str | None:
    if not failures:
        return None
    return json.dumps(
        [
            {"token": token_fields(f.token), "reason": f.reason,
             "as_of": None if (at := as_of.get(f.token.key)) is None else at.isoformat()}
            for f in failures
        ]
    )  # fmt: skip


def _failures_of(stored: str | None) -> list[TokenFailure]:
    if not stored:
        return []
    return [TokenFailure(token_of(f["token"]), f["reason"]) for f in json.loads(stored)]


def _failed_since(stored: str | None) -> dict[str, datetime | None]:
    """The tokens the last read could not read, each with when it was last read (if known)."""
    if not stored:
        return {}
    return {
        token_of(f["token"]).key: None if not f.get("as_of") else datetime.fromisoformat(f["as_of"])
        for f in json.loads(stored)
    }


def _token(chain: Chain, row: BalanceRow) -> Token:
    return Token.stored(chain, row.token_key, row.symbol, row.name, row.decimals, row.verified)
