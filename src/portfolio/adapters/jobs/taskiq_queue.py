"""The refresh job queue: taskiq on a Redis stream (taskiq-redis's RedisStreamBroker).

One scheduler process kicks the planning task every interval; a worker plans the cycle (one
message per job) and workers share the jobs, each taking one message at a time. A job is
acknowledged once it has run; one whose worker died stays pending in the stream's consumer
group, and another worker claims it once it has been idle for the claim time (the broker's
XAUTOCLAIM, done when a worker next reads the stream, so at the latest on the next cycle)."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypedDict
from uuid import UUID, uuid4

from loguru import logger
from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask
from taskiq_redis import RedisStreamBroker

from portfolio.domain.chains import Chain
from portfolio.domain.errors import ServiceUnavailableError
from portfolio.domain.jobs import BatchProgress, RefreshJob
from portfolio.ports.jobs import RefreshWork

PLAN_TASK = "portfolio.refresh.plan"
JOB_TASK = "portfolio.refresh.job"
STREAM = "portfolio:jobs"
GROUP = "portfolio-workers"
BATCH_KEY = "portfolio:refresh-batch:"
BATCH_SECONDS = 86_400  # a batch's progress is kept a day
SOCKET_SECONDS = 5.0  # longer than the workers' blocking read (1 s)


class JobResult(TypedDict):
    chain: str
    refreshed: int
    failed: int
    skipped: int


def job_broker(redis_url: str, *, claim_after_seconds: float) -> RedisStreamBroker:
    """A broker whose workers take one message at a time (so that several share a cycle's
    jobs) and claim a dead worker's job after ``claim_after_seconds`` of silence."""
    return RedisStreamBroker(
        redis_url,
        queue_name=STREAM,
        consumer_group_name=GROUP,
        consumer_name=consumer_name(),  # an operator sees whose pending jobs they are
        consumer_id="0",  # a group made after jobs were queued still sees them
        xread_block=1000,
        xread_count=1,
        idle_timeout=int(claim_after_seconds * 1000),
        unacknowledged_lock_timeout=30,  # a worker killed while claiming frees the claim lock
        socket_timeout=SOCKET_SECONDS,  # a frozen Redis fails a call, it does not hang it
        socket_connect_timeout=SOCKET_SECONDS,
    )


def consumer_name(pid: int | None = None) -> str:
    """This process's name in the consumer group: host and process id."""
    return f"{socket.gethostname()}-{pid or os.getpid()}"


class TaskiqRefreshQueue:
    """The two tasks on a broker: the scheduled plan, which queues one job per chunk of
    wallets, and the job. A worker hands in the work (``serve``) before it listens; the
    scheduler only needs the tasks' names and schedule."""

    def __init__(self, broker: AsyncBroker, redis: Redis, *, interval_seconds: int) -> None:
        self._broker = broker
        self._redis = redis
        self._work: RefreshWork | None = None
        schedule = (
            [{"interval": interval_seconds, "schedule_id": "portfolio-refresh"}]
            if interval_seconds > 0
            else []
        )

        # Plain functions: taskiq renames what it registers, which a bound method refuses.
        async def plan() -> int:
            return await self._plan()

        async def job(chain: str, wallet_ids: list[str], batch: str | None = None) -> JobResult:
            return await self._job(chain, wallet_ids, batch)

        self.plan_task = broker.register_task(plan, task_name=PLAN_TASK, schedule=schedule)
        self.job_task: AsyncTaskiqDecoratedTask[Any, JobResult] = broker.register_task(
            job,  # type: ignore[arg-type]  # taskiq's overloads miss coroutine functions
            task_name=JOB_TASK,
        )

    def serve(self, work: RefreshWork) -> None:
        self._work = work

    async def depth(self) -> int:
        """Messages queued and not yet acknowledged (waiting, or being run)."""
        waiting, pending = await self._backlog()
        return waiting + pending

    async def _backlog(self) -> tuple[int, int]:
        """Messages no worker has taken yet, and those taken but not acknowledged (being run,
        or left by a worker that died, until another claims them)."""
        try:
            groups = await self._redis.xinfo_groups(STREAM)
        except Exception:  # no stream yet: nothing was ever queued
            return 0, 0
        for group in groups:
            name = group["name"]
            if (name.decode() if isinstance(name, bytes) else name) == GROUP:
                return int(group.get("lag") or 0), int(group["pending"])
        return int(await self._redis.xlen(STREAM)), 0

    async def _plan(self) -> int:
        """Queue one cycle's jobs, unless jobs of the last one still wait for a worker (a cycle
        longer than the interval must not pile up work); the number of jobs queued. Jobs being
        run do not hold the next cycle back, nor does a dead worker's job until it is claimed:
        a wallet still claimed by them is skipped by the new cycle's job, not read twice."""
        waiting, _ = await self._backlog()
        if waiting > 0:
            logger.warning("refresh cycle skipped: {} job(s) of the last one still queued", waiting)
            return 0
        jobs = await self._served().plan()
        for job in jobs:
            await self.job_task.kiq(job.chain.value, [str(i) for i in job.wallet_ids])
        logger.info("refresh cycle planned: {} job(s)", len(jobs))
        return len(jobs)

    async def submit(self, tenant: str, jobs: Sequence[RefreshJob]) -> BatchProgress:
        """Queue the jobs as one batch of the tenant's; workers count its progress in Redis."""
        async with _queue_errors():
            return await self._submit(tenant, jobs)

    async def progress(self, tenant: str, batch_id: str) -> BatchProgress | None:
        async with _queue_errors():
            return await self._progress(tenant, batch_id)

    async def _submit(self, tenant: str, jobs: Sequence[RefreshJob]) -> BatchProgress:
        batch = BatchProgress(uuid4().hex, tenant, len(jobs))
        key = BATCH_KEY + batch.batch_id
        fields: dict[str | bytes, str | int] = {
            "tenant": tenant, "jobs": len(jobs), "done": 0, "refreshed": 0, "failed": 0,
        }  # fmt: skip
        await self._redis.hset(key, mapping=fields)  # type: ignore[arg-type]
        await self._redis.expire(key, BATCH_SECONDS)
        for job in jobs:
            await self.job_task.kiq(
                job.chain.value, [str(i) for i in job.wallet_ids], batch.batch_id
            )
        return batch

    async def _progress(self, tenant: str, batch_id: str) -> BatchProgress | None:
        if not batch_id.isalnum():
            return None
        found = await self._redis.hgetall(BATCH_KEY + batch_id)
        fields = {_text(k): _text(v) for k, v in found.items()}
        if fields.get("tenant") != tenant:
            return None
        return BatchProgress(
            batch_id, tenant, int(fields["jobs"]), int(fields["done"]),
            int(fields["refreshed"]), int(fields["failed"]),
        )  # fmt: skip

    async def _job(self, chain: str, wallet_ids: list[str], batch: str | None = None) -> JobResult:
        job = RefreshJob(Chain(chain), tuple(UUID(i) for i in wallet_ids))
        logger.info("refresh job: {} wallet(s) on {}", len(wallet_ids), chain)
        report = await self._served().run(job)
        logger.info(
            "refresh job done: {} refreshed, {} failed, {} skipped on {} in {:.1f} s",
            report.refreshed, report.failed, report.skipped, chain, report.seconds,
        )  # fmt: skip
        if batch is not None:
            async with self._redis.pipeline(transaction=True) as pipe:
                key = BATCH_KEY + batch
                pipe.hincrby(key, "refreshed", report.refreshed)
                pipe.hincrby(key, "failed", report.failed)
                pipe.hincrby(key, "done", 1)
                await pipe.execute()
        return JobResult(
            chain=chain, refreshed=report.refreshed, failed=report.failed, skipped=report.skipped
        )

    def _served(self) -> RefreshWork:
        if self._work is None:
            raise RuntimeError("this process runs no refresh jobs")
        return self._work


@asynccontextmanager
async def _queue_errors() -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise ServiceUnavailableError("The job queue cannot be reached right now.") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
