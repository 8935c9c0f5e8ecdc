"""Traces as an operator turns them on, with the standard variables only
(OTEL_TRACES_EXPORTER=console here): a request carrying a W3C traceparent continues that trace
in the API (its server span a child of the caller's, its database statements children of
that), the refresh job it hands to the workers carries the trace in its labels, and the
worker that runs the job adds its spans and its log lines to the same trace. Without the
variables nothing is traced, and log lines carry null ids."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests.api.test_scheduled_refresh import _process
from tests.chains.lists import write_list
from tests.chains.worlds import SolanaWorld
from tests.server import running_uvicorn, server_env

pytestmark = pytest.mark.slow
REDIS = "redis://127.0.0.1:6379/12"


def spans(path: Path) -> list[dict[str, Any]]:
    """The spans the console exporter wrote to ``path`` (JSON objects one after another)."""
    text, found, at = path.read_text(), [], 0
    decoder = json.JSONDecoder()
    while (at := text.find("{", at)) >= 0:
        span, at = decoder.raw_decode(text, at)
        found.append(span)
    return found


def json_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


async def eventually(what: str, check: Any, deadline: float = 60) -> Any:
    stop = time.monotonic() + deadline
    while not (found := check()):
        assert time.monotonic() < stop, f"not within {deadline:.0f} s: {what}"
        await asyncio.sleep(0.2)
    return found


async def test_a_requests_trace_goes_on_in_the_api_and_in_the_worker_running_its_job(
    tmp_path: Path, solana: SolanaWorld
) -> None:
    redis = Redis.from_url(REDIS)
    await redis.flushdb()
    await redis.aclose()
    env = server_env(
        tmp_path,
        solana_rpc_urls=solana.server.url,
        solana_token_list=write_list(tmp_path / "sol.json", 101, solana.token_list),
        redis_url=REDIS,
        refresh_in_process="false",
        refresh_inline_wallets="0",  # every refresh handed to the workers
    )
    env |= {"OTEL_TRACES_EXPORTER": "console", "OTEL_BSP_SCHEDULE_DELAY": "100"}
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    api_spans, worker_spans = tmp_path / "api-spans", tmp_path / "worker-spans"
    worker_log = tmp_path / "worker.log"
    with running_uvicorn(env | {"OTEL_SERVICE_NAME": "portfolio-api"}, tmp_path,
                         stdout=api_spans) as server:  # fmt: skip
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            added = await client.post(
                "/api/v1/wallets", json={"chain": "solana", "address": solana.rich}
            )
            assert added.status_code == 201, added.text
            worker_env = env | {"OTEL_SERVICE_NAME": "portfolio-worker"}
            async with _process(["worker"], worker_env, worker_log, stdout=worker_spans):
                accepted = await client.post(
                    "/api/v1/portfolio/refresh",
                    headers={"traceparent": f"00-{trace_id}-{parent}-01"},
                )
                assert accepted.status_code == 202, accepted.text
                location = accepted.headers["location"]

                async def done() -> bool:
                    batch = (await client.get(location)).json()
                    return bool(batch["status"] in ("done", "failed"))

                stop = time.monotonic() + 60
                while not await done():
                    assert time.monotonic() < stop, "the refresh did not finish within 60 s"
                    await asyncio.sleep(0.2)

                def of_trace(path: Path) -> list[dict[str, Any]]:
                    return [s for s in spans(path) if s["context"]["trace_id"] == f"0x{trace_id}"]

                worker_trace = await eventually(
                    "the worker's spans of the trace",
                    lambda: [s for s in of_trace(worker_spans) if s["name"].startswith("job ")],
                )
        api_trace = await eventually("the API's spans of the trace", lambda: of_trace(api_spans))
    server_span = next(s for s in api_trace if s["kind"] == "SpanKind.SERVER")
    assert server_span["parent_id"] == f"0x{parent}"  # the caller's span goes on
    assert server_span["resource"]["attributes"]["service.name"] == "portfolio-api"
    api_ids = {s["context"]["span_id"] for s in api_trace}
    (job,) = worker_trace
    assert job["parent_id"] in api_ids  # queued within the request's trace
    assert job["resource"]["attributes"]["service.name"] == "portfolio-worker"
    everything = of_trace(worker_spans)
    assert any(s["parent_id"] == job["context"]["span_id"] for s in everything)  # its work
    assert any("db.system" in str(s["attributes"]) or s["name"].split()[0] in
               ("SELECT", "INSERT", "UPDATE", "connect") for s in api_trace)  # fmt: skip
    # Log lines carry the ids: the API's request, the worker's job.
    logged = [line for line in json_lines(server.log_path) if line.get("trace_id") == trace_id]
    assert logged, "no API log line of the trace"
    worker_lines = [line for line in json_lines(worker_log) if line.get("trace_id") == trace_id]
    assert any("refresh job" in line["message"] for line in worker_lines), worker_lines[:3]
    assert all(len(line["span_id"]) == 16 for line in worker_lines)


async def test_without_the_variables_nothing_is_traced(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    out = tmp_path / "stdout"
    with running_uvicorn(env, tmp_path, stdout=out) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            trace_id = secrets.token_hex(16)
            answer = await client.get(
                "/api/v1/wallets", headers={"traceparent": f"00-{trace_id}-{'1' * 16}-01"}
            )
            assert answer.status_code == 200
    assert out.read_text() == ""
    lines = json_lines(server.log_path)
    assert lines
    assert all(line["trace_id"] is None and line["span_id"] is None for line in lines)
