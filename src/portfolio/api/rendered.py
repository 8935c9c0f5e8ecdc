"""Rendered documents, cached in two levels: a pointer (the ETag) in the shared cache and the
bytes both in the shared cache (under the ETag) and in this process.

A request then costs one small cache read: when the pointer names the bytes this process
already holds, nothing else is fetched, and an If-None-Match that names it needs no body at
all. Deleting the pointer (as every write does) makes every process render anew."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from portfolio.ports.cache import Cache


@dataclass(frozen=True, slots=True)
class Rendered:
    etag: str
    body: bytes | None  # None when the caller said it already has this version


class RenderedDocuments:
    def __init__(self, cache: Cache) -> None:
        self._cache = cache
        self._local: dict[str, tuple[str, bytes]] = {}  # pointer key -> (etag, body)

    async def get(
        self,
        key: str,
        render: Callable[[], Awaitable[bytes]],
        ttl_seconds: float,
        if_none_match: str | None = None,
    ) -> Rendered:
        pointer = await self._cache.get(key)
        if pointer is not None:
            etag = pointer.decode()
            if etag == if_none_match:
                return Rendered(etag, None)
            local = self._local.get(key)
            if local is not None and local[0] == etag:
                return Rendered(etag, local[1])
            body = await self._cache.get(f"{key}:{etag}")
            if body is not None:
                self._local[key] = (etag, body)
                return Rendered(etag, body)
        body = await render()
        etag = f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'
        await self._cache.set(f"{key}:{etag}", body, ttl_seconds)
        await self._cache.set(key, etag.encode(), ttl_seconds)
        self._local[key] = (etag, body)
        return Rendered(etag, None if etag == if_none_match else body)
