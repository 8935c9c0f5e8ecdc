"""A rendered document, cached in two levels: a pointer (the ETag) in the shared cache and the
bytes both in the shared cache (under the ETag) and in this process.

A request costs no cache read at all while this process holds the tenant's document, was told
of no change since it read the pointer (``changes``: announced to every process), and read it
less than LOCAL_TRUST_SECONDS ago; else one small read of the pointer, and the bytes only when
the pointer names others than those held. An If-None-Match that names the current ETag needs no
body. ``portfolio_changed`` (every write calls it) deletes the pointer and announces it, so
every process renders or fetches anew."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from loguru import logger

from portfolio.ports.announcements import Announcements
from portfolio.ports.cache import Cache
from portfolio.ports.telemetry import Telemetry

LOCAL_TRUST_SECONDS = 1.0  # bounds how long a lost announcement can leave a copy unchecked


@dataclass(frozen=True, slots=True)
class _Held:
    etag: str
    body: bytes
    heard: int | None  # the announcements' count when the pointer was read
    until: float  # monotonic time the copy is trusted until


@dataclass(frozen=True, slots=True)
class Rendered:
    etag: str
    body: bytes | None  # None when the caller said it already has this version


class RenderedDocument:
    def __init__(
        self,
        cache: Cache,
        key: str,
        ttl_seconds: float,
        telemetry: Telemetry | None = None,
        changes: Announcements | None = None,
    ) -> None:
        """``ttl_seconds``: how long a rendering may serve at most (the freshness of what it
        shows), changed or not. Without ``changes`` every request reads the pointer."""
        self._cache = cache
        self._key = key
        self._ttl = ttl_seconds
        self._telemetry = telemetry
        self._changes = changes
        # tenant -> the document this process holds; bounded by the tenants it serves
        self._local: dict[str, _Held] = {}

    async def get(
        self,
        tenant: str,
        render: Callable[[], Awaitable[bytes]],
        if_none_match: str | None = None,
    ) -> Rendered:
        """The tenant's document (each tenant has its own, and its own ETag)."""
        heard = self._changes.current() if self._changes is not None else None
        held = self._local.get(tenant)
        if (
            held is not None
            and heard is not None
            and held.heard == heard
            and time.monotonic() < held.until
        ):
            self._looked_up(hit=True)
            return Rendered(held.etag, None if held.etag == if_none_match else held.body)
        pointer_key = f"{self._key}:{tenant}"
        pointer = await self._cache.get(pointer_key)
        self._looked_up(hit=pointer is not None)
        if pointer is not None:
            etag = pointer.decode()
            if held is not None and held.etag == etag:
                self._hold(tenant, etag, held.body, heard)
                return Rendered(etag, None if etag == if_none_match else held.body)
            if etag == if_none_match:
                return Rendered(etag, None)
            body = await self._cache.get(f"{pointer_key}:{etag}")
            if body is not None:
                self._hold(tenant, etag, body, heard)
                return Rendered(etag, body)
        body = await render()
        etag = etag_of(tenant, body)
        await self._cache.set(f"{pointer_key}:{etag}", body, self._ttl)
        await self._cache.set(pointer_key, etag.encode(), self._ttl)
        self._hold(tenant, etag, body, heard)
        return Rendered(etag, None if etag == if_none_match else body)

    async def portfolio_changed(self, tenant: str) -> None:
        self._local.pop(tenant, None)
        await self._cache.delete(f"{self._key}:{tenant}")
        if self._changes is not None:
            try:
                await self._changes.announce()
            except Exception as exc:  # the channel is away: the others look again within 1 s
                logger.warning("portfolio change not announced: {}", type(exc).__name__)

    def _hold(self, tenant: str, etag: str, body: bytes, heard: int | None) -> None:
        """Keep the document in this process; ``heard`` is the count read before the pointer
        was, so that a change announced meanwhile makes the copy checked again."""
        until = time.monotonic() + min(LOCAL_TRUST_SECONDS, self._ttl)
        self._local[tenant] = _Held(etag, body, heard, until)

    def _looked_up(self, *, hit: bool) -> None:
        if self._telemetry is not None:
            self._telemetry.cache_lookup("portfolio", int(hit), int(not hit))


def etag_of(tenant: str, body: bytes) -> str:
    """A document's ETag. The tenant is in the tag: two tenants with equal documents get
    different ETags."""
    digest = hashlib.blake2b(body, digest_size=16, key=tenant.encode()[:64]).hexdigest()
    return f'"{digest}"'
