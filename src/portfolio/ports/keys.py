"""Where API keys are kept."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from portfolio.domain.keys import ApiKey
from portfolio.ports.announcements import Announcements


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def get(self, key_id: UUID) -> ApiKey | None: ...

    async def list(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""

    async def revoke(self, key_id: UUID, at: datetime) -> bool:
        """False when there is no such key."""


# A count that changes whenever a key is revoked anywhere (announce: a key was revoked).
Revocations = Announcements
