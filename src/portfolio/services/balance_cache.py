"""Wallets' stored balances in the cache, written through by every read of the chain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import timedelta
from uuid import UUID

from portfolio.domain.balances import WalletBalances
from portfolio.ports.cache import Cache
from portfolio.ports.telemetry import Telemetry
from portfolio.services.codec import decode_balances, encode_balances


def balances_key(wallet_id: UUID) -> str:
    return f"balances:{wallet_id}"


class BalanceCache:
    def __init__(
        self, cache: Cache, freshness: timedelta, telemetry: Telemetry | None = None
    ) -> None:
        """Entries live as long as balances stay fresh."""
        self._cache = cache
        self._ttl = freshness.total_seconds()
        self._telemetry = telemetry

    async def get(self, wallet_id: UUID) -> WalletBalances | None:
        data = await self._cache.get(balances_key(wallet_id))
        if self._telemetry is not None:
            self._telemetry.cache_lookup("balances", int(data is not None), int(data is None))
        return None if data is None else decode_balances(data)

    async def put(self, snapshots: Mapping[UUID, WalletBalances]) -> None:
        encoded = {balances_key(i): encode_balances(s) for i, s in snapshots.items()}
        await self._cache.set_many(encoded, self._ttl)

    async def drop(self, wallet_ids: Sequence[UUID]) -> None:
        await self._cache.delete_many([balances_key(i) for i in wallet_ids])

    def lock(
        self, key: str, *, ttl_seconds: float, wait_seconds: float
    ) -> AbstractAsyncContextManager[None]:
        """The cache's lock: across processes where the cache is shared."""
        return self._cache.lock(key, ttl_seconds=ttl_seconds, wait_seconds=wait_seconds)
