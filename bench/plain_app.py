"""A plain FastAPI app, no middleware: the ceiling the service's per-request cost is measured
against. ``/trivial`` answers a small JSON object; ``/bytes`` answers the file named by
BENCH_DOCUMENT (the service's portfolio document, written by the bench) as raw bytes."""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Response


def create_plain_app() -> FastAPI:
    app = FastAPI()
    document = Path(os.environ["BENCH_DOCUMENT"]).read_bytes()

    @app.get("/trivial")
    async def trivial() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/bytes")
    async def as_bytes() -> Response:
        return Response(document, media_type="application/json")

    return app
