"""``portfolio worker`` and ``portfolio scheduler``: the processes of the scheduled refresh
when Redis is configured. Any number of workers share the jobs; one scheduler kicks a cycle
every PORTFOLIO_REFRESH_INTERVAL_SECONDS. Both stop cleanly on SIGTERM or SIGINT (a worker
finishes the jobs it runs, up to PORTFOLIO_JOB_TIMEOUT_SECONDS)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from loguru import logger
from prometheus_client import CollectorRegistry, start_http_server
from taskiq import AsyncBroker, TaskiqScheduler
from taskiq.acks import AcknowledgeType
from taskiq.cli.scheduler.args import SchedulerArgs
from taskiq.cli.scheduler.run import run_scheduler
from taskiq.receiver import Receiver
from taskiq.schedule_sources import LabelScheduleSource

from portfolio.adapters.cache.redis_client import create_redis
from portfolio.adapters.jobs.taskiq_queue import TaskiqRefreshQueue, job_broker
from portfolio.adapters.resilience import describe
from portfolio.adapters.telemetry import PrometheusTelemetry
from portfolio.adapters.tracing import configure_tracing
from portfolio.api.services import Services
from portfolio.config import Settings
from portfolio.domain.jobs import TAKEOVER_AFTER
from portfolio.main.app import settings_redactor
from portfolio.main.container import build_services
from portfolio.main.logs import configure_logging
from portfolio.main.pricing import new_telemetry

GAUGE_SECONDS = 10.0
RELISTEN_SECONDS = 1.0


@asynccontextmanager
async def refresh_queue(settings: Settings) -> AsyncIterator[TaskiqRefreshQueue]:
    if not settings.redis_url:
        raise SystemExit("portfolio: the worker and the scheduler need PORTFOLIO_REDIS_URL")
    configure_logging(
        json=settings.log_json, level=settings.log_level, redactor=settings_redactor(settings)
    )
    broker = job_broker(
        settings.redis_url,
        claim_after_seconds=settings.job_timeout_seconds * TAKEOVER_AFTER,
    )
    redis = create_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
    try:
        yield TaskiqRefreshQueue(broker, redis, interval_seconds=settings.refresh_interval_seconds)
    finally:
        await redis.aclose()


def _on_stop(stop: asyncio.Event | asyncio.Task[None]) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(
            signum, stop.set if isinstance(stop, asyncio.Event) else stop.cancel
        )


async def run_worker(settings: Settings) -> None:
    configure_tracing()  # (off unless the OTEL_* variables ask for traces)
    telemetry = new_telemetry(settings, CollectorRegistry())
    async with (
        refresh_queue(settings) as queue,
        build_services(settings, telemetry, refresh_queue=queue) as services,
        _gauges(queue, services, telemetry),
    ):
        _serve_metrics(settings, telemetry.registry, "worker")
        if services.scheduled is None:
            raise RuntimeError("the services were built without the scheduled refresh")
        queue.serve(services.scheduled)
        broker = queue.plan_task.broker
        broker.is_worker_process = True
        stop = asyncio.Event()
        _on_stop(stop)
        logger.info("worker: running refresh jobs, {} at a time", settings.worker_concurrency)
        # The workers send the webhooks too (each claims its messages: any number may run).
        sending = asyncio.create_task(services.dispatcher.run()) if services.dispatcher else None
        try:
            await _listen(broker, settings.worker_concurrency, stop)
        finally:
            if sending is not None:
                sending.cancel()
                with suppress(asyncio.CancelledError):
                    await sending
            with suppress(Exception):  # Redis may be away as the worker stops
                await broker.shutdown()
        logger.info("worker stopped")


async def _listen(broker: AsyncBroker, concurrency: int, stop: asyncio.Event) -> None:
    """Run jobs until asked to stop. Losing Redis ends taskiq's listening with an error: the
    worker waits and listens again (the connection pool reconnects), rather than exit and
    leave the cycle to the other workers."""
    while not stop.is_set():
        receiver = Receiver(
            broker,
            max_async_tasks=concurrency,
            ack_type=AcknowledgeType.WHEN_EXECUTED,  # a job cut short is run again
        )
        try:
            await receiver.listen(stop)
        except Exception as exc:  # whatever the queue raised, grouped by anyio or not
            logger.warning(
                "worker: the job queue failed ({}); listening again in {} s",
                describe(exc), RELISTEN_SECONDS,
            )  # fmt: skip
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RELISTEN_SECONDS)


@asynccontextmanager
async def _gauges(
    queue: TaskiqRefreshQueue, services: Services, telemetry: PrometheusTelemetry
) -> AsyncIterator[None]:
    """The queue's depth and the age of the oldest wallet data, measured every few seconds
    while the worker runs (its metrics are served from a thread that cannot ask for them)."""

    async def measure() -> None:
        while True:
            try:
                telemetry.queue_depth(await queue.depth())
                telemetry.oldest_data_age(await services.wallets.oldest_data_age())
            except Exception as exc:  # Redis or the database away: keep the last figures
                logger.warning("worker: gauges not measured: {}", describe(exc))
            await asyncio.sleep(GAUGE_SECONDS)

    measuring = asyncio.create_task(measure())
    try:
        yield
    finally:
        measuring.cancel()
        with suppress(asyncio.CancelledError):
            await measuring


def _serve_metrics(settings: Settings, registry: CollectorRegistry, process: str) -> None:
    """The process's metrics on PORTFOLIO_WORKER_METRICS_PORT (when set): what Prometheus
    scrapes, and what the deployment files' health checks ask."""
    if settings.worker_metrics_port:
        start_http_server(
            settings.worker_metrics_port, addr=settings.worker_metrics_host, registry=registry
        )
        logger.info(
            "{}: metrics on {}:{}", process, settings.worker_metrics_host,
            settings.worker_metrics_port,
        )  # fmt: skip


async def run_schedule(settings: Settings) -> None:
    _serve_metrics(settings, new_telemetry(settings, CollectorRegistry()).registry, "scheduler")
    async with refresh_queue(settings) as queue:
        if settings.refresh_interval_seconds == 0:
            logger.warning("scheduler: PORTFOLIO_REFRESH_INTERVAL_SECONDS=0, nothing to kick")
            return
        broker = queue.plan_task.broker
        scheduler = TaskiqScheduler(broker, sources=[LabelScheduleSource(broker)])
        args = SchedulerArgs(scheduler=scheduler, modules=[], configure_logging=False)
        running = asyncio.create_task(run_scheduler(args))
        _on_stop(running)
        logger.info("scheduler: a refresh cycle every {} s", settings.refresh_interval_seconds)
        with suppress(asyncio.CancelledError):
            await running
        logger.info("scheduler stopped")
