"""Traces, by OpenTelemetry: off unless the standard variables ask for them
(``OTEL_TRACES_EXPORTER`` naming an exporter, or an OTLP endpoint in
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; ``OTEL_SDK_DISABLED``
turns them off). Everything else is the SDK's own reading of the ``OTEL_*`` variables: the
service name and resource, the sampler, the batch processor, the exporter's endpoint, headers
and timeout.

When on: the web framework's server spans continue an incoming W3C ``traceparent``, and the
database, httpx (prices, webhooks, Solana) and Redis calls are spans of them; a job's trace
context travels in its labels (adapters/jobs/trace_context.py), so a worker's spans join the
trace of the request that queued the job. When off, nothing of the SDK is imported.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from typing import Any

from loguru import logger
from opentelemetry import trace

EXPORTERS = "opentelemetry_traces_exporter"  # the SDK's entry points: console, otlp_proto_http
_tracing = False


def tracing_wanted(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def configure_tracing() -> bool:
    """The global tracer provider with its exporters, and the instrumentation of httpx and
    Redis, when the variables ask for traces; once per process. Whether traces are on."""
    global _tracing
    if _tracing or not tracing_wanted():
        return _tracing
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create())  # OTEL_SERVICE_NAME, ..._ATTRIBUTES
    for name in _exporter_names():
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()
    RedisInstrumentor().instrument()
    _tracing = True
    logger.info("traces on: exported to {}", ", ".join(_exporter_names()))
    return True


def _exporter_names() -> list[str]:
    """OTEL_TRACES_EXPORTER's names (comma-separated), otlp when only an endpoint is set;
    ``otlp`` is OTLP over HTTP here (the gRPC exporter is not shipped)."""
    names = [n.strip().lower() for n in os.environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")]
    return ["otlp_proto_http" if n in ("otlp", "otlp_proto_http") else n for n in names if n]


def _exporter(name: str) -> Any:
    found = entry_points(group=EXPORTERS, name=name)
    if not found:
        known = ", ".join(sorted(e.name for e in entry_points(group=EXPORTERS)))
        raise ValueError(f"OTEL_TRACES_EXPORTER: no exporter {name!r} (known: otlp, {known})")
    return next(iter(found)).load()()


def tracing_on() -> bool:
    """Whether this process exports traces (``configure_tracing`` turned them on)."""
    return _tracing


def instrument_app(app: Any) -> None:
    """The web framework's server spans, continuing an incoming ``traceparent``."""
    if _tracing:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app)


def instrument_engine(engine: Any) -> None:
    """Spans for a database engine's statements (an AsyncEngine's sync engine)."""
    if _tracing:
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine)


def current_ids() -> tuple[str | None, str | None]:
    """The current span's trace and span ids in W3C's hex, or None outside any span."""
    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return None, None
    return f"{span.trace_id:032x}", f"{span.span_id:016x}"
