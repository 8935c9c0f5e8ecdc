"""Wallets in SQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import bindparam, case, delete, func, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.ledger import forget_tenant_history
from portfolio.adapters.db.models import WalletRow
from portfolio.domain.chains import Chain
from portfolio.domain.errors import DuplicateWalletError
from portfolio.domain.wallet import Wallet, WalletCursor, WalletPage


class SqlWalletRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, *wallets: Wallet) -> None:
        async with storage_errors():
            try:
                async with self._sessions.begin() as session:  # one transaction: all or none
                    session.add_all([_to_row(wallet) for wallet in wallets])
            except IntegrityError as exc:
                for wallet in wallets:
                    existing = await self._find(wallet.tenant, wallet.chain, wallet.address)
                    if existing is not None:
                        raise DuplicateWalletError(existing) from exc
                raise  # the conflict was not the (chain, address) key

    async def get(self, wallet_id: UUID, tenant: str) -> Wallet | None:
        async with storage_errors(), self._sessions() as session:
            row = await session.get(WalletRow, wallet_id)
            return None if row is None or row.tenant != tenant else to_wallet(row)

    async def list(
        self,
        *,
        tenant: str | None,
        chain: Chain | None,
        limit: int,
        after: WalletCursor | None,
    ) -> WalletPage:
        query = select(WalletRow).order_by(WalletRow.created_at, WalletRow.id).limit(limit + 1)
        if tenant is not None:
            query = query.where(WalletRow.tenant == tenant)
        if chain is not None:
            query = query.where(WalletRow.chain == chain.value)
        if after is not None:
            position = tuple_(WalletRow.created_at, WalletRow.id)
            query = query.where(position > tuple_(after.created_at, after.id))
        async with storage_errors(), self._sessions() as session:
            rows = (await session.scalars(query)).all()
        items = [to_wallet(row) for row in rows[:limit]]
        more = len(rows) > limit
        return WalletPage(items, WalletCursor.after(items[-1]) if more else None)

    async def count(self, tenant: str) -> int:
        query = select(func.count()).select_from(WalletRow).where(WalletRow.tenant == tenant)
        async with storage_errors(), self._sessions() as session:
            return int(await session.scalar(query) or 0)

    async def delete(self, wallet_id: UUID, tenant: str) -> bool:
        async with storage_errors(), self._sessions.begin() as session:
            result = await session.execute(
                delete(WalletRow).where(WalletRow.id == wallet_id, WalletRow.tenant == tenant)
            )
            deleted = bool(result.rowcount)  # type: ignore[attr-defined]
            if deleted:  # its changes went with it (ON DELETE CASCADE)
                await forget_tenant_history(session, tenant)
            return deleted

    async def twins(self, wallets: Sequence[Wallet]) -> Sequence[Wallet]:
        """The other tenants' wallets at the same addresses: read once with them."""
        if not wallets:
            return []
        chain = wallets[0].chain.value
        ids = {w.id for w in wallets}
        query = select(WalletRow).where(
            WalletRow.chain == chain, WalletRow.address.in_({w.address for w in wallets})
        )
        async with storage_errors(), self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [to_wallet(row) for row in rows if row.id not in ids]

    async def oldest_read(self) -> datetime | None:
        read = func.coalesce(WalletRow.last_fetched_at, WalletRow.created_at)
        async with storage_errors(), self._sessions() as session:
            oldest: datetime | None = await session.scalar(select(func.min(read)))
        return oldest

    async def get_many(self, wallet_ids: Sequence[UUID]) -> Sequence[Wallet]:
        if not wallet_ids:
            return []
        query = select(WalletRow).where(WalletRow.id.in_(set(wallet_ids)))
        async with storage_errors(), self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [to_wallet(row) for row in rows]

    async def _find(self, tenant: str, chain: Chain, address: str) -> UUID | None:
        query = select(WalletRow.id).where(
            WalletRow.tenant == tenant, WalletRow.chain == chain.value, WalletRow.address == address
        )
        async with self._sessions() as session:
            return (await session.scalars(query)).first()


class SqlPrimaryNames:
    """The primary ENS names of the EVM wallets' addresses, kept on the wallets' rows (one
    address may be tracked on several EVM chains by several tenants: its name is one)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def due(self, before: datetime, limit: int) -> list[str]:
        w = WalletRow
        never = func.max(case((w.ens_checked_at.is_(None), 1), else_=0))
        query = (
            select(w.address)
            .where(w.chain != Chain.SOLANA.value)
            .where((w.ens_checked_at.is_(None)) | (w.ens_checked_at < before))
            .group_by(w.address)
            .order_by(never.desc(), func.min(w.ens_checked_at), w.address)  # new ones first
            .limit(limit)
        )
        async with storage_errors(), self._sessions() as session:
            return list((await session.scalars(query)).all())

    async def record(self, names: Mapping[str, str | None], now: datetime) -> None:
        if not names:
            return
        w = WalletRow
        statement = (
            update(w)
            .where(w.address == bindparam("at"), w.chain != Chain.SOLANA.value)
            .values(ens_name=bindparam("primary"), ens_checked_at=now)
        )
        rows = [{"at": address, "primary": name} for address, name in names.items()]
        async with storage_errors(), self._sessions.begin() as session:
            # On the connection: one statement executed for each row (executemany), where the
            # session would take a list of rows for an update by primary key.
            await (await session.connection()).execute(statement, rows)


def _to_row(wallet: Wallet) -> WalletRow:
    return WalletRow(
        id=wallet.id,
        chain=wallet.chain.value,
        address=wallet.address,
        label=wallet.label,
        created_at=wallet.created_at,
        updated_at=wallet.updated_at,
        tenant=wallet.tenant,
        name=wallet.name,
    )


def to_wallet(row: WalletRow) -> Wallet:
    return Wallet(
        id=row.id,
        chain=Chain(row.chain),
        address=row.address,
        label=row.label,
        created_at=row.created_at,
        updated_at=row.updated_at,
        tenant=row.tenant,
        name=row.name,
        ens_name=row.ens_name,
    )
