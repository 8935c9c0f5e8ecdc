"""The authenticator's process cache: no database query on the hot path, and a revocation
seen at once by every process that shares the cache."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import pytest

from portfolio.adapters.cache.announcements import NoRevocations
from portfolio.domain.errors import AuthenticationError
from portfolio.domain.keys import ApiKey, Principal, new_key, parse_presented
from portfolio.services.auth import Authenticator, KeyService
from tests.fakes import FakeClock


class CountingKeys:
    def __init__(self) -> None:
        self.keys: dict[UUID, ApiKey] = {}
        self.gets = 0

    async def add(self, key: ApiKey) -> None:
        self.keys[key.id] = key

    async def get(self, key_id: UUID) -> ApiKey | None:
        self.gets += 1
        return self.keys.get(key_id)

    async def list(self) -> list[ApiKey]:
        return list(self.keys.values())

    async def revoke(self, key_id: UUID, at: datetime) -> bool:
        key = self.keys.get(key_id)
        if key is None:
            return False
        self.keys[key_id] = ApiKey(
            key.id, key.tenant, key.read_only, key.secret_hash, key.created_at, at
        )
        return True


class Channel:
    """Stands for the Redis channel: every process hears each announcement."""

    def __init__(self) -> None:
        self.heard: int | None = 0

    def current(self) -> int | None:
        return self.heard

    async def announce(self) -> None:
        assert self.heard is not None
        self.heard += 1


async def test_a_known_key_costs_no_query_and_a_revocation_reaches_every_process() -> None:
    store, channel = CountingKeys(), Channel()
    keys = KeyService(store, channel, FakeClock())
    one = Authenticator(store, channel)
    two = Authenticator(store, channel)
    key, text = await keys.create("acme", read_only=True)
    assert await one.principal(text) == Principal("acme", True, key.id)
    await two.principal(text)
    asked = store.gets
    for _ in range(50):
        await one.principal(text)
        await two.principal(text)
    assert store.gets == asked  # the hot path asked the database nothing
    await keys.revoke(key.id)
    for process in (one, two):
        with pytest.raises(AuthenticationError):
            await process.principal(text)


async def test_while_revocations_cannot_be_followed_every_lookup_reads_the_store() -> None:
    store, channel = CountingKeys(), Channel()
    channel.heard = None  # no Redis, or Redis away
    keys = KeyService(store, NoRevocations(), FakeClock())
    alone = Authenticator(store, channel)
    key, text = await keys.create("acme")
    await alone.principal(text)
    await alone.principal(text)
    assert store.gets == 2
    await store.revoke(key.id, FakeClock().now())  # by another process: only the store knows
    with pytest.raises(AuthenticationError):
        await alone.principal(text)


@pytest.mark.parametrize(
    "presented", [None, "", "pf_", "Bearer x", "pf_" + "g" * 32 + "_" + "a" * 43]
)
async def test_anything_but_a_key_is_refused(presented: str | None) -> None:
    with pytest.raises(AuthenticationError):
        await Authenticator(CountingKeys(), Channel()).principal(presented)


def test_a_key_is_random_and_only_its_hash_is_kept() -> None:
    first, text = new_key("acme", False, FakeClock().now())
    second, other = new_key("acme", False, FakeClock().now())
    assert text != other
    parsed = parse_presented(text)
    assert parsed is not None
    key_id, secret = parsed
    assert key_id == first.id
    assert secret not in repr(first)
    assert len(secret) == 43  # 256 random bits
    assert first.opens_with(secret)
    assert not second.opens_with(secret)
    with pytest.raises(ValueError, match="tenant"):
        new_key("no spaces please", False, FakeClock().now())


async def test_the_hook_before_a_lookup_runs_only_when_the_database_is_asked() -> None:
    """What runs before a lookup (the failed-authentication limit) costs a held key nothing,
    and may refuse an unknown one before the database is asked."""
    store, channel = CountingKeys(), Channel()
    key, text = await KeyService(store, channel, FakeClock()).create("acme")
    process = Authenticator(store, channel)
    ran = 0

    async def before_lookup() -> None:
        nonlocal ran
        ran += 1

    await process.principal(text, before_lookup)
    assert (ran, store.gets) == (1, 1)
    for _ in range(10):
        await process.principal(text, before_lookup)
    assert (ran, store.gets) == (1, 1)  # held: no lookup, no hook

    async def refuse() -> None:
        raise RuntimeError("refused")

    unknown = f"pf_{UUID(int=5).hex}_{'x' * 43}"
    with pytest.raises(RuntimeError):
        await process.principal(unknown, refuse)
    assert store.gets == 1  # refused before the database was asked
    assert key.tenant == "acme"
