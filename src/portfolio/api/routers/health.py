"""Kubernetes probes and the health detail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from portfolio.api.dependencies import Health
from portfolio.api.schemas import CheckOut, HealthOut, Liveness
from portfolio.services.health import HealthReport, Status

router = APIRouter(prefix="/health", tags=["system"])

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": HealthOut, "description": "A dependency is not answering"}
}


@router.get("/live", summary="Liveness probe")
async def live() -> Liveness:
    """200 while the process can serve requests. Checks no dependency."""
    return Liveness(status=Status.PASS)


@router.get("/ready", summary="Readiness probe", responses=_UNAVAILABLE)
async def ready(health: Health) -> JSONResponse:
    """200 when the database (and Redis, when configured) answer; 503 otherwise."""
    report = await health.report()
    return _render(report, 200 if report.ready else 503)


@router.get("", summary="Health detail", response_model=HealthOut, responses=_UNAVAILABLE)
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
