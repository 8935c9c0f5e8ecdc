"""The live event stream: every connected client of a process is fed by one reader of the
outbox (EventHub), so a thousand clients cost one query a poll, not a thousand.

The hub reads the events committed since its last read, across tenants, and hands each to its
tenant's clients. It reads when a change is announced (a Redis channel across replicas; this
process's own announcements without Redis) and at least every POLL_SECONDS whatever was heard:
a lost announcement delays an event, it never loses it. A sequence number taken by a
transaction that commits later than a larger one (PostgreSQL allocates them before commit) is
a gap; gaps are looked for again for GAP_SECONDS, so such an event is still streamed.

A client that reconnects with the last id it saw (SSE's ``Last-Event-ID``) is first sent the
tenant's later events from the outbox, then the live ones, none twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from loguru import logger

from portfolio.domain.errors import AuthenticationError, ServiceUnavailableError
from portfolio.domain.events import Event
from portfolio.ports.announcements import Announcements
from portfolio.ports.cache import Cache
from portfolio.ports.clock import Clock
from portfolio.ports.telemetry import Telemetry

POLL_SECONDS = 1.0  # the outbox is read at least this often while clients are connected
HEARD_SECONDS = 0.05  # how often an announcement is looked for
GAP_SECONDS = 60.0  # a sequence number missing this long is taken as rolled back
GAPS_MAX = 10_000
READ_LIMIT = 1_000
QUEUE_MAX = 1_000  # events waiting for a client too slow to take them: past it, it is dropped
HEARTBEAT_SECONDS = 15.0
TOKEN_KEY = "portfolio:stream-token:"  # noqa: S105 - a cache key's prefix
TOKEN_SECONDS = 300


class StreamLog(Protocol):
    async def since(self, seq: int, limit: int) -> list[tuple[int, Event]]:
        """Every tenant's events after ``seq``, oldest first."""

    async def among(self, seqs: Sequence[int]) -> list[tuple[int, Event]]: ...

    async def last_seq(self) -> int: ...

    async def seq_of(self, tenant: str, event_id: str) -> int | None: ...

    async def after(self, tenant: str, seq: int, limit: int) -> list[tuple[int, Event]]: ...


class Pushed(NamedTuple):
    """An event as the streams send it: its JSON made once for every client."""

    seq: int
    event: Event
    text: str

    @classmethod
    def of(cls, seq: int, event: Event) -> Pushed:
        return cls(seq, event, json.dumps(message(event), separators=(",", ":")))


def message(event: Event) -> dict[str, Any]:
    """An event as a stream sends it (the same JSON on both transports)."""
    at = event.at.isoformat().replace("+00:00", "Z")
    return {"id": event.id, "type": event.type.value, "tenant": event.tenant,
            "occurred_at": at, "data": event.data}  # fmt: skip


@dataclass(eq=False)
class Subscription:
    tenant: str
    queue: asyncio.Queue[Pushed | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))


class EventHub:
    def __init__(
        self,
        log: StreamLog,
        changes: Announcements,
        *,
        poll_seconds: float = POLL_SECONDS,
        telemetry: Telemetry | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        """``heartbeat_seconds``: how often a stream with nothing to say sends a keep-alive
        (an SSE comment), so that proxies and clients see the connection alive."""
        self.heartbeat_seconds = heartbeat_seconds
        self._log = log
        self._changes = changes
        self._poll_seconds = poll_seconds
        self._telemetry = telemetry
        self._clients: dict[str, set[Subscription]] = {}
        self._cursor: int | None = None
        self._gaps: dict[int, float] = {}  # seq -> when first missed
        self._task: asyncio.Task[None] | None = None
        self._someone = asyncio.Event()

    @property
    def clients(self) -> int:
        return sum(len(subs) for subs in self._clients.values())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def stream(
        self, tenant: str, last_event_id: str | None, transport: str
    ) -> AsyncIterator[list[Pushed]]:
        """The tenant's events, a batch at a time (what is waiting when the client is ready,
        sent in one write): those after ``last_event_id`` from the outbox, then live ones,
        until the caller stops iterating (or the client is too slow: it ends, to reconnect)."""
        if self._task is None:
            self._cursor = await self._log.last_seq()
            self._task = asyncio.create_task(self._run(), name="event hub")
        subscription = Subscription(tenant)
        self._clients.setdefault(tenant, set()).add(subscription)
        self._someone.set()
        self._count(transport, 1)
        sent: set[int] = set()
        try:
            if last_event_id:
                async for page in self._backlog(tenant, last_event_id):
                    sent.update(p.seq for p in page)
                    yield page
            while True:
                items = [await subscription.queue.get()]
                while not subscription.queue.empty():
                    items.append(subscription.queue.get_nowait())
                if None in items:
                    return  # too slow: dropped
                batch = [p for p in items if p is not None and p.seq not in sent]
                sent.update(p.seq for p in batch)
                if len(sent) > 4 * READ_LIMIT:  # a late event is at most a few reads late
                    top = max(sent)
                    sent = {s for s in sent if s > top - 2 * READ_LIMIT}
                if batch:
                    yield batch
        finally:  # (a client dropped for being slow may have left the set already)
            clients = self._clients.get(tenant, set())
            clients.discard(subscription)
            if not clients:
                self._clients.pop(tenant, None)
            self._count(transport, -1)

    async def _backlog(self, tenant: str, last_event_id: str) -> AsyncIterator[list[Pushed]]:
        """The tenant's events after that one, from the outbox, a page at a time."""
        seq = await self._log.seq_of(tenant, last_event_id)
        while seq is not None:
            page = await self._log.after(tenant, seq, READ_LIMIT)
            if page:
                yield [Pushed.of(number, event) for number, event in page]
            seq = page[-1][0] if len(page) == READ_LIMIT else None

    def _count(self, transport: str, change: int) -> None:
        if self._telemetry is not None:
            self._telemetry.stream_clients(transport, change)

    async def _run(self) -> None:
        heard = self._changes.current()
        last_read = 0.0
        while True:
            if not self._clients:
                self._someone.clear()
                await self._someone.wait()
            now = self._changes.current()
            due = time.monotonic() - last_read >= self._poll_seconds
            if now != heard or now is None or due:
                heard, last_read = now, time.monotonic()
                try:
                    await self.read()
                except ServiceUnavailableError as exc:
                    logger.warning("event stream: the outbox not read: {}", exc)
                except Exception:  # a bug must not end every stream
                    logger.exception("event stream: reading the outbox failed")
            await asyncio.sleep(HEARD_SECONDS)

    async def read(self) -> int:
        """Hand out the events committed since the last read; how many."""
        cursor = self._cursor or 0
        found = await self._log.since(cursor, READ_LIMIT)
        if self._gaps:
            found += await self._log.among(sorted(self._gaps))
        if not found and await self._log.last_seq() < cursor:
            self._cursor = 0  # the outbox was emptied and numbering began again
            return 0
        now = time.monotonic()
        seen = {seq for seq, _ in found}
        for seq in seen:
            self._gaps.pop(seq, None)
        top = max([cursor, *seen])
        for seq in range(cursor + 1, top):
            if seq not in seen and len(self._gaps) < GAPS_MAX:
                self._gaps.setdefault(seq, now)
        self._gaps = {s: t for s, t in self._gaps.items() if now - t < GAP_SECONDS}
        self._cursor = top
        for seq, event in sorted(found, key=lambda item: item[0]):
            subscribed = list(self._clients.get(event.tenant, ()))
            pushed = Pushed.of(seq, event) if subscribed else None
            for subscription in subscribed:
                try:
                    subscription.queue.put_nowait(pushed)
                except asyncio.QueueFull:
                    self._drop(subscription)
        return len(found)

    def _drop(self, subscription: Subscription) -> None:
        """A client that does not keep up: its stream ends (it reconnects and resumes)."""
        self._clients.get(subscription.tenant, set()).discard(subscription)
        while not subscription.queue.empty():
            subscription.queue.get_nowait()
        subscription.queue.put_nowait(None)


class StreamTokens:
    """Short-lived tokens for clients that cannot send a header (a browser's EventSource and
    WebSocket): an authenticated POST gets one, the stream's URL carries it (``?token=``).
    Kept in the cache (Redis when configured, so every replica knows them) for TOKEN_SECONDS;
    a token opens streams of its tenant only, for as long as it lives."""

    def __init__(self, cache: Cache, clock: Clock, ttl_seconds: int = TOKEN_SECONDS) -> None:
        self._cache = cache
        self._clock = clock
        self._ttl = ttl_seconds

    async def issue(self, tenant: str) -> tuple[str, datetime]:
        token = "pst_" + secrets.token_urlsafe(32)
        await self._cache.set(TOKEN_KEY + token, tenant.encode(), self._ttl)
        return token, self._clock.now() + timedelta(seconds=self._ttl)

    async def tenant(self, token: str) -> str:
        if not token.startswith("pst_") or len(token) > 100:
            raise AuthenticationError("This stream token is not valid.")
        tenant = await self._cache.get(TOKEN_KEY + token)
        if tenant is None:
            raise AuthenticationError("This stream token is not valid, or has expired.")
        return tenant.decode()
