"""The service as `make bench` serves it: the real app plus one bare endpoint that answers the
same portfolio document, serialized once, as raw bytes (the ceiling to compare with)."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response

from portfolio.api.schemas import SummaryOut
from portfolio.domain.wallet import DEFAULT_TENANT
from portfolio.main.app import create_app


def create_bench_app() -> FastAPI:
    app = create_app()
    body: list[bytes] = []

    @app.get("/bench/bare", include_in_schema=False)
    async def bare(request: Request) -> Response:
        if not body:
            summary = await request.state.services.portfolio.summary(DEFAULT_TENANT)
            body.append(SummaryOut.of(summary).model_dump_json().encode())
        return Response(body[0], media_type="application/json")

    return app
