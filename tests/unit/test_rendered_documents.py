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
