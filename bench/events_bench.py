"""Events, pushed: through the outbox to webhooks, and to 1,000 live stream clients.

Webhooks (PostgreSQL): 1,000 events to 10 webhooks of a tenant (10,000 signed messages) are
written to the outbox, then sent by one dispatcher to a receiver on loopback; the baseline is
the same bodies POSTed by a bare httpx client at the same concurrency (no outbox, no signing,
no claims or records), in the same run.

Stream (a real uvicorn process on the embedded default, SQLite): 1,000 SSE clients connected
at once while 200 events are written to the outbox from another process; every client must get
every event. The baseline is one client, in the same run."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
from aiohttp import web
from standardwebhooks import Webhook as Verifier

from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.events import SqlEventLog
from portfolio.adapters.db.webhooks import SqlWebhookRepository
from portfolio.adapters.webhook_sender import HttpWebhookSender
from portfolio.domain.events import Event, EventType
from portfolio.domain.webhooks import message_body
from portfolio.main.container import SystemClock
from portfolio.services.webhooks import WebhookDispatcher, WebhookService
from tests.databases import fresh_postgres_database, migrate
from tests.netutil import free_port
from tests.server import running_uvicorn, server_env

EVENTS = 1_000
WEBHOOKS = 10
CONCURRENCY = 16
CLIENTS = 1_000
STREAMED = 200
TENANT = "default"  # the stream's tenant without keys


def _event(n: int) -> Event:
    change = {"before": {"raw": str(n), "amount": str(n)},
              "after": {"raw": str(n + 1), "amount": str(n + 1)}}  # fmt: skip
    data = {"wallet_id": f"w{n}", "chain": "ethereum", "tokens": [change]}
    return Event.new(EventType.BALANCES_CHANGED, TENANT, datetime.now(UTC), data)


class Receiver:
    def __init__(self) -> None:
        self.count = 0
        self.secrets: list[str] = []
        self.verified = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.count += 1
        if self.secrets and self.count % 100 == 0:  # a sample is verified as a receiver does
            for secret in self.secrets:
                try:
                    Verifier(secret).verify(body, dict(request.headers))
                except Exception:  # noqa: S112 - another webhook's secret
                    continue
                self.verified += 1
                break
        return web.Response(text="ok")

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def _webhooks() -> list[str]:
    url = await fresh_postgres_database("portfolio_bench_events")
    await migrate(url)
    engine = create_engine(url, pool_size=CONCURRENCY + 4)
    sessions = session_factory(engine)
    clock = SystemClock()
    store = SqlWebhookRepository(sessions, engine.dialect.name)
    sender = HttpWebhookSender(allow_private=True)
    try:
        async with Receiver() as receiver:
            service = WebhookService(store, clock, allow_private=True, max_webhooks=WEBHOOKS)
            for _ in range(WEBHOOKS):
                _, secret = await service.create(
                    TENANT, receiver.url, [EventType.BALANCES_CHANGED], None
                )
                receiver.secrets.append(secret)
            log = SqlEventLog(sessions)
            events = [_event(n) for n in range(EVENTS)]
            started = time.perf_counter()
            for start in range(0, EVENTS, 100):
                await log.record(events[start : start + 100])
            written = time.perf_counter() - started
            dispatcher = WebhookDispatcher(
                store, sender, clock, disable_after=timedelta(hours=72), concurrency=CONCURRENCY
            )
            started = time.perf_counter()
            while await dispatcher.run_once():
                pass
            sent = time.perf_counter() - started
            messages = EVENTS * WEBHOOKS
            assert receiver.count == messages, receiver.count
            assert receiver.verified == messages // 100, receiver.verified
            baseline = await _bare_posts(receiver, events)
    finally:
        await sender.close()
        await engine.dispose()
    return [
        f"webhooks: {EVENTS:,} events to {WEBHOOKS} webhooks = {messages:,} messages "
        f"(PostgreSQL, {CONCURRENCY} at a time)",
        f"  outbox written: {EVENTS / written:,.0f} events/s "
        f"({messages / written:,.0f} messages/s queued with them)",
        f"  delivered, signed, recorded: {messages / sent:,.0f} messages/s "
        f"({EVENTS / sent:,.0f} events/s to all {WEBHOOKS})",
        f"  baseline, bare POSTs of the same bodies: {messages / baseline:,.0f}/s; the "
        f"service sends at {baseline / sent:.2f} of that rate",
    ]


async def _bare_posts(receiver: Receiver, events: list[Event]) -> float:
    """The same number of POSTs, unsigned, straight from a client: the network's own cost."""
    bodies = [message_body(e.type.value, e.at, e.data).encode() for e in events] * WEBHOOKS
    receiver.secrets = []  # nothing to verify
    gate = asyncio.Semaphore(CONCURRENCY)
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:

        async def post(body: bytes) -> None:
            async with gate:
                (await client.post(receiver.url, content=body)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(post(b) for b in bodies))
        return time.perf_counter() - started


async def _client(host: str, port: int, want: int, connected: asyncio.Event | None) -> float:
    """One SSE client on a raw connection; when it had every event (monotonic time)."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET /api/v1/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Accept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    got = 0
    try:
        while got < want:
            line = await reader.readline()
            if not line:
                raise ConnectionError("the stream ended")
            if connected is not None and line.startswith(b"HTTP/1.1 200"):
                connected.set()
            if line.startswith(b"event: "):
                got += 1
        return time.monotonic()
    finally:
        writer.close()


async def _stream_pass(server_url: str, database_url: str, clients: int) -> tuple[float, float]:
    """Seconds from the first event written to the last client having all; and from the last
    event written."""
    host, port = server_url.removeprefix("http://").split(":")
    connected = [asyncio.Event() for _ in range(clients)]
    tasks = [
        asyncio.create_task(_client(host, int(port), STREAMED, connected[n]))
        for n in range(clients)
    ]
    await asyncio.wait_for(asyncio.gather(*(c.wait() for c in connected)), 60)
    await asyncio.sleep(1.5)  # each handler subscribed (just after its headers)
    engine = create_engine(database_url, pool_size=1)
    log = SqlEventLog(session_factory(engine))
    try:
        started = time.monotonic()
        for start in range(0, STREAMED, 20):
            await log.record([_event(n) for n in range(start, start + 20)])
            await asyncio.sleep(0.05)
        written = time.monotonic()
        done = await asyncio.wait_for(asyncio.gather(*tasks), 120)
    finally:
        await engine.dispose()
    return max(done) - started, max(done) - written


async def _streams() -> list[str]:
    with TemporaryDirectory() as directory:
        workdir = Path(directory)
        env = server_env(workdir)
        with running_uvicorn(env, workdir) as server:
            database = env["PORTFOLIO_DATABASE_URL"]
            one, one_tail = await _stream_pass(server.url, database, 1)
            many, many_tail = await _stream_pass(server.url, database, CLIENTS)
            rss = server.rss_kib() / 1024
    return [
        f"stream: {STREAMED} events written to the outbox in batches of 20 while SSE clients "
        "listen (uvicorn, SQLite)",
        f"  {CLIENTS:,} clients: {STREAMED * CLIENTS / many:,.0f} events delivered/s, every "
        f"client had every event {many_tail * 1000:,.0f} ms after the last was written; "
        f"server RSS {rss:,.0f} MiB",
        f"  baseline, 1 client: {STREAMED / one:,.0f} events/s (the write rate), "
        f"{one_tail * 1000:,.0f} ms after the last; {CLIENTS:,} clients get "
        f"{STREAMED * CLIENTS / many / (STREAMED / one):,.0f}x its deliveries/s",
    ]


async def run() -> list[str]:
    return [*await _webhooks(), *await _streams()]
