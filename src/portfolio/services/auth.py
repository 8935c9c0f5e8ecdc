"""API keys: making, listing and revoking them, and knowing who presents one.

A request's key is looked up through a short cache in the process, so the hot path pays no
database query and no Redis call. Revocation reaches every process at once: it is announced
(a Redis channel), every process counts the announcements it hears, and a key cached before the
count changed is looked up again. A process that cannot follow the announcements (no Redis, or
Redis away) trusts no cached key and reads each from the database.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from loguru import logger

from portfolio.domain.errors import AuthenticationError
from portfolio.domain.keys import ApiKey, Principal, new_key, parse_presented
from portfolio.ports.clock import Clock
from portfolio.ports.keys import ApiKeyRepository, Revocations

# A process keeps a key this long at most, revoked or not: the bound on a revocation that could
# not be announced (Redis away when it was made, or frozen while the process still seemed to
# follow it).
CACHE_SECONDS = 10.0
CACHE_SIZE = 10_000


class KeyService:
    def __init__(self, keys: ApiKeyRepository, revocations: Revocations, clock: Clock) -> None:
        self._keys = keys
        self._revocations = revocations
        self._clock = clock

    async def create(self, tenant: str, *, read_only: bool = False) -> tuple[ApiKey, str]:
        """The new key and its text: shown once, never stored."""
        key, text = new_key(tenant, read_only, self._clock.now())
        await self._keys.add(key)
        return key, text

    async def list(self) -> list[ApiKey]:
        return await self._keys.list()

    async def revoke(self, key_id: UUID) -> bool:
        """Revoke the key; False when there is none. If the announcement cannot be made (Redis
        away), processes still holding the key refuse it within CACHE_SECONDS."""
        found = await self._keys.revoke(key_id, self._clock.now())
        try:
            await self._revocations.announce()
        except Exception as exc:  # whatever the channel raised: the key is revoked regardless
            logger.warning("revocation stored but not announced: {}", type(exc).__name__)
        return found


@dataclass
class _Cached:
    key: ApiKey | None
    heard: int  # the revocations heard when it was read
    until: float


class Authenticator:
    def __init__(self, keys: ApiKeyRepository, revocations: Revocations) -> None:
        self._keys = keys
        self._revocations = revocations
        self._known: dict[UUID, _Cached] = {}

    async def principal(
        self, presented: str | None, before_lookup: Callable[[], Awaitable[None]] | None = None
    ) -> Principal:
        """Who presents this key; AuthenticationError when it is missing, unknown, wrong or
        revoked (one answer for all: nothing tells a guesser which). ``before_lookup`` runs
        before the key is read from the database (not for a key this process holds): it may
        refuse the request first."""
        parsed = parse_presented(presented) if presented else None
        if parsed is None:
            raise AuthenticationError(
                "An API key is required (Authorization: Bearer or X-API-Key)."
            )
        key_id, secret = parsed
        key = await self._key(key_id, before_lookup)
        if key is None or key.revoked or not key.opens_with(secret):
            raise AuthenticationError("The API key is not valid.")
        return Principal(key.tenant, key.read_only, key.id)

    async def _key(
        self, key_id: UUID, before_lookup: Callable[[], Awaitable[None]] | None
    ) -> ApiKey | None:
        heard = self._revocations.current()
        now = time.monotonic()
        cached = self._known.get(key_id) if heard is not None else None
        if cached is not None and cached.heard == heard and cached.until > now:
            return cached.key
        if before_lookup is not None:
            await before_lookup()
        key = await self._keys.get(key_id)
        if heard is None:
            return key
        if len(self._known) >= CACHE_SIZE:  # many ids tried: start over rather than grow
            self._known.clear()
        self._known[key_id] = _Cached(key, heard, now + CACHE_SECONDS)
        return key
