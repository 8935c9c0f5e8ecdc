"""Webhook ports: where webhooks and their messages are kept, and how a message is sent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

from portfolio.domain.webhooks import Attempt, Due, Outcome, Webhook


class WebhookStore(Protocol):
    async def add(self, webhook: Webhook, secret: str) -> None: ...

    async def count(self, tenant: str) -> int: ...

    async def every(self, tenant: str | None) -> list[Webhook]:
        """The tenant's webhooks (every tenant's when None), oldest first."""

    async def get(self, webhook_id: UUID, tenant: str) -> Webhook | None: ...

    async def delete(self, webhook_id: UUID, tenant: str) -> bool: ...

    async def ping(self, webhook: Webhook, event_id: str, at: datetime) -> str:
        """Queue a ``ping`` message, due now; its id."""

    async def attempts(self, webhook_id: UUID, limit: int) -> list[Attempt]: ...

    async def claim(self, now: datetime, limit: int, lease: timedelta) -> list[Due]:
        """Messages due now, each held for ``lease`` (no other claim takes it meanwhile)."""

    async def settle(
        self, tries: Sequence[tuple[Due, Outcome]], at: datetime, disable_after: timedelta
    ) -> list[UUID]:
        """Record tries and what follows; the webhooks this disabled."""

    async def oldest_due(self, now: datetime) -> datetime | None: ...

    async def prune(self, before: datetime, batch: int) -> int: ...


class WebhookSender(Protocol):
    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Outcome:
        """POST the body; never raises for what the receiver or the network did."""
