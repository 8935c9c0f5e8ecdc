"""The refresh job queue: taskiq on a Redis stream (taskiq-redis's RedisStreamBroker).

One scheduler process kicks the planning task every interval; a worker plans the cycle (one
message per job) and workers share the jobs, each taking one message at a time. A job is
acknowledged once it has run; one whose worker died stays pending in the stream's consumer
group, and another worker claims it once it has been idle for the claim time (the broker's
XAUTOCLAIM, done when a worker next reads the stream, so at the latest on the next cycle)."""

from __future__ import annotations

import hashlib
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

from portfolio.adapters.jobs.trace_context import JobTraceContext
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
# A tenant's batch not yet finished: a second refresh of the tenant is answered with it. It holds
# the tenant's next batch back for at most this long (its jobs are claimed again if their worker
# dies, so it finishes well before, unless the workers are away).
TENANT_BATCH_KEY = "portfolio:refresh-tenant:"
TENANT_BATCH_SECONDS = 3_600
# The last scheduled cycle (its id) and, per cycle, its jobs and how many a worker has taken: the
# next cycle is skipped while the last one's jobs wait, whatever tenants' batches wait beside them.
CYCLE_LAST_KEY = "portfolio:refresh-cycle"
CYCLE_KEY = "portfolio:refresh-cycle:"
CYCLE_SECONDS = 3_600  # a cycle whose jobs never all started holds the next back this long
SOCKET_SECONDS = 5.0  # longer than the workers' blocking read (1 s)


class JobResult(TypedDict):
    chain: str
    refreshed: int
    failed: int
    skipped: int


def job_broker(redis_url: str, *, claim_after_seconds: float) -> RedisStreamBroker:
    """A broker whose workers take one message at a time (so that several share a cycle's
    jobs) and claim a dead worker's job after ``claim_after_seconds`` of silence."""
    broker = RedisStreamBroker(
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
    return broker.with_middlewares(JobTraceContext())  # a job's spans join its sender's trace


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

        async def job(
            chain: str, wallet_ids: list[str], batch: str | None = None, cycle: str | None = None
        ) -> JobResult:
            return await self._job(chain, wallet_ids, batch, cycle)

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
        """Queue one cycle's jobs, unless jobs of the last cycle still wait for a worker (a
        cycle longer than the interval must not pile up work); the number of jobs queued. Jobs
        being run do not hold the next cycle back, nor does a dead worker's job until it is
        claimed (a wallet still claimed by them is skipped by the new cycle's job, not read
        twice), nor do tenants' refresh batches: only the cycle's own jobs count."""
        waiting = await self._cycle_waiting()
        if waiting > 0:
            logger.warning("refresh cycle skipped: {} job(s) of the last one still queued", waiting)
            return 0
        jobs = await self._served().plan()
        cycle = uuid4().hex
        key = CYCLE_KEY + cycle
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"jobs": len(jobs), "started": 0})
            pipe.expire(key, CYCLE_SECONDS)
            pipe.set(CYCLE_LAST_KEY, cycle, ex=CYCLE_SECONDS)
            await pipe.execute()
        for job in jobs:
            await self.job_task.kiq(job.chain.value, [str(i) for i in job.wallet_ids], None, cycle)
        logger.info("refresh cycle planned: {} job(s)", len(jobs))
        await self._served().upkeep()
        return len(jobs)

    async def _cycle_waiting(self) -> int:
        """Jobs of the last cycle no worker has taken yet."""
        last = await self._redis.get(CYCLE_LAST_KEY)
        if last is None:
            return 0
        counts = await self._redis.hgetall(CYCLE_KEY + _text(last))
        fields = {_text(k): int(v) for k, v in counts.items()}
        return max(0, fields.get("jobs", 0) - fields.get("started", 0))

    async def submit(self, tenant: str, jobs: Sequence[RefreshJob]) -> BatchProgress:
        """Queue the jobs as one batch of the tenant's; workers count its progress in Redis."""
        async with _queue_errors():
            return await self._submit(tenant, jobs)

    async def progress(self, tenant: str, batch_id: str) -> BatchProgress | None:
        async with _queue_errors():
            return await self._progress(tenant, batch_id)

    async def _submit(self, tenant: str, jobs: Sequence[RefreshJob]) -> BatchProgress:
        """A new batch, or the tenant's batch not yet finished: one at a time per tenant, so
        that repeated calls queue nothing more."""
        held = TENANT_BATCH_KEY + tenant
        for _ in range(3):
            running = await self._running(tenant, held)
            if running is not None:
                return running
            batch = BatchProgress(uuid4().hex, tenant, len(jobs))
            await self._write(batch)
            # Taken only if no other call took it meanwhile (its batch is then the answer).
            if await self._redis.set(held, batch.batch_id, nx=True, ex=TENANT_BATCH_SECONDS):
                for job in jobs:
                    await self.job_task.kiq(
                        job.chain.value, [str(i) for i in job.wallet_ids], batch.batch_id
                    )
                return batch
            await self._redis.delete(BATCH_KEY + batch.batch_id)
        raise ServiceUnavailableError("The job queue is busy: try the refresh again.")

    async def _running(self, tenant: str, held: str) -> BatchProgress | None:
        """The tenant's batch that has not finished; a finished one frees the tenant's slot."""
        batch_id = await self._redis.get(held)
        if batch_id is None:
            return None
        running = await self._progress(tenant, _text(batch_id))
        if running is not None and not running.finished:
            return running
        # Freed only if it still names that batch (another call may have taken it since).
        await self._redis.eval(_DELETE_IF, 1, held, _text(batch_id))
        return None

    async def _write(self, batch: BatchProgress) -> None:
        key = BATCH_KEY + batch.batch_id
        fields: dict[str | bytes, str | int] = {
            "tenant": batch.tenant, "jobs": batch.jobs, "done": 0, "refreshed": 0, "failed": 0,
        }  # fmt: skip
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            pipe.expire(key, BATCH_SECONDS)
            await pipe.execute()

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

    async def _job(
        self, chain: str, wallet_ids: list[str], batch: str | None, cycle: str | None
    ) -> JobResult:
        job = RefreshJob(Chain(chain), tuple(UUID(i) for i in wallet_ids))
        if cycle is not None:  # taken: no longer holds the next cycle back
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(CYCLE_KEY + cycle, "started", 1)
                pipe.expire(CYCLE_KEY + cycle, CYCLE_SECONDS)
                await pipe.execute()
        logger.info("refresh job: {} wallet(s) on {}", len(wallet_ids), chain)
        report = await self._served().run(job)
        logger.info(
            "refresh job done: {} refreshed, {} failed, {} skipped on {} in {:.1f} s",
            report.refreshed, report.failed, report.skipped, chain, report.seconds,
        )  # fmt: skip
        if batch is not None:  # counted once per job, though a job run again runs twice
            job_key = hashlib.blake2b(f"{chain}:{','.join(wallet_ids)}".encode()).hexdigest()
            done = await self._redis.eval(
                _COUNT_ONCE, 2, BATCH_KEY + batch, BATCH_KEY + batch + ":jobs", job_key,
                report.refreshed, report.failed, BATCH_SECONDS,
            )  # fmt: skip
            if done:  # this job counted: the batch's last one tells that it finished
                progress = await self._progress(_text(done), batch)
                if progress is not None and progress.done == int(progress.jobs):
                    await self._served().batch_finished(progress)
        return JobResult(
            chain=chain, refreshed=report.refreshed, failed=report.failed, skipped=report.skipped
        )

    def _served(self) -> RefreshWork:
        if self._work is None:
            raise RuntimeError("this process runs no refresh jobs")
        return self._work


# A job's outcome added to its batch (KEYS[1]) once: only when the job (ARGV[1]) is new to the
# batch's set of counted jobs (KEYS[2]). One script, so a worker that dies in between counts
# neither or both. Answers the batch's tenant when the job was counted, else 0.
_COUNT_ONCE = """
if redis.call("SADD", KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call("EXPIRE", KEYS[2], ARGV[4])
redis.call("HINCRBY", KEYS[1], "refreshed", ARGV[2])
redis.call("HINCRBY", KEYS[1], "failed", ARGV[3])
redis.call("HINCRBY", KEYS[1], "done", 1)
return redis.call("HGET", KEYS[1], "tenant")
"""

# Deletes KEYS[1] when it still holds ARGV[1]: one step, so no other caller's value is deleted.
_DELETE_IF = """
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0
"""


@asynccontextmanager
async def _queue_errors() -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise ServiceUnavailableError("The job queue cannot be reached right now.") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
