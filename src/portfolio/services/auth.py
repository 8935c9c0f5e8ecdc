"""API keys: making, listing and revoking them, and knowing who presents one.

A request's key is looked up through a short cache in the process, so the hot path pays no
database query. Revocation reaches every process at once: revoking changes a version token in
the shared cache, and every lookup first reads that token (one small read); a changed token
empties the process's cache. Without a shared cache (the embedded default) a key management
command runs in another process that cannot reach this one's memory, so there is no process
cache then and each lookup reads the database (a local file).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from uuid import UUID, uuid4

from portfolio.domain.errors import AuthenticationError
from portfolio.domain.keys import ApiKey, Principal, new_key, parse_presented
from portfolio.ports.cache import Cache
from portfolio.ports.clock import Clock
from portfolio.ports.keys import ApiKeyRepository

VERSION_KEY = "api-keys:version"
VERSION_TTL_SECONDS = 30 * 24 * 3600
CACHE_SECONDS = 60.0  # a process keeps a key this long at most, revoked or not
CACHE_SIZE = 10_000


class KeyService:
    def __init__(self, keys: ApiKeyRepository, cache: Cache, clock: Clock) -> None:
        self._keys = keys
        self._cache = cache
        self._clock = clock

    async def create(self, tenant: str, *, read_only: bool = False) -> tuple[ApiKey, str]:
        """The new key and its text: shown once, never stored."""
        key, text = new_key(tenant, read_only, self._clock.now())
        await self._keys.add(key)
        return key, text

    async def list(self) -> list[ApiKey]:
        return await self._keys.list()

    async def revoke(self, key_id: UUID) -> bool:
        found = await self._keys.revoke(key_id, self._clock.now())
        await self._cache.set(VERSION_KEY, uuid4().bytes, VERSION_TTL_SECONDS)
        return found


@dataclass
class _Cached:
    key: ApiKey | None
    version: bytes
    until: float


class Authenticator:
    def __init__(self, keys: ApiKeyRepository, cache: Cache, *, shared_cache: bool) -> None:
        self._keys = keys
        self._cache = cache
        self._shared = shared_cache
        self._known: dict[UUID, _Cached] = {}

    async def principal(self, presented: str | None) -> Principal:
        """Who presents this key; AuthenticationError when it is missing, unknown, wrong or
        revoked (one answer for all: nothing tells a guesser which)."""
        parsed = parse_presented(presented) if presented else None
        if parsed is None:
            raise AuthenticationError(
                "An API key is required (Authorization: Bearer or X-API-Key)."
            )
        key_id, secret = parsed
        key = await self._key(key_id)
        if key is None or key.revoked or not key.opens_with(secret):
            raise AuthenticationError("The API key is not valid.")
        return Principal(key.tenant, key.read_only, key.id)

    async def _key(self, key_id: UUID) -> ApiKey | None:
        if not self._shared:
            return await self._keys.get(key_id)
        version = await self._version()
        now = time.monotonic()
        cached = self._known.get(key_id)
        if cached is not None and cached.version == version and cached.until > now:
            return cached.key
        key = await self._keys.get(key_id)
        if len(self._known) >= CACHE_SIZE:  # many ids tried: start over rather than grow
            self._known.clear()
        self._known[key_id] = _Cached(key, version, now + CACHE_SECONDS)
        return key

    async def _version(self) -> bytes:
        """The shared revocation token; a fresh one when the cache has none (or is down, when
        no cached key can be trusted and each lookup goes to the database)."""
        version = await self._cache.get(VERSION_KEY)
        if version is None:
            version = uuid4().bytes
            await self._cache.set(VERSION_KEY, version, VERSION_TTL_SECONDS)
        return version
