"""Delivering webhook messages on both databases, to a real receiver, on a clock the test
moves: retries on the schedule with the same id, a worker killed mid-send loses nothing, an
endpoint failing for too long is disabled with the reason, and the metrics count it all."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.events import SqlEventLog
from portfolio.adapters.db.webhooks import SqlWebhookRepository
from portfolio.adapters.telemetry import PrometheusTelemetry
from portfolio.adapters.webhook_sender import HttpWebhookSender
from portfolio.domain.events import Event, EventType
from portfolio.domain.webhooks import RETRY_DELAYS
from portfolio.services.webhooks import LEASE, WebhookDispatcher, WebhookService
from tests.fakes import FakeClock
from tests.receiver import Receiver, receiver

T0 = datetime(2026, 6, 1, tzinfo=UTC)


class Rig:
    def __init__(self, engine: AsyncEngine, hook: Receiver) -> None:
        sessions = session_factory(engine)
        self.clock = FakeClock(T0)
        self.store = SqlWebhookRepository(sessions, engine.dialect.name)
        self.log = SqlEventLog(sessions)
        self.hook = hook
        self.registry = CollectorRegistry()
        self.telemetry = PrometheusTelemetry(self.registry)
        self.sender = HttpWebhookSender(allow_private=True)
        self.service = WebhookService(self.store, self.clock, allow_private=True)

    def dispatcher(self) -> WebhookDispatcher:
        return WebhookDispatcher(
            self.store, self.sender, self.clock, disable_after=timedelta(hours=72),
            telemetry=self.telemetry,
        )  # fmt: skip

    async def event(self, n: int) -> Event:
        event = Event.new(EventType.BALANCES_CHANGED, "acme", self.clock.now(), {"n": n})
        await self.log.record([event])
        return event

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


async def test_a_failing_receiver_is_retried_on_schedule_then_disabled(
    db_engine: AsyncEngine,
) -> None:
    with receiver() as hook:
        rig = Rig(db_engine, hook)
        hook.status = 500
        webhook, _ = await rig.service.create("acme", hook.url, [EventType.BALANCES_CHANGED], None)
        dispatcher = rig.dispatcher()
        event = await rig.event(1)
        assert await dispatcher.run_once() == 1
        for delay in RETRY_DELAYS:
            assert await dispatcher.run_once() == 0  # not yet due
            rig.clock.advance(seconds=delay.total_seconds())
            assert await dispatcher.run_once() == 1
        rig.clock.advance(days=2)
        assert await dispatcher.run_once() == 0  # given up after its last retry
        assert {r.headers["webhook-id"] for r in hook.got()} == {event.id}
        assert len(hook.got()) == 1 + len(RETRY_DELAYS)
        shown = await rig.service.get("acme", webhook.id)
        assert shown.enabled  # failing since T0, for 36 hours: not yet 72
        assert shown.failing_since == T0
        rig.clock.advance(days=2)
        await rig.event(2)
        assert await dispatcher.run_once() == 1  # fails, 84 hours after the first failure
        shown = await rig.service.get("acme", webhook.id)
        assert not shown.enabled
        assert "failed for 72 hours" in (shown.disabled_reason or "")
        assert "status 500" in (shown.disabled_reason or "")
        await rig.event(3)  # nothing more is queued for a disabled webhook
        rig.clock.advance(days=1)
        assert await dispatcher.run_once() == 0
        failed = rig.metric("portfolio_webhook_deliveries_total", outcome="failed")
        assert failed == len(hook.got()) == 2 + len(RETRY_DELAYS)
        assert rig.metric("portfolio_webhooks_disabled_total") == 1
        tries = await rig.store.attempts(webhook.id, 100)
        assert len(tries) == len(hook.got())
        assert all(len(t.response or "") <= 1024 for t in tries)
        await rig.sender.close()


async def test_a_worker_killed_mid_send_loses_nothing(db_engine: AsyncEngine) -> None:
    with receiver() as hook:
        rig = Rig(db_engine, hook)
        await rig.service.create("acme", hook.url, [EventType.BALANCES_CHANGED], None)
        event = await rig.event(1)
        hook.delay = 2.0  # answers slowly: the first worker dies before it hears back
        first = asyncio.create_task(rig.dispatcher().run_once())
        await hook.wait_for(1)
        first.cancel()  # killed: it never recorded the try
        hook.delay = 0.0
        second = rig.dispatcher()
        assert await second.run_once() == 0  # still held by the dead worker's claim
        rig.clock.advance(seconds=LEASE.total_seconds() + 1)
        assert await second.run_once() == 1
        assert [r.headers["webhook-id"] for r in hook.got()] == [event.id, event.id]
        assert hook.got()[0].body == hook.got()[1].body
        rig.clock.advance(days=1)
        assert await second.run_once() == 0  # delivered: never sent again
        await second.measure()
        assert rig.metric("portfolio_webhook_oldest_undelivered_age_seconds") == 0
        assert rig.metric("portfolio_webhook_deliveries_total", outcome="delivered") == 1
        await rig.sender.close()


async def test_the_oldest_undelivered_age_is_measured(db_engine: AsyncEngine) -> None:
    with receiver() as hook:
        rig = Rig(db_engine, hook)
        hook.status = 503
        await rig.service.create("acme", hook.url, [EventType.BALANCES_CHANGED], None)
        await rig.event(1)
        dispatcher = rig.dispatcher()
        await dispatcher.run_once()
        rig.clock.advance(minutes=3)
        await dispatcher.measure()
        assert rig.metric("portfolio_webhook_oldest_undelivered_age_seconds") == 180
        await rig.sender.close()


async def test_the_address_is_checked_when_the_name_is_resolved_to_send() -> None:
    """A name that resolves to loopback (``localhost`` here; a public name an attacker points
    at 127.0.0.1 alike) is refused at send time unless private targets are allowed; link-local
    never; the request goes to the address checked."""
    with receiver() as hook:
        port = hook.url.rsplit(":", 1)[1].split("/")[0]
        strict, lenient = (
            HttpWebhookSender(allow_private=False),
            HttpWebhookSender(allow_private=True),
        )
        try:
            refused = await strict.send(f"https://localhost:{port}/hook", {}, b"{}")
            assert refused.status_code is None
            assert refused.error == "refused: the host resolves to a loopback address"
            plain = await strict.send(hook.url, {}, b"{}")
            assert plain.error == "refused: the scheme 'http' is not allowed"
            metadata = await lenient.send("http://169.254.169.254/latest", {}, b"{}")
            assert metadata.error == "refused: the host resolves to a link-local address"
            assert hook.got() == []
            sent = await lenient.send(f"http://localhost:{port}/hook", {"x-test": "1"}, b"{}")
            assert sent.delivered
            (got,) = hook.got()
            headers = {k.lower(): v for k, v in got.headers.items()}
            assert headers["host"] == f"localhost:{port}"
            assert headers["x-test"] == "1"
        finally:
            await strict.close()
            await lenient.close()
