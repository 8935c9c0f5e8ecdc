"""Webhooks in SQL: the tenant's endpoints, the messages due to them (written with their event,
by ``write_events``), and every try.

Workers share the due messages: a message is claimed by moving its ``next_at`` a lease ahead
(on PostgreSQL under FOR UPDATE SKIP LOCKED, so two workers never take one message); a worker
killed mid-send leaves it claimed until the lease ends, and another sends it then (at least
once, with the same ``webhook-id``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from portfolio.adapters.db.errors import storage_errors
from portfolio.adapters.db.models import WebhookAttemptRow, WebhookMessageRow, WebhookRow
from portfolio.domain.events import Event, EventType
from portfolio.domain.webhooks import (
    Attempt,
    Due,
    Outcome,
    Webhook,
    message_body,
    new_message_id,
    next_try,
)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


async def queue_messages(session: AsyncSession, events: Sequence[Event]) -> None:
    """A message for each event to each enabled webhook of its tenant that takes its type, in
    the caller's transaction (the event's own)."""
    tenants = {e.tenant for e in events}
    hooks = await session.execute(
        select(WebhookRow.id, WebhookRow.tenant, WebhookRow.events).where(
            WebhookRow.tenant.in_(tenants), WebhookRow.enabled
        )
    )
    takers: dict[str, list[tuple[UUID, set[str]]]] = {}
    for hook_id, tenant, kinds in hooks:
        takers.setdefault(tenant, []).append((hook_id, set(json.loads(kinds))))
    rows = [
        {"id": new_message_id(), "webhook_id": hook_id, "event_id": e.id,
         "payload": message_body(e.type.value, e.at, e.data), "created_at": e.at,
         "attempts": 0, "next_at": e.at, "state": PENDING}
        for e in events
        for hook_id, kinds in takers.get(e.tenant, [])
        if e.type.value in kinds
    ]  # fmt: skip
    if rows:
        await session.execute(insert(WebhookMessageRow), rows)


class SqlWebhookRepository:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self._sessions = sessions
        self._dialect = dialect

    async def add(self, webhook: Webhook, secret: str) -> None:
        async with storage_errors(), self._sessions.begin() as session:
            session.add(
                WebhookRow(
                    id=webhook.id,
                    tenant=webhook.tenant,
                    url=webhook.url,
                    events=json.dumps([e.value for e in webhook.events]),
                    description=webhook.description,
                    secret=secret,
                    created_at=webhook.created_at,
                    enabled=True,
                )
            )

    async def count(self, tenant: str) -> int:
        query = select(func.count()).select_from(WebhookRow).where(WebhookRow.tenant == tenant)
        async with storage_errors(), self._sessions() as session:
            return int(await session.scalar(query) or 0)

    async def every(self, tenant: str | None) -> list[Webhook]:
        """The tenant's webhooks (every tenant's when None), oldest first."""
        query = select(WebhookRow).order_by(WebhookRow.created_at, WebhookRow.id)
        if tenant is not None:
            query = query.where(WebhookRow.tenant == tenant)
        async with storage_errors(), self._sessions() as session:
            return [_webhook(row) for row in await session.scalars(query)]

    async def get(self, webhook_id: UUID, tenant: str) -> Webhook | None:
        async with storage_errors(), self._sessions() as session:
            row = await session.get(WebhookRow, webhook_id)
            return None if row is None or row.tenant != tenant else _webhook(row)

    async def delete(self, webhook_id: UUID, tenant: str) -> bool:
        """Removes the webhook with its messages and tries."""
        async with storage_errors(), self._sessions.begin() as session:
            for table in (WebhookAttemptRow, WebhookMessageRow):
                await session.execute(
                    delete(table).where(
                        table.webhook_id == webhook_id,
                        select(WebhookRow.id)
                        .where(WebhookRow.id == webhook_id, WebhookRow.tenant == tenant)
                        .exists(),
                    )
                )
            result = await session.execute(
                delete(WebhookRow).where(WebhookRow.id == webhook_id, WebhookRow.tenant == tenant)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def ping(self, webhook: Webhook, event_id: str, at: datetime) -> str:
        """Queue a ``ping`` to the webhook (due now); the message's id."""
        message = new_message_id()
        body = message_body("ping", at, {"webhook_id": str(webhook.id)})
        async with storage_errors(), self._sessions.begin() as session:
            session.add(
                WebhookMessageRow(
                    id=message, webhook_id=webhook.id, event_id=event_id, payload=body,
                    created_at=at, attempts=0, next_at=at, state=PENDING,
                )
            )  # fmt: skip
        return message

    async def attempts(self, webhook_id: UUID, limit: int) -> list[Attempt]:
        """The webhook's latest tries, newest first."""
        a = WebhookAttemptRow
        query = select(a).where(a.webhook_id == webhook_id).order_by(a.id.desc()).limit(limit)
        async with storage_errors(), self._sessions() as session:
            return [
                Attempt(r.attempted_at, r.message_id, r.event_id, r.status_code, r.duration_ms,
                        r.error, r.response)
                for r in await session.scalars(query)
            ]  # fmt: skip

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[Due]:
        """Up to ``limit`` messages due now to enabled webhooks, each held for ``lease``."""
        m, w = WebhookMessageRow, WebhookRow
        query = (
            select(m, w.url, w.secret)
            .join(w, w.id == m.webhook_id)
            .where(m.next_at <= now, m.state == PENDING, w.enabled)
            .order_by(m.next_at)
            .limit(limit)
        )
        if self._dialect == "postgresql":
            query = query.with_for_update(of=m, skip_locked=True)
        async with storage_errors(), self._sessions.begin() as session:
            found = (await session.execute(query)).all()
            if not found:
                return []
            await session.execute(
                update(m).where(m.id.in_([row[0].id for row in found])).values(next_at=now + lease)
            )
        return [
            Due(row.id, row.event_id, row.webhook_id, url, secret, row.payload, row.attempts,
                row.created_at)
            for row, url, secret in found
        ]  # fmt: skip

    async def settle(
        self, tries: Sequence[tuple[Due, Outcome]], at: datetime, disable_after: timedelta
    ) -> list[UUID]:
        """Record tries, in one transaction, and what follows from each: delivered, tried
        again later, or given up; each webhook failing since when, and disabled once it has
        failed for ``disable_after``. The webhooks this disabled."""
        m, w = WebhookMessageRow, WebhookRow
        hook_ids = sorted({due.webhook_id for due, _ in tries})
        async with storage_errors(), self._sessions.begin() as session:
            # The webhooks' rows first, in one order: settles of one webhook go one at a time
            # (an attempt's foreign key would otherwise share-lock the row, and two deadlock).
            hooks = {
                hook.id: hook
                for hook in await session.scalars(
                    select(w).where(w.id.in_(hook_ids)).order_by(w.id).with_for_update()
                )
            }
            kept = [(due, outcome) for due, outcome in tries if due.webhook_id in hooks]
            if not kept:
                return []  # removed meanwhile, with their messages
            await session.execute(
                insert(WebhookAttemptRow),
                [
                    {"webhook_id": due.webhook_id, "message_id": due.message_id,
                     "event_id": due.event_id, "attempted_at": at,
                     "status_code": outcome.status_code, "duration_ms": outcome.duration_ms,
                     "error": None if outcome.error is None else outcome.error[:500],
                     "response": outcome.response}
                    for due, outcome in kept
                ],
            )  # fmt: skip
            await session.execute(update(m), [_settled(due, outcome, at) for due, outcome in kept])
            return [
                hook.id
                for hook in hooks.values()
                if _follow(hook, [o for d, o in kept if d.webhook_id == hook.id], at, disable_after)
            ]

    async def oldest_due(self, now: datetime) -> datetime | None:
        """When the oldest message not yet delivered (nor given up) was queued."""
        m, w = WebhookMessageRow, WebhookRow
        query = (
            select(func.min(m.created_at))
            .join(w, w.id == m.webhook_id)
            .where(m.state == PENDING, w.enabled)
        )
        async with storage_errors(), self._sessions() as session:
            return await session.scalar(query)

    async def prune(self, before: datetime, batch: int) -> int:
        """Drop a batch of tries and of settled messages older than ``before``."""
        gone = 0
        a, m = aliased(WebhookAttemptRow), aliased(WebhookMessageRow)
        async with storage_errors(), self._sessions.begin() as session:
            old_tries = select(a.id).where(a.attempted_at < before).limit(batch)
            result = await session.execute(
                delete(WebhookAttemptRow).where(WebhookAttemptRow.id.in_(old_tries))
            )
            gone += int(result.rowcount)  # type: ignore[attr-defined]
            settled = select(m.id).where(m.created_at < before, m.state != PENDING).limit(batch)
            result = await session.execute(
                delete(WebhookMessageRow).where(WebhookMessageRow.id.in_(settled))
            )
            gone += int(result.rowcount)  # type: ignore[attr-defined]
        return gone


def _settled(due: Due, outcome: Outcome, at: datetime) -> dict[str, object]:
    """A message's row after a try: delivered, due again after its wait, or given up."""
    tries = due.attempts + 1
    wait = None if outcome.delivered else next_try(tries)
    state = DELIVERED if outcome.delivered else (PENDING if wait is not None else FAILED)
    return {"id": due.message_id, "attempts": tries, "state": state,
            "next_at": None if wait is None else at + wait}  # fmt: skip


def _follow(hook: WebhookRow, outcomes: list[Outcome], at: datetime, limit: timedelta) -> bool:
    """The webhook after these tries: not failing once one was delivered; else failing since
    its first failure, and disabled past ``limit``. True when this disabled it."""
    if any(o.delivered for o in outcomes):
        hook.failing_since = None
        return False
    if not hook.enabled:
        return False
    hook.failing_since = hook.failing_since or at
    if at - hook.failing_since < limit:
        return False
    hook.enabled = False
    hours = limit.total_seconds() / 3600
    hook.disabled_reason = (
        f"Disabled at {at.isoformat()}: every delivery failed for {hours:g} hours "
        f"(last: {_said(outcomes[-1])})."
    )
    return True


def _said(outcome: Outcome) -> str:
    if outcome.status_code is not None:
        return f"status {outcome.status_code}"
    return str(outcome.error)


def _webhook(row: WebhookRow) -> Webhook:
    return Webhook(
        row.id, row.tenant, row.url, tuple(EventType(e) for e in json.loads(row.events)),
        row.description, row.created_at, row.enabled, row.disabled_reason, row.failing_since,
    )  # fmt: skip
