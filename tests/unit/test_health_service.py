from __future__ import annotations

import asyncio

from portfolio.services.health import HealthService, Status
from portfolio.services.lifecycle import Stopping
from portfolio.services.recent import Recent
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


class CountingCheck:
    name = "database"

    def __init__(self) -> None:
        self.runs = 0
        self.failing = False

    async def check(self) -> None:
        self.runs += 1
        await asyncio.sleep(0.01)
        if self.failing:
            raise ConnectionError


async def test_one_round_of_checks_serves_every_caller_for_the_cache_time() -> None:
    """Probes and health pages are many and unauthenticated: 50 at once cost one check, and
    later ones reuse it until it is older than the cache time; stopping is seen at once."""
    database = CountingCheck()
    stopping = Stopping()
    service = HealthService([stopping, database], [], 1, cache_seconds=0.2)
    reports = await asyncio.gather(*(service.report() for _ in range(50)))
    assert database.runs == 1
    assert all(r.status is Status.PASS for r in reports)
    database.failing = True
    assert (await service.report()).status is Status.PASS  # within the cache time
    assert database.runs == 1
    stopping.begin()
    stopped = await service.report()
    assert not stopped.ready  # not cached: the shutdown is seen by the next probe
    assert stopped.checks["shutdown"].status is Status.FAIL
    await asyncio.sleep(0.25)
    assert (await service.report()).checks["database"].status is Status.FAIL
    assert database.runs == 2


async def test_a_recent_result_is_shared_and_a_failure_is_not_kept() -> None:
    calls = 0

    async def query() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        if calls == 1:
            raise ConnectionError
        return calls

    recent = Recent(query, 60)
    results = await asyncio.gather(*(recent.get() for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)  # one run, shared, not kept
    assert await recent.get() == 2
    assert await recent.get() == 2  # kept
    assert calls == 2
