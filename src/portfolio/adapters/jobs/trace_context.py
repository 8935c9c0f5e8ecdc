"""A job's trace: the trace context of whoever queues a refresh job travels in the job's labels,
and the worker runs the job as a span of that trace (adapters/tracing.py turns traces on)."""

from __future__ import annotations

from typing import Any

from opentelemetry import context, propagate, trace
from taskiq import TaskiqMessage, TaskiqMiddleware, TaskiqResult

from portfolio.adapters.tracing import tracing_on

PROPAGATED = ("traceparent", "tracestate")


class JobTraceContext(TaskiqMiddleware):
    """The trace context of whoever queues a job, in the job's labels (``traceparent``,
    ``tracestate``); the job run, in the worker, as a span of that trace."""

    def __init__(self) -> None:
        super().__init__()
        self._running: dict[str, tuple[trace.Span, object]] = {}

    def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        message.labels.update({k: v for k, v in carrier.items() if k in PROPAGATED})
        return message

    def pre_execute(self, message: TaskiqMessage) -> TaskiqMessage:
        if not tracing_on():
            return message
        carrier = {k: str(message.labels[k]) for k in PROPAGATED if k in message.labels}
        span = trace.get_tracer(__name__).start_span(
            f"job {message.task_name}",
            context=propagate.extract(carrier),
            kind=trace.SpanKind.CONSUMER,
            attributes={"messaging.message.id": message.task_id},
        )
        token = context.attach(trace.set_span_in_context(span))
        self._running[message.task_id] = (span, token)
        return message

    def post_execute(self, message: TaskiqMessage, result: TaskiqResult[Any]) -> None:
        running = self._running.pop(message.task_id, None)
        if running is None:
            return
        span, token = running
        if result.is_err:
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(result.error)[:200]))
        span.end()
        context.detach(token)  # type: ignore[arg-type]
