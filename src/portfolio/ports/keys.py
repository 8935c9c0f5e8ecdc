"""Where API keys are kept."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from portfolio.domain.keys import ApiKey


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def get(self, key_id: UUID) -> ApiKey | None: ...

    async def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""

    async def revoke(self, key_id: UUID, at: datetime) -> bool:
        """False when there is no such key."""


class Revocations(Protocol):
    def current(self) -> int | None:
        """A count that changes whenever a key is revoked anywhere; None when revocations
        cannot be followed now (then no cached key may be trusted)."""

    async def announce(self) -> None:
        """Tell every process that a key was revoked."""
