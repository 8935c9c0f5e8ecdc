"""A rendered document, cached in two levels: a pointer (the ETag) in the shared cache and the
bytes both in the shared cache (under the ETag) and in this process.

A request then costs one small cache read: when the pointer names the bytes this process
already holds, nothing else is fetched, and an If-None-Match that names it needs no body at
all. ``portfolio_changed`` deletes the pointer (every write calls it), so every process renders
anew."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from portfolio.ports.cache import Cache
from portfolio.ports.telemetry import Telemetry


@dataclass(frozen=True, slots=True)
class Rendered:
    etag: str
    body: bytes | None  # None when the caller said it already has this version


class RenderedDocument:
    def __init__(
        self, cache: Cache, key: str, ttl_seconds: float, telemetry: Telemetry | None = None
    ) -> None:
        """``ttl_seconds``: how long a rendering may serve at most (the freshness of what it
        shows), changed or not."""
        self._cache = cache
        self._key = key
        self._ttl = ttl_seconds
        self._telemetry = telemetry
        # tenant -> (etag, body) held by this process; bounded by the tenants it serves
        self._local: dict[str, tuple[str, bytes]] = {}

    async def get(
        self,
        tenant: str,
        render: Callable[[], Awaitable[bytes]],
        if_none_match: str | None = None,
    ) -> Rendered:
        """The tenant's document (each tenant has its own, and its own ETag)."""
        pointer_key = f"{self._key}:{tenant}"
        pointer = await self._cache.get(pointer_key)
        if self._telemetry is not None:
            self._telemetry.cache_lookup(
                "portfolio", int(pointer is not None), int(pointer is None)
            )
        if pointer is not None:
            etag = pointer.decode()
            if etag == if_none_match:
                return Rendered(etag, None)
            local = self._local.get(tenant)
            if local is not None and local[0] == etag:
                return Rendered(etag, local[1])
            body = await self._cache.get(f"{pointer_key}:{etag}")
            if body is not None:
                self._local[tenant] = (etag, body)
                return Rendered(etag, body)
        body = await render()
        # The tenant is in the tag: two tenants with equal documents get different ETags.
        digest = hashlib.blake2b(body, digest_size=16, key=tenant.encode()[:64]).hexdigest()
        etag = f'"{digest}"'
        await self._cache.set(f"{pointer_key}:{etag}", body, self._ttl)
        await self._cache.set(pointer_key, etag.encode(), self._ttl)
        self._local[tenant] = (etag, body)
        return Rendered(etag, None if etag == if_none_match else body)

    async def portfolio_changed(self, tenant: str) -> None:
        await self._cache.delete(f"{self._key}:{tenant}")
