from __future__ import annotations

from portfolio.adapters.cache.memory import MemoryCache
from portfolio.api.rendered import RenderedDocuments


class Renderer:
    def __init__(self) -> None:
        self.calls = 0
        self.version = b"v1"

    async def __call__(self) -> bytes:
        self.calls += 1
        return self.version


async def test_processes_share_one_rendering_until_a_write_deletes_the_pointer() -> None:
    shared = MemoryCache()  # stands for Redis: shared by both "processes"
    one, two = RenderedDocuments(shared), RenderedDocuments(shared)
    render = Renderer()
    first = await one.get("doc", render, 60)
    assert (await two.get("doc", render, 60)) == first
    assert render.calls == 1
    assert (await two.get("doc", render, 60, first.etag)).body is None  # If-None-Match
    await shared.delete("doc")  # what a write does
    render.version = b"v2"
    second = await two.get("doc", render, 60, first.etag)
    assert second.body == b"v2"
    assert second.etag != first.etag
    assert (await one.get("doc", render, 60)).body == b"v2"
    assert render.calls == 2
