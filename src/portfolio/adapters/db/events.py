"""The event outbox in SQL: events are inserted by the transaction of the change that caused
them (``write_events``, called inside it), read back in order by tenant, and pruned after their
retention."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, union
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.models import EventRow, TenantTotalRow, WalletRow
from portfolio.adapters.db.webhooks import queue_messages
from portfolio.domain.events import Event, EventType


async def write_events(session: AsyncSession, events: Sequence[Event]) -> None:
    """Into the outbox, in the caller's transaction: they stand or fall with its change (and
    with them, the messages to the webhooks that take them)."""
    if not events:
        return
    await session.execute(
        insert(EventRow),
        [
            {"id": e.id, "tenant": e.tenant, "type": e.type.value, "occurred_at": e.at,
             "data": json.dumps(e.data, separators=(",", ":"))}
            for e in events
        ],
    )  # fmt: skip
    await queue_messages(session, events)


class SqlEventLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(self, events: Sequence[Event]) -> None:
        """Events with no change of their own to go with (a refresh that finished)."""
        async with storage_errors(), self._sessions.begin() as session:
            await write_events(session, events)

    async def after(self, tenant: str, seq: int, limit: int) -> list[tuple[int, Event]]:
        """The tenant's events after ``seq`` (0: from the oldest kept), oldest first."""
        e = EventRow
        query = select(e).where(e.tenant == tenant, e.seq > seq).order_by(e.seq).limit(limit)
        async with storage_errors(), self._sessions() as session:
            return [(row.seq, _event(row)) for row in await session.scalars(query)]

    async def since(self, seq: int, limit: int) -> list[tuple[int, Event]]:
        """Every tenant's events after ``seq``, oldest first."""
        e = EventRow
        query = select(e).where(e.seq > seq).order_by(e.seq).limit(limit)
        async with storage_errors(), self._sessions() as session:
            return [(row.seq, _event(row)) for row in await session.scalars(query)]

    async def among(self, seqs: Sequence[int]) -> list[tuple[int, Event]]:
        """The events of these numbers that exist (now)."""
        if not seqs:
            return []
        query = select(EventRow).where(EventRow.seq.in_(list(seqs)))
        async with storage_errors(), self._sessions() as session:
            return [(row.seq, _event(row)) for row in await session.scalars(query)]

    async def last_seq(self) -> int:
        async with storage_errors(), self._sessions() as session:
            return int(await session.scalar(select(func.max(EventRow.seq))) or 0)

    async def seq_of(self, tenant: str, event_id: str) -> int | None:
        """The number of the tenant's event (None: not the tenant's, or no longer kept)."""
        query = select(EventRow.seq).where(EventRow.id == event_id, EventRow.tenant == tenant)
        async with storage_errors(), self._sessions() as session:
            found = await session.scalar(query)
            return None if found is None else int(found)

    async def prune(self, before: datetime, batch: int) -> int:
        """Drop a batch of the events that occurred before ``before``; how many went."""
        e, doomed = EventRow, aliased(EventRow)
        keys = select(doomed.seq).where(doomed.occurred_at < before).limit(batch)
        async with storage_errors(), self._sessions.begin() as session:
            result = await session.execute(delete(e).where(e.seq.in_(keys)))
        return int(result.rowcount)  # type: ignore[attr-defined]


def _event(row: EventRow) -> Event:
    return Event(row.id, EventType(row.type), row.tenant, row.occurred_at, json.loads(row.data))


class SqlTenantTotals:
    """The totals last told in ``portfolio.changed`` events, one row a tenant."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def tenants(self) -> list[str]:
        """Every tenant with a wallet, or with a total told (one whose wallets all went)."""
        query = union(select(WalletRow.tenant), select(TenantTotalRow.tenant))
        async with storage_errors(), self._sessions() as session:
            return sorted(str(tenant) for tenant in await session.scalars(query))

    async def told(self) -> dict[str, str]:
        """Every tenant's total last told, by tenant."""
        query = select(TenantTotalRow.tenant, TenantTotalRow.total_usd)
        async with storage_errors(), self._sessions() as session:
            return {tenant: total for tenant, total in await session.execute(query)}

    async def tell(self, event: Event, total: str) -> None:
        """The tenant's new total, with the event that tells it, in one transaction."""
        async with storage_errors(), self._sessions.begin() as session:
            row = await session.get(TenantTotalRow, event.tenant, with_for_update=True)
            if row is None:
                session.add(TenantTotalRow(tenant=event.tenant, total_usd=total, at=event.at))
            else:
                row.total_usd, row.at = total, event.at
            await write_events(session, [event])
