"""Kubernetes probes and the health detail."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse

from portfolio.api.dependencies import Health
from portfolio.api.schemas import CheckOut, HealthOut, Liveness
from portfolio.services.health import HealthReport, Status

TAGS: list[str] = ["system"]
LIVE = Liveness(status="pass").model_dump_json().encode()
_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": HealthOut, "description": "A dependency is not answering"}
}


async def live() -> Response:
    """200 while the process can serve requests. Checks no dependency."""
    return Response(LIVE, media_type="application/json")  # rendered once: probes are many


async def ready(health: Health) -> JSONResponse:
    """200 when the database (and Redis, when configured) answer; 503 otherwise."""
    report = await health.report()
    return _render(report, 200 if report.ready else 503)


async def detail(health: Health) -> JSONResponse:
    """Every check with its latency; status ``warn`` when only an optional dependency fails."""
    report = await health.report()
    return _render(report, 503 if report.status is Status.FAIL else 200)


def _render(report: HealthReport, status_code: int) -> JSONResponse:
    body = HealthOut(
        status=report.status,
        checks={
            name: CheckOut(status=r.status, latency_ms=r.latency_ms, detail=r.detail)
            for name, r in report.checks.items()
        },
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code)


def add_routes(app: FastAPI, prefix: str, *, include_in_schema: bool = True) -> None:
    """The probes as routes of the app itself, not an included router: they are matched
    before any router is (each router FastAPI tries costs a request measurably, make bench),
    and probes are the most frequent requests a service gets."""
    suffix = "" if include_in_schema else "-root"  # ids stay unique, documented or not
    common: dict[str, Any] = {"methods": ["GET"], "tags": TAGS,
                              "include_in_schema": include_in_schema}  # fmt: skip
    app.add_api_route(
        f"{prefix}/health/live", live, summary="Liveness probe", response_model=Liveness,
        operation_id=f"health-live{suffix}", **common,
    )  # fmt: skip
    app.add_api_route(
        f"{prefix}/health/ready", ready, summary="Readiness probe", response_model=HealthOut,
        responses=_UNAVAILABLE,
        operation_id=f"health-ready{suffix}", **common,
    )  # fmt: skip
    app.add_api_route(
        f"{prefix}/health", detail, summary="Health detail", response_model=HealthOut,
        responses=_UNAVAILABLE, operation_id=f"health-detail{suffix}", **common,
    )  # fmt: skip
