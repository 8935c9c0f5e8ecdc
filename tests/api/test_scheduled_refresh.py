"""The scheduled refresh: every wallet of every tenant read on a schedule with no client call,
by workers sharing the jobs of a cycle (``portfolio worker``, ``portfolio scheduler``), or by the
API process itself when there is no Redis."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from redis.asyncio import Redis

from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.events import SqlEventLog
from portfolio.adapters.jobs.taskiq_queue import CYCLE_LAST_KEY, GROUP, STREAM, consumer_name
from portfolio.config import Settings
from portfolio.domain.chains import Chain
from portfolio.domain.events import Event
from portfolio.domain.jobs import BatchProgress, JobReport, RefreshJob
from portfolio.main.app import create_app
from portfolio.main.worker import refresh_queue
from tests.api.conftest import serve, settings_for
from tests.api.test_tenants_api import _keys
from tests.chains.worlds import BIG, ONE, ZERO, EvmWorld, SolanaWorld
from tests.databases import ROOT
from tests.receiver import receiver
from tests.rpcproxy import RpcProxy

REDIS = "redis://127.0.0.1:6379/11"
DEADLINE = 60.0


async def _wait_for(what: str, check: Any, deadline: float = DEADLINE) -> None:
    """Poll ``check`` (an async predicate) until it holds, or fail naming ``what``."""
    stop = time.monotonic() + deadline
    while not await check():
        if time.monotonic() > stop:
            raise AssertionError(f"not within {deadline:.0f} s: {what}")
        await asyncio.sleep(0.2)


async def _as_of(client: httpx.AsyncClient, wallets: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Each wallet's last read time, asked with its tenant's key."""
    times = {}
    for wallet_id, headers in wallets.items():
        answer = await client.get(f"/api/v1/wallets/{wallet_id}/balances", headers=headers)
        assert answer.status_code == 200, answer.text
        times[wallet_id] = answer.json()["as_of"]
    return times


@asynccontextmanager
async def _process(
    args: list[str], env: dict[str, str], log: Path, *, stdout: Path | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``portfolio ARGS`` as a process, stopped with SIGTERM; one that was stopped so must
    have exited cleanly. Its stdout goes with its log, or to ``stdout``."""
    with ExitStack() as files:
        sink = files.enter_context(log.open("wb"))
        # stdout with the log (stderr), or apart (the console exporter's spans, say).
        out = files.enter_context(stdout.open("wb")) if stdout is not None else sink
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "portfolio.main.cli", *args,
            cwd=ROOT, env=env, stdout=out, stderr=sink,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(15):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
            assert process.returncode == 0, f"{args} did not stop cleanly: see {log}"


def _environment(settings: dict[str, Any]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTFOLIO_")}
    for name, value in settings.items():
        text = ",".join(value) if isinstance(value, list) else str(value)
        env[f"PORTFOLIO_{name.upper()}"] = text
    return env


async def _pending_by_consumer(redis: Redis) -> dict[str, int]:
    try:
        summary = await redis.xpending(STREAM, GROUP)
    except Exception:
        return {}
    return {
        (c["name"].decode() if isinstance(c["name"], bytes) else c["name"]): int(c["pending"])
        for c in summary.get("consumers") or []
    }


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_workers_share_the_schedule_and_take_over_a_killed_workers_job(
    database_url: str,
    chains: dict[str, Any],
    evm: EvmWorld,
    solana: SolanaWorld,
    tmp_path: Path,
) -> None:
    redis = Redis.from_url(REDIS)
    await redis.flushdb()
    # A slow node keeps a job running long enough to kill its worker in the middle of it.
    async with RpcProxy(evm.node.url, delay=1.0) as slow:
        values = {
            **chains,
            "ethereum_rpc_urls": [slow.url],
            "auth_enabled": True,
            "redis_url": REDIS,
            "refresh_interval_seconds": 2,
            "refresh_job_wallets": 1,
            "job_timeout_seconds": 6,  # a silent worker's job is claimed after 7.5 s
            "refresh_inline_wallets": 1,  # a client's refresh goes to the workers
            "price_sources": ["none"],
            "log_level": "INFO",
            "webhook_allow_private": True,
        }
        settings = settings_for(database_url, **values)
        env = _environment({**values, "database_url": database_url})
        async with serve(create_app(settings)) as client:
            keys = await _keys(database_url, "alpha", "beta")
            wallets: dict[str, dict[str, str]] = {}
            for tenant, chain, address in [
                ("alpha", "ethereum", ONE), ("alpha", "ethereum", BIG),
                ("alpha", "solana", solana.rich), ("beta", "ethereum", ZERO),
                ("beta", "ethereum", ONE), ("beta", "solana", solana.huge),
            ]:  # fmt: skip
                created = await client.post(
                    "/api/v1/wallets", json={"chain": chain, "address": address},
                    headers=keys[tenant],
                )  # fmt: skip
                assert created.status_code == 201, created.text
                wallets[created.json()["id"]] = keys[tenant]
            assert set((await _as_of(client, wallets)).values()) == {None}
            logs = [tmp_path / f"worker{n}.log" for n in (1, 2)]
            async with (
                _process(["worker"], env, logs[0]) as first,
                _process(["worker"], env, logs[1]) as second,
                _process(["scheduler"], env, tmp_path / "scheduler.log"),
            ):

                async def all_read() -> bool:
                    return None not in (await _as_of(client, wallets)).values()

                await _wait_for("every wallet of both tenants read by the workers", all_read)
                read_once = await _as_of(client, wallets)

                async def read_again() -> bool:
                    now = await _as_of(client, wallets)
                    return all(now[w] != read_once[w] for w in wallets)

                await _wait_for("every wallet read again on schedule", read_again)
                shared = [log.read_text().count("refresh job:") for log in logs]
                assert min(shared) > 0, shared  # both workers took jobs

                async def ethereum_job_running() -> bool:
                    log = logs[0].read_text()
                    started = log.count("refresh job: 1 wallet(s) on ethereum")
                    return started > log.count("skipped on ethereum in")

                await _wait_for("a job running on the first worker", ethereum_job_running)
                first.kill()  # mid-job: the slow node has not answered yet
                await first.wait()
                killed_at = time.time()
                dead = consumer_name(first.pid)
                assert (await _pending_by_consumer(redis)).get(dead, 0) > 0

                async def claimed() -> bool:
                    return (await _pending_by_consumer(redis)).get(dead, 0) == 0

                await _wait_for("the killed worker's job claimed and run by the other", claimed)
                assert second.returncode is None

                async def all_read_again() -> bool:
                    times = await _as_of(client, wallets)
                    return all(t is not None and _epoch(t) > killed_at for t in times.values())

                await _wait_for("every wallet read again after the kill", all_read_again)
                with receiver() as hook:  # the workers send webhooks
                    body = {"url": hook.url, "events": ["refresh.completed"]}
                    made = await client.post("/api/v1/webhooks", json=body, headers=keys["alpha"])
                    accepted = await client.post("/api/v1/portfolio/refresh", headers=keys["alpha"])
                    assert accepted.status_code == 202  # three wallets: handed to the workers
                    finished = await _finished(client, accepted.headers["location"], keys["alpha"])
                    assert finished["failed"] == 0
                    (sent,) = await hook.wait_for(1, 15)
                    told = sent.verified(made.json()["secret"])
                    assert told["type"] == "refresh.completed"
                    assert told["data"]["batch_id"] == accepted.json()["id"]
                    assert told["data"]["refreshed"] == finished["refreshed"]
                assert "Traceback" not in logs[1].read_text()
    await redis.aclose()


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_without_redis_the_api_process_refreshes_on_the_schedule_itself(
    database_url: str, chains: dict[str, Any], solana: SolanaWorld
) -> None:
    settings = settings_for(database_url, **chains, refresh_interval_seconds=1)
    async with serve(create_app(settings)) as client:
        wallets: dict[str, dict[str, str]] = {}
        for chain, address in [("ethereum", ONE), ("solana", solana.rich)]:
            created = await client.post(
                "/api/v1/wallets", json={"chain": chain, "address": address}
            )
            wallets[created.json()["id"]] = {}
        first: dict[str, Any] = {}

        async def all_read() -> bool:
            first.update(await _as_of(client, wallets))
            return None not in first.values()

        await _wait_for("every wallet read by the API process's own schedule", all_read, 20)

        async def all_read_again() -> bool:
            times = await _as_of(client, wallets)
            return all(times[w] != first[w] for w in wallets)

        await _wait_for("the next cycle", all_read_again, 20)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_an_interval_of_zero_schedules_nothing(
    database_url: str, chains: dict[str, Any], solana: SolanaWorld
) -> None:
    settings = settings_for(database_url, **chains, refresh_interval_seconds=0)
    async with serve(create_app(settings)) as client:
        created = await client.post("/api/v1/wallets", json={"chain": "ethereum", "address": ONE})
        wallet: dict[str, dict[str, str]] = {created.json()["id"]: {}}
        await asyncio.sleep(1.5)  # what a schedule of one second would have used
        assert set((await _as_of(client, wallet)).values()) == {None}


async def _events(database_url: str, tenant: str) -> list[Event]:
    engine = create_engine(database_url, pool_size=1)
    try:
        return [e for _, e in await SqlEventLog(session_factory(engine)).after(tenant, 0, 1000)]
    finally:
        await engine.dispose()


async def _finished(client: httpx.AsyncClient, location: str, headers: dict[str, str]) -> Any:
    """Poll a 202's Location until its batch is done; its last answer."""
    answer: dict[str, Any] = {}

    async def done() -> bool:
        nonlocal answer
        polled = await client.get(location, headers=headers)
        assert polled.status_code == 200, polled.text
        answer = polled.json()
        return bool(answer["status"] == "done")

    await _wait_for("the handed-over refresh done", done, 30)
    return answer


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_refresh_over_many_wallets_answers_202_and_runs_in_the_background(
    database_url: str, chains: dict[str, Any], solana: SolanaWorld
) -> None:
    settings = settings_for(database_url, **chains, auth_enabled=True, refresh_inline_wallets=2)
    async with serve(create_app(settings)) as client:
        keys = await _keys(database_url, "alpha", "beta")
        for address in (ONE, BIG, ZERO):
            body = {"chain": "ethereum", "address": address}
            assert (
                await client.post("/api/v1/wallets", json=body, headers=keys["alpha"])
            ).is_success
        body = {"chain": "solana", "address": solana.rich}
        assert (await client.post("/api/v1/wallets", json=body, headers=keys["beta"])).is_success
        small = await client.post("/api/v1/portfolio/refresh", headers=keys["beta"])
        assert small.status_code == 200  # one wallet: answered at once
        accepted = await client.post("/api/v1/portfolio/refresh", headers=keys["alpha"])
        assert accepted.status_code == 202
        location = accepted.headers["location"]
        assert location == f"/api/v1/portfolio/refresh/{accepted.json()['id']}"
        assert accepted.json()["status"] in ("queued", "running")
        finished = await _finished(client, location, keys["alpha"])
        assert (finished["refreshed"], finished["failed"]) == (3, 0)
        told = [e for e in await _events(database_url, "alpha") if e.type.value.startswith("re")]
        assert [(e.type.value, e.data) for e in told] == [
            ("refresh.completed", {"batch_id": accepted.json()["id"], "jobs": finished["jobs"],
                                   "refreshed": 3, "failed": 0}),
        ]  # fmt: skip
        assert [e.type.value for e in await _events(database_url, "beta")] == ["balances.changed"]
        assert finished["jobs_done"] == finished["jobs"]
        assert (await client.get(location, headers=keys["beta"])).status_code == 404
        unknown = await client.get("/api/v1/portfolio/refresh/0123abcd", headers=keys["alpha"])
        assert unknown.status_code == 404
        assert unknown.json()["type"] == "/problems/refresh-not-found"


class _OneJobCycles:
    """Refresh work whose every cycle is one job (the planner's skip rule is under test)."""

    def __init__(self) -> None:
        self.job = RefreshJob(Chain.ETHEREUM, (uuid4(),))

    async def plan(self) -> list[RefreshJob]:
        return [self.job]

    async def run(self, job: RefreshJob) -> JobReport:
        return JobReport(job.chain, 1, 0, 0, 0.0)

    async def upkeep(self) -> None:
        return None

    async def batch_finished(self, batch: BatchProgress) -> None:
        return None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("with_redis", [False, True], ids=["in-process", "workers"])
async def test_a_flood_of_refreshes_queues_one_batch_and_holds_no_schedule_back(
    database_url: str, chains: dict[str, Any], with_redis: bool
) -> None:
    redis = Redis.from_url(REDIS)
    await redis.flushdb()
    values: dict[str, Any] = {**chains, "auth_enabled": True, "refresh_inline_wallets": 1}
    if with_redis:  # no worker runs: the batch's jobs stay queued
        values["redis_url"] = REDIS
    async with serve(create_app(settings_for(database_url, **values))) as client:
        keys = await _keys(database_url, "alpha")
        for address in (ONE, BIG, ZERO):
            body = {"chain": "ethereum", "address": address}
            added = await client.post("/api/v1/wallets", json=body, headers=keys["alpha"])
            assert added.is_success
        answers = await asyncio.gather(
            *(client.post("/api/v1/portfolio/refresh", headers=keys["alpha"]) for _ in range(20))
        )
        assert {a.status_code for a in answers} == {202}
        locations = {a.headers["location"] for a in answers}
        assert len(locations) == 1, locations  # one batch, the same Location for every call
        batch = answers[0].json()
        if not with_redis:
            finished = await _finished(client, locations.pop(), keys["alpha"])
            assert finished["refreshed"] == 3
            again = await client.post("/api/v1/portfolio/refresh", headers=keys["alpha"])
            assert again.headers["location"] not in {a.headers["location"] for a in answers}
            return
        assert await redis.xlen(STREAM) == batch["jobs"]  # queued once, not 20 times
    # The scheduler's planner, with the tenant's batch still queued: the cycle is planned.
    async with refresh_queue(Settings(_env_file=None, redis_url=REDIS)) as queue:
        queue.serve(_OneJobCycles())
        assert await queue.plan_task.original_func() == 1
        assert await queue.plan_task.original_func() == 0  # its own job still waits: skipped
        job: Any = queue.job_task.original_func  # a coroutine function (taskiq types it plain)
        await job("ethereum", [str(uuid4())], None, await _cycle(redis))
        assert await queue.plan_task.original_func() == 1  # taken by a worker: the next comes
        await queue.job_task.broker.shutdown()  # the connections its messages were sent on
    await redis.flushdb()
    await redis.aclose()


async def _cycle(redis: Redis) -> str:
    last = await redis.get(CYCLE_LAST_KEY)
    assert last is not None
    return last.decode() if isinstance(last, bytes) else str(last)


async def test_a_job_run_again_counts_once_in_its_batch() -> None:
    """A worker that dies after its job ran but before the message was acknowledged: another
    runs the job again, and the batch's progress counts it once."""
    redis = Redis.from_url(REDIS)
    await redis.flushdb()
    async with refresh_queue(Settings(_env_file=None, redis_url=REDIS)) as queue:
        queue.serve(_OneJobCycles())
        job = RefreshJob(Chain.ETHEREUM, (uuid4(), uuid4()))
        batch = await queue.submit("alpha", [job, RefreshJob(Chain.SOLANA, (uuid4(),))])
        run: Any = queue.job_task.original_func
        ids = [str(i) for i in job.wallet_ids]
        for _ in range(3):
            await run("ethereum", ids, batch.batch_id, None)
        progress = await queue.progress("alpha", batch.batch_id)
        assert progress is not None
        assert (progress.done, progress.refreshed, progress.finished) == (1, 1, False)
        await queue.job_task.broker.shutdown()  # the connections its messages were sent on
    await redis.flushdb()
    await redis.aclose()
