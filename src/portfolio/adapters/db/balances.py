"""Current balances and their changes in SQL: every successful read is one transaction, which
writes only what changed.

A wallet's current balances are a JSON document in its row (``wallets.balances``): a list of
``[token key, symbol, name, decimals, verified, raw amount as text, recorded at (ISO 8601)]``,
one a token held at the last good read, in the order first seen. The wallet row is written by
every read anyway (its read time), so a read writes one row a wallet and one a changed balance
(its change in ``balance_changes``), not a current row beside each change as well."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import undefer

from portfolio.adapters.db.errors import rejected_records, storage_errors
from portfolio.adapters.db.events import write_events
from portfolio.adapters.db.ledger import forget_history_after, write_changes
from portfolio.adapters.db.models import TokenAccountRow, WalletRow
from portfolio.adapters.db.wallets import to_wallet
from portfolio.domain.amounts import Amount, amount_change
from portfolio.domain.balances import WalletBalances
from portfolio.domain.chains import Chain
from portfolio.domain.errors import WalletNotFoundError
from portfolio.domain.events import Event, EventType, balance_change, read_failed
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
WITH_BALANCES = undefer(WalletRow.balances)


@dataclass(frozen=True, slots=True)
class _Held:
    """A token held at the last good read, as the wallet's document keeps it."""

    key: str
    symbol: str | None
    name: str | None
    decimals: int
    verified: bool
    raw: int
    at: datetime  # when this amount was recorded

    @classmethod
    def of(cls, balance: TokenBalance, at: datetime) -> _Held:
        token = balance.token
        return cls(token.key, token.symbol, token.name, token.decimals, token.verified,
                   balance.raw, at)  # fmt: skip

    @property
    def amount(self) -> Amount:
        return Amount(self.raw, self.decimals)

    def balance(self, chain: Chain) -> TokenBalance:
        token = Token.stored(chain, self.key, self.symbol, self.name, self.decimals, self.verified)
        return TokenBalance(token, self.raw)

    def entry(self) -> list[object]:
        return [self.key, self.symbol, self.name, self.decimals, self.verified, str(self.raw),
                self.at.isoformat()]  # fmt: skip


def _held_of(document: str) -> dict[str, _Held]:
    """The wallet's document, by token key, in its order."""
    return {
        key: _Held(key, symbol, name, decimals, verified, int(raw), datetime.fromisoformat(at))
        for key, symbol, name, decimals, verified, raw, at in json.loads(document)
    }


def _document(held: Iterable[_Held]) -> str:
    return json.dumps([item.entry() for item in held], separators=(",", ":"))


class SqlBalanceRepository:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], dialect: str, *, failure_events: int = 3
    ) -> None:
        """``failure_events``: the consecutive failed reads of a wallet after which a
        ``wallet.read_failed`` event is written (once, until a read succeeds again)."""
        self._sessions = sessions
        self._dialect = dialect
        self._failure_events = failure_events

    async def get(self, wallet_id: UUID) -> WalletBalances | None:
        async with storage_errors(), self._sessions() as session:
            wallet = await session.get(WalletRow, wallet_id, options=[WITH_BALANCES])
            return None if wallet is None else _snapshot(wallet)

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
                    .options(WITH_BALANCES)
                    .where(WalletRow.id.in_(list(readings)))
                    .order_by(WalletRow.id)
                    .with_for_update()
                )
            ).all()
            edits = _Edits()
            snapshots = {}
            for wallet in wallets:
                snapshots[wallet.id] = edits.wallet(wallet, readings[wallet.id], fetched_at)
            await edits.write(session, self._dialect, fetched_at)
            await _replace_accounts(session, wallets, readings, fetched_at)
        return snapshots

    async def record_failure(self, wallet_ids: Sequence[UUID], reason: str, at: datetime) -> None:
        w = WalletRow
        async with storage_errors(), self._sessions.begin() as session:
            counted = await session.execute(
                update(w)
                .where(w.id.in_(list(wallet_ids)))
                .values(
                    last_error=reason[:ERROR_LENGTH],
                    last_error_at=at,
                    read_failures=w.read_failures + 1,
                )
                .returning(w.id, w.tenant, w.chain, w.address, w.label, w.read_failures)
            )
            await write_events(
                session,
                [
                    Event.new(EventType.WALLET_READ_FAILED, tenant, at,
                              read_failed(wallet_id, chain, address, label, failures, reason))
                    for wallet_id, tenant, chain, address, label, failures in counted
                    if failures == self._failure_events
                ],
            )  # fmt: skip

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
    ones are written, as changes, and the wallet's document when anything in it changed; an
    unchanged balance writes nothing."""

    def __init__(self) -> None:
        self.changes: list[dict[str, object]] = []
        self.tenants: set[str] = set()
        self.events: list[Event] = []
        self._told: list[dict[str, object]] = []  # the changed tokens of the wallet at hand

    def wallet(self, wallet: WalletRow, reading: WalletReading, at: datetime) -> WalletBalances:
        chain = Chain(wallet.chain)
        self._told = []
        old = _held_of(wallet.balances)
        failed = {failure.token.key for failure in reading.failures}
        held = {b.token.key: b for b in reading.nonzero()}
        new: dict[str, _Held] = {}
        for key, row in old.items():  # in the document's order; gone tokens leave it
            balance = held.get(key)
            if balance is None:
                if key in failed:
                    new[key] = row  # kept as it was
                else:
                    self._change(wallet, row.balance(chain).token, 0, row, at)
                continue
            token = balance.token
            if (row.raw, row.decimals) != (balance.raw, token.decimals):
                self._change(wallet, token, balance.raw, row, at)
                new[key] = _Held.of(balance, at)
            else:  # the same amount, as recorded then (its name may have changed)
                new[key] = _Held.of(balance, row.at)
        for key, balance in held.items():
            if key not in old:
                self._change(wallet, balance.token, balance.raw, None, at)
                new[key] = _Held.of(balance, at)
        if list(new.values()) != list(old.values()):
            wallet.balances = _document(new.values())
        kept_as_of = _kept_as_of(wallet, reading, old)
        wallet.last_fetched_at = at
        wallet.last_error = wallet.last_error_at = None
        wallet.read_failures = 0
        wallet.token_failures = _failures_json(reading.failures, kept_as_of)
        if self._told:
            data = {"wallet_id": str(wallet.id), "chain": chain.value, "address": wallet.address,
                    "label": wallet.label, "tokens": self._told}  # fmt: skip
            self.events.append(Event.new(EventType.BALANCES_CHANGED, wallet.tenant, at, data))
        kept = [row for key, row in old.items() if key in failed]
        return WalletBalances(
            wallet.id, [row.balance(chain) for row in kept] + list(held.values()), at,
            list(reading.failures), kept_as_of={row.key: kept_as_of[row.key] for row in kept},
        )  # fmt: skip

    def _change(
        self, wallet: WalletRow, token: Token, raw: int, previous: _Held | None, at: datetime
    ) -> None:
        before = Amount(0, token.decimals) if previous is None else previous.amount
        after = Amount(raw, token.decimals)
        delta = amount_change(after, None if previous is None else before)
        self.changes.append(
            {"wallet_id": wallet.id, "token_key": token.key, "symbol": token.symbol,
             "decimals": token.decimals, "raw_balance": raw, "delta": delta, "changed_at": at}
        )  # fmt: skip
        self.tenants.add(wallet.tenant)
        self._told.append(balance_change(token, before, after))

    async def write(self, session: AsyncSession, dialect: str, at: datetime) -> None:
        if self.changes:
            await write_changes(session, self.changes, dialect)
            await forget_history_after(session, at, self.tenants)
        await write_events(session, self.events)


def _kept_as_of(
    wallet: WalletRow, reading: WalletReading, old: dict[str, _Held]
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
            kept[key] = last or row.at
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
    wallets = await session.scalars(
        select(WalletRow)
        .options(WITH_BALANCES)
        .where(WalletRow.tenant == tenant)
        .order_by(WalletRow.created_at, WalletRow.id)
    )
    everything = []
    for w in wallets:
        chain = Chain(w.chain)
        held = [row.balance(chain) for row in _held_of(w.balances).values()]
        everything.append(
            (to_wallet(w), WalletBalances(w.id, held, w.last_fetched_at, last_error=w.last_error))
        )
    return everything


def _snapshot(wallet: WalletRow) -> WalletBalances:
    chain = Chain(wallet.chain)
    rows = _held_of(wallet.balances).values()
    failed_since = _failed_since(wallet.token_failures)
    return WalletBalances(
        wallet.id,
        [row.balance(chain) for row in rows],
        wallet.last_fetched_at,
        _failures_of(wallet.token_failures),
        wallet.last_error,
        # The balances of tokens the last read could not read were kept as they were.
        {r.key: failed_since.get(r.key) or r.at for r in rows if r.key in failed_since},
    )


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
