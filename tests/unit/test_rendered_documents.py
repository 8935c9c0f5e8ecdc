from __future__ import annotations

from portfolio.adapters.cache.memory import MemoryCache
from portfolio.api.rendered import RenderedDocument


class Renderer:
    def __init__(self) -> None:
        self.calls = 0
        self.version = b"v1"

    async def __call__(self) -> bytes:
        self.calls += 1
        return self.version


async def test_processes_share_one_rendering_until_a_write_deletes_the_pointer() -> None:
    shared = MemoryCache()  # stands for Redis: shared by both "processes"
    one, two = RenderedDocument(shared, "doc", 60), RenderedDocument(shared, "doc", 60)
    render = Renderer()
    first = await one.get("acme", render)
    assert (await two.get("acme", render)) == first
    assert render.calls == 1
    assert (await two.get("acme", render, first.etag)).body is None  # If-None-Match
    await one.portfolio_changed("acme")  # what a write does, in one process
    render.version = b"v2"
    second = await two.get("acme", render, first.etag)
    assert second.body == b"v2"
    assert second.etag != first.etag
    assert (await one.get("acme", render)).body == b"v2"
    assert render.calls == 2


class CountingCache(MemoryCache):
    """The shared cache, counting the reads that reach it."""

    reads = 0

    async def get(self, key: str) -> bytes | None:
        self.reads += 1
        return await super().get(key)


class Channel:
    """One announcement channel heard by every "process" at once (as Redis pub/sub)."""

    def __init__(self) -> None:
        self.count: int | None = 0

    def current(self) -> int | None:
        return self.count

    async def announce(self) -> None:
        if self.count is not None:
            self.count += 1


async def test_a_held_document_is_served_without_a_cache_read_until_a_change_is_announced() -> None:
    shared, channel = CountingCache(), Channel()
    one = RenderedDocument(shared, "doc", 60, changes=channel)
    two = RenderedDocument(shared, "doc", 60, changes=channel)
    render = Renderer()
    first = await one.get("acme", render)
    await two.get("acme", render)
    reads = shared.reads
    for _ in range(5):
        assert (await two.get("acme", render)).body == b"v1"
        assert (await two.get("acme", render, first.etag)).body is None
    assert shared.reads == reads  # held: no read at all
    await one.portfolio_changed("acme")  # a write in the other process, announced
    render.version = b"v2"
    assert (await two.get("acme", render)).body == b"v2"
    assert render.calls == 2


async def test_while_announcements_cannot_be_followed_every_request_reads_the_pointer() -> None:
    shared, channel = CountingCache(), Channel()
    one = RenderedDocument(shared, "doc", 60, changes=channel)
    render = Renderer()
    await one.get("acme", render)
    channel.count = None  # not subscribed: nothing held may be trusted
    reads = shared.reads
    await one.get("acme", render)
    await one.get("acme", render)
    assert shared.reads == reads + 2
    assert render.calls == 1  # the pointer still names the held bytes: not fetched again


class AwayChannel(Channel):
    async def announce(self) -> None:
        raise ConnectionError("Redis is away")


async def test_a_change_that_cannot_be_announced_still_drops_the_held_copy() -> None:
    shared = CountingCache()
    one = RenderedDocument(shared, "doc", 60, changes=AwayChannel())
    render = Renderer()
    await one.get("acme", render)
    await one.portfolio_changed("acme")  # a write must not fail for it
    render.version = b"v2"
    assert (await one.get("acme", render)).body == b"v2"
