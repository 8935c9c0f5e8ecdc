"""Readiness and the health detail: every check runs concurrently under one deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from portfolio.domain.errors import NotReadyError
from portfolio.ports.health import HealthCheck
from portfolio.services.recent import Recent


class Status(StrEnum):
    PASS = "pass"  # noqa: S105 - a health status, not a password
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class CheckResult:
    status: Status
    latency_ms: float
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: Status
    checks: dict[str, CheckResult]

    @property
    def ready(self) -> bool:
        """Ready unless a critical check failed: an optional dependency that is down (reads
        work without it) must not pull every replica out of service at once."""
        return self.status is not Status.FAIL


class HealthService:
    """``critical`` checks fail the whole report (and readiness); the others only make it
    ``warn``. The dependencies' results serve for ``cache_seconds`` (probes and health pages
    are unauthenticated and may be many: one round of checks per interval, shared by every
    caller); a check marked ``instant`` (the process stopping) is asked every time."""

    def __init__(
        self,
        critical: Sequence[HealthCheck],
        optional: Sequence[HealthCheck],
        timeout: float,
        cache_seconds: float = 0.0,
    ) -> None:
        self._critical = list(critical)
        self._optional = list(optional)
        self._timeout = timeout
        checks = [*self._critical, *self._optional]
        self._instant = [c for c in checks if getattr(c, "instant", False)]
        shared = [c for c in checks if c not in self._instant]
        self._recent = Recent(lambda: self._run_all(shared), cache_seconds)

    async def report(self) -> HealthReport:
        by_name = {**await self._recent.get(), **await self._run_all(self._instant)}
        results = list(by_name.values())
        critical_ok = all(by_name[c.name].status is Status.PASS for c in self._critical)
        if not critical_ok:
            status = Status.FAIL
        elif all(r.status is Status.PASS for r in results):
            status = Status.PASS
        else:
            status = Status.WARN
        return HealthReport(status, by_name)

    async def _run_all(self, checks: list[HealthCheck]) -> dict[str, CheckResult]:
        results = await asyncio.gather(*(self._run(check) for check in checks))
        return {check.name: result for check, result in zip(checks, results, strict=True)}

    async def _run(self, check: HealthCheck) -> CheckResult:
        """The check's result within the deadline, whatever the check does.

        ``asyncio.timeout`` alone is not enough: it cancels the check and then waits for the
        cancellation to finish, and a driver cleaning up a connection to a frozen server (one
        stopped, not dead) can take its own socket timeout to do so. The check runs as a task
        that is cancelled and left to finish on its own."""
        started = time.perf_counter()
        task = asyncio.ensure_future(check.check())
        done, _ = await asyncio.wait({task}, timeout=self._timeout)
        if not done:
            task.cancel()
            _ABANDONED.add(task)
            task.add_done_callback(_forget)
            return CheckResult(Status.FAIL, _ms_since(started), "timed out")
        exc = task.exception()
        if isinstance(exc, NotReadyError):  # its message is written for operators
            return CheckResult(Status.FAIL, _ms_since(started), str(exc))
        if exc is not None:  # any failure of a dependency is a failed check
            return CheckResult(Status.FAIL, _ms_since(started), type(exc).__name__)
        return CheckResult(Status.PASS, _ms_since(started))


# Abandoned checks, kept referenced until they end (the loop holds tasks only weakly).
_ABANDONED: set[asyncio.Future[None]] = set()


def _forget(task: asyncio.Future[None]) -> None:
    _ABANDONED.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: no "exception was never retrieved" warning


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
