"""The cache port: bytes under keys with a lifetime, and a lock for single flight."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_seconds: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def delete_many(self, keys: Sequence[str]) -> None: ...

    async def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        """The values of the keys that are present, in one round trip."""

    async def set_many(self, items: Mapping[str, bytes], ttl_seconds: float) -> None: ...

    def lock(
        self, key: str, *, ttl_seconds: float, wait_seconds: float
    ) -> AbstractAsyncContextManager[None]:
        """Hold ``key`` exclusively (across processes where the cache is shared).

        The lock frees itself after ``ttl_seconds`` should its holder die; waiting longer than
        ``wait_seconds`` raises LockTimeoutError.
        """
