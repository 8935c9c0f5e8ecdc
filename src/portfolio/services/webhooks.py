"""Webhooks: a tenant's endpoints (WebhookService), and sending them their messages
(WebhookDispatcher: the workers run it, or the API process without Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID, uuid4

from loguru import logger
from standardwebhooks import Webhook as Signer

from portfolio.domain.errors import (
    QuotaExceededError,
    ServiceUnavailableError,
    ValidationError,
    WebhookNotFoundError,
)
from portfolio.domain.events import EventType, new_event_id
from portfolio.domain.webhooks import (
    DESCRIPTION_MAX,
    Attempt,
    Due,
    Outcome,
    Webhook,
    check_url,
    new_secret,
)
from portfolio.ports.clock import Clock
from portfolio.ports.telemetry import Telemetry
from portfolio.ports.webhooks import WebhookSender, WebhookStore

LEASE = timedelta(seconds=60)  # a claimed message's hold: longer than a try's 10 s timeout
POLL_SECONDS = 1.0  # how often due messages are looked for, unless nudged sooner
MEASURE_SECONDS = 10.0  # how often the oldest undelivered message's age is measured
PRUNE_BATCH = 5_000


class WebhookService:
    def __init__(
        self,
        store: WebhookStore,
        clock: Clock,
        *,
        allow_private: bool = False,
        max_webhooks: int = 20,
        nudge: asyncio.Event | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._allow_private = allow_private
        self._max_webhooks = max_webhooks
        self._nudge = nudge

    async def create(
        self, tenant: str, url: str, events: Sequence[EventType], description: str | None
    ) -> tuple[Webhook, str]:
        """A new webhook and its signing secret (the only time the secret is told)."""
        url = check_url(url, allow_private=self._allow_private)
        if not events:
            raise ValidationError("Name at least one event type.", field="events")
        if description is not None and len(description) > DESCRIPTION_MAX:
            raise ValidationError(
                f"A description has at most {DESCRIPTION_MAX} characters.", field="description"
            )
        held = await self._store.count(tenant)
        if held >= self._max_webhooks:
            raise QuotaExceededError(
                f"A tenant has at most {self._max_webhooks} webhooks "
                f"(PORTFOLIO_TENANT_MAX_WEBHOOKS); this one has {held}."
            )
        webhook = Webhook(
            uuid4(), tenant, url, tuple(dict.fromkeys(events)), description, self._clock.now()
        )
        secret = new_secret()
        await self._store.add(webhook, secret)
        return webhook, secret

    async def every(self, tenant: str) -> list[Webhook]:
        return await self._store.every(tenant)

    async def get(self, tenant: str, webhook_id: UUID) -> Webhook:
        webhook = await self._store.get(webhook_id, tenant)
        if webhook is None:
            raise WebhookNotFoundError(webhook_id)
        return webhook

    async def remove(self, tenant: str, webhook_id: UUID) -> None:
        if not await self._store.delete(webhook_id, tenant):
            raise WebhookNotFoundError(webhook_id)

    async def test(self, tenant: str, webhook_id: UUID) -> str:
        """Queue a ``ping`` to the webhook, sent like any message; its ``webhook-id``."""
        webhook = await self.get(tenant, webhook_id)
        if not webhook.enabled:
            raise ServiceUnavailableError(f"The webhook is disabled: {webhook.disabled_reason}")
        event_id = new_event_id()  # a ping is no event of the outbox, but has an id as one
        await self._store.ping(webhook, event_id, self._clock.now())
        if self._nudge is not None:
            self._nudge.set()
        return event_id

    async def deliveries(self, tenant: str, webhook_id: UUID, limit: int) -> list[Attempt]:
        await self.get(tenant, webhook_id)
        return await self._store.attempts(webhook_id, limit)


class WebhookDispatcher:
    """Sends due messages, ``concurrency`` at a time, and records each try. Several processes
    may run one: a message is claimed before it is sent (WebhookStore.claim)."""

    def __init__(
        self,
        store: WebhookStore,
        sender: WebhookSender,
        clock: Clock,
        *,
        disable_after: timedelta,
        concurrency: int = 16,
        telemetry: Telemetry | None = None,
        retention: timedelta = timedelta(hours=72),
    ) -> None:
        self._store = store
        self._sender = sender
        self._clock = clock
        self._disable_after = disable_after
        self._concurrency = concurrency
        self._telemetry = telemetry
        self._retention = retention
        self.nudge = asyncio.Event()  # set: look for due messages now

    async def run_once(self) -> int:
        """Send what is due now (a claim's worth, ``concurrency`` at a time), then record every
        try in one transaction; how many tries were made. A sender that dies before recording
        leaves its messages claimed: they are sent again once the claim runs out."""
        due = await self._store.claim(self._clock.now(), self._concurrency * 4, LEASE)
        if not due:
            return 0
        gate = asyncio.Semaphore(self._concurrency)

        async def one(message: Due) -> tuple[Due, Outcome, float]:
            async with gate:
                started = time.monotonic()
                outcome = await self._send(message)
                return message, outcome, time.monotonic() - started

        sent = await asyncio.gather(*(one(message) for message in due))
        tries = [(message, outcome) for message, outcome, _ in sent]
        try:
            disabled = await self._store.settle(tries, self._clock.now(), self._disable_after)
        except ServiceUnavailableError as exc:  # sent again once the claim runs out
            logger.warning("{} webhook tries not recorded: {}", len(tries), exc)
            return len(tries)
        for webhook_id in disabled:
            logger.warning("webhook {} disabled: failing for too long", webhook_id)
        if self._telemetry is not None:
            for _, outcome, seconds in sent:
                self._telemetry.delivery(_kind(outcome), seconds)
            for _ in disabled:
                self._telemetry.webhook_disabled()
        return len(tries)

    async def _send(self, due: Due) -> Outcome:
        sent_at = self._clock.now()
        signature = Signer(due.secret).sign(due.event_id, sent_at, due.payload)
        headers = {
            "webhook-id": due.event_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
        }
        return await self._sender.send(due.url, headers, due.payload.encode())

    async def measure(self) -> None:
        """The age of the oldest message still to deliver, for the operator's metrics."""
        if self._telemetry is None:
            return
        now = self._clock.now()
        oldest = await self._store.oldest_due(now)
        self._telemetry.oldest_undelivered_age(
            None if oldest is None else max(0.0, (now - oldest).total_seconds())
        )

    async def prune(self) -> None:
        """Drop tries and settled messages past the events' retention."""
        before = self._clock.now() - self._retention
        while await self._store.prune(before, PRUNE_BATCH) >= PRUNE_BATCH:
            pass  # a batch at a time: no long transaction

    async def run(self, poll_seconds: float = POLL_SECONDS) -> None:
        """Send due messages until cancelled; a database away is waited out."""
        measured = 0.0
        while True:
            try:
                while await self.run_once():
                    pass
                if time.monotonic() - measured >= MEASURE_SECONDS:  # not a query every poll
                    measured = time.monotonic()
                    await self.measure()
            except ServiceUnavailableError as exc:
                logger.warning("webhook deliveries paused: {}", exc)
            except Exception:  # a bug must not end the deliveries
                logger.exception("webhook deliveries failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.nudge.wait(), poll_seconds)
            self.nudge.clear()


def _kind(outcome: Outcome) -> str:
    if outcome.delivered:
        return "delivered"
    return "refused" if (outcome.error or "").startswith("refused:") else "failed"
