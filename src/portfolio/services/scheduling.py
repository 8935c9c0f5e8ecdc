"""Refreshing every wallet of every tenant on a schedule: a cycle is planned as jobs of a bounded
number of wallets of one chain, which workers share (``portfolio worker``), or which the API
process runs itself in the embedded default."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from uuid import uuid4

from loguru import logger
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from portfolio.domain.errors import ChainUnavailableError, StorageUnavailableError
from portfolio.domain.jobs import (
    TAKEOVER_AFTER,
    BatchProgress,
    JobReport,
    RefreshJob,
    plan_jobs,
)
from portfolio.ports.repositories import WalletRepository
from portfolio.ports.telemetry import Telemetry
from portfolio.services.fetching import FetchService
from portfolio.services.wallets import every_wallet


@dataclass(frozen=True, slots=True)
class SchedulePolicy:
    job_wallets: int = 200  # wallets in one job
    attempts: int = 3  # tries of a job whose chain cannot be read
    backoff_seconds: float = 2.0  # the first retry's wait, doubling
    # How long a job may run; its wallets stay claimed a little longer (TAKEOVER_AFTER), after
    # which a job whose worker was killed is presumed dead and its wallets free for its next
    # taker.
    hold_seconds: float = 240.0


class ScheduledRefresh:
    def __init__(
        self,
        wallets: WalletRepository,
        fetching: FetchService,
        policy: SchedulePolicy,
        telemetry: Telemetry | None = None,
        upkeep: Callable[[], Awaitable[None]] | None = None,
        finished: Callable[[BatchProgress], Awaitable[None]] | None = None,
    ) -> None:
        """``upkeep``: what each cycle does besides its jobs (the history's retention).
        ``finished``: told of each tenant's batch that has run all its jobs."""
        self._finished = finished
        self._wallets = wallets
        self._fetching = fetching
        self._policy = policy
        self._telemetry = telemetry
        self._upkeep = upkeep

    async def upkeep(self) -> None:
        if self._upkeep is not None:
            await self._upkeep()

    async def batch_finished(self, batch: BatchProgress) -> None:
        if self._finished is None:
            return
        try:
            await self._finished(batch)
        except StorageUnavailableError as exc:
            logger.warning("refresh batch {}: completion not recorded: {}", batch.batch_id, exc)

    async def plan(self) -> list[RefreshJob]:
        return plan_jobs(await every_wallet(self._wallets, None), self._policy.job_wallets)

    async def plan_for(self, tenant: str) -> list[RefreshJob]:
        """The jobs that refresh one tenant's wallets."""
        return plan_jobs(await every_wallet(self._wallets, tenant), self._policy.job_wallets)

    async def run(self, job: RefreshJob) -> JobReport:
        """Read and record the job's wallets; a chain that cannot be read is tried again with
        backoff, then each wallet keeps its stored data and remembers why."""
        started = time.monotonic()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._policy.attempts),
            wait=wait_exponential(multiplier=self._policy.backoff_seconds, max=60),
            retry=retry_if_exception_type(ChainUnavailableError),
            reraise=True,
        )
        try:
            async with asyncio.timeout(self._policy.hold_seconds):
                async for attempt in retrying:
                    with attempt:
                        tally = await self._fetching.refresh_wallets(
                            job.chain,
                            job.wallet_ids,
                            hold_seconds=self._policy.hold_seconds * TAKEOVER_AFTER,
                        )
        except (ChainUnavailableError, TimeoutError) as exc:
            logger.warning("refresh job on {} failed: {}", job.chain, str(exc) or "timed out")
            self._job_done(failed=True)
            return JobReport(job.chain, 0, len(job.wallet_ids), 0, time.monotonic() - started)
        self._job_done(failed=False)
        return JobReport(job.chain, *tally, time.monotonic() - started)

    def _job_done(self, *, failed: bool) -> None:
        if self._telemetry is not None:
            self._telemetry.job_done(failed)

    async def run_cycle(self) -> list[JobReport]:
        """Plan a cycle and run its jobs one after another (the embedded default's way), then
        its upkeep."""
        reports = [await self.run(job) for job in await self.plan()]
        await self.upkeep()
        return reports

    async def run_every(self, interval_seconds: float) -> None:
        """Cycles, one every ``interval_seconds`` (the first at once), until cancelled. A cycle
        that fails (the database away) is logged, and the next one comes on time."""
        while True:
            started = time.monotonic()
            try:
                reports = await self.run_cycle()
            except StorageUnavailableError as exc:
                logger.warning("scheduled refresh skipped: {}", exc)
            except Exception:  # a bug must not end the schedule
                logger.exception("scheduled refresh failed")
            else:
                refreshed = sum(r.refreshed for r in reports)
                failed = sum(r.failed for r in reports)
                logger.info(
                    "scheduled refresh: {} wallet(s) refreshed, {} failed, in {:.1f} s",
                    refreshed,
                    failed,
                    time.monotonic() - started,
                )
            await asyncio.sleep(max(0.0, interval_seconds - (time.monotonic() - started)))


class InProcessRefreshQueue:
    """The refresh queue without workers (no Redis): a batch's jobs run one after another in a
    task of this process; the progress of the last MAX_BATCHES batches is kept here. One batch
    per tenant at a time: a tenant's refresh while its batch runs is answered with that batch."""

    MAX_BATCHES = 100

    def __init__(self, scheduled: ScheduledRefresh) -> None:
        self._scheduled = scheduled
        self._batches: dict[str, BatchProgress] = {}
        self._running: dict[str, str] = {}  # tenant -> its last batch
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, tenant: str, jobs: Sequence[RefreshJob]) -> BatchProgress:
        running = self._batches.get(self._running.get(tenant, ""))
        if running is not None and not running.finished:
            return running
        batch = BatchProgress(uuid4().hex, tenant, len(jobs))
        self._running[tenant] = batch.batch_id
        while len(self._batches) >= self.MAX_BATCHES:
            del self._batches[next(iter(self._batches))]
        self._batches[batch.batch_id] = batch
        task = asyncio.create_task(self._run(batch.batch_id, list(jobs)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return batch

    async def progress(self, tenant: str, batch_id: str) -> BatchProgress | None:
        batch = self._batches.get(batch_id)
        return batch if batch is not None and batch.tenant == tenant else None

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, batch_id: str, jobs: list[RefreshJob]) -> None:
        for job in jobs:
            try:
                report = await self._scheduled.run(job)
                refreshed, failed = report.refreshed, report.failed
            except Exception:  # the database away: the job's wallets count as failed
                logger.exception("refresh batch {}: a job failed", batch_id)
                refreshed, failed = 0, len(job.wallet_ids)
            batch = self._batches.get(batch_id)
            if batch is None:
                return
            batch = replace(
                batch,
                done=batch.done + 1,
                refreshed=batch.refreshed + refreshed,
                failed=batch.failed + failed,
            )
            self._batches[batch_id] = batch
            if batch.finished:
                await self._scheduled.batch_finished(batch)
