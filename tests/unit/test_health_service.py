from __future__ import annotations

import asyncio

from portfolio.services.health import HealthService, Status
from tests.fakes import FailingHealthCheck, PassingHealthCheck


class HangingCheck:
    name = "slow"

    async def check(self) -> None:
        await asyncio.Event().wait()


async def test_all_passing_is_pass_and_ready() -> None:
    report = await HealthService([PassingHealthCheck("database")], [], 1).report()
    assert report.status is Status.PASS
    assert report.ready


async def test_a_failing_optional_check_warns_and_stays_ready() -> None:
    service = HealthService(
        [PassingHealthCheck("database")], [FailingHealthCheck("redis", ConnectionError())], 1
    )
    report = await service.report()
    assert report.status is Status.WARN
    assert report.ready
    assert report.checks["redis"].status is Status.FAIL
    assert report.checks["redis"].detail == "ConnectionError"


async def test_a_failing_critical_check_fails() -> None:
    service = HealthService([FailingHealthCheck("database", OSError())], [], 1)
    report = await service.report()
    assert report.status is Status.FAIL
    assert not report.ready


async def test_a_hanging_check_fails_at_the_deadline() -> None:
    report = await HealthService([HangingCheck()], [], 0.05).report()
    assert report.checks["slow"].status is Status.FAIL
    assert report.checks["slow"].detail == "timed out"
