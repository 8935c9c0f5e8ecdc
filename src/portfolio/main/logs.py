"""Logging through loguru: plain text for people, one JSON object a line for machines.

Standard-library loggers (uvicorn, SQLAlchemy, alembic, httpx, ...) are routed into loguru so
every line has one format and carries the request id bound by the request middleware (and the
trace's ids). Every line, at every level and from every library, passes a ``Redactor`` last:
httpx logs the full URL of every request, an RPC node's key in it (INFO), and exception
messages carry URLs too.
"""

from __future__ import annotations

import inspect
import logging
import sys
import traceback
from datetime import UTC
from typing import TYPE_CHECKING, Any

import orjson
from loguru import logger

from portfolio.adapters.redaction import Redactor
from portfolio.adapters.tracing import current_ids

if TYPE_CHECKING:
    from loguru import Message, Record

TEXT_FORMAT = (
    "<green>{time:YYYY-MM-DDTHH:mm:ss.SSSZ}</green> <level>{level: <7}</level> "
    "<cyan>{extra[request_id]}</cyan> {name}: <level>{message}</level>"
)
# uvicorn.access is left alone: run uvicorn with --no-access-log, the middleware writes one
# access line per request with the route template and the request id.
_STDLIB_LOGGERS = ("uvicorn", "uvicorn.error", "sqlalchemy", "alembic")


def configure_logging(*, json: bool, level: str = "INFO", redactor: Redactor | None = None) -> None:
    redact = redactor or Redactor()
    logger.remove()
    logger.configure(extra={"request_id": "-"}, patcher=_trace_ids)
    if json:
        logger.add(
            lambda message: _write(redact(_json_line(message))),
            level=level,
            backtrace=False,
            diagnose=False,
        )
    else:
        logger.add(
            lambda message: _write(redact(str(message))),
            level=level,
            format=TEXT_FORMAT,
            colorize=sys.stderr.isatty(),
            backtrace=False,
            diagnose=False,
        )
    logging.basicConfig(handlers=[_InterceptHandler()], level=0, force=True)
    for name in _STDLIB_LOGGERS:
        std = logging.getLogger(name)
        std.handlers = [_InterceptHandler()]
        std.propagate = False


def _trace_ids(record: Record) -> None:
    """The current span's trace and span ids on every line (null outside any span, and
    always while traces are off): a line ties to its request's trace, a job's to the trace of
    the request that queued it."""
    record["extra"]["trace_id"], record["extra"]["span_id"] = current_ids()


def _write(line: str) -> None:
    sys.stderr.write(line)
    sys.stderr.flush()


def _json_line(message: Message) -> str:
    record = message.record
    line: dict[str, Any] = {
        "time": record["time"].astimezone(UTC).isoformat(timespec="milliseconds"),
        "level": record["level"].name,
        "logger": record["name"],
        "message": record["message"],
        **record["extra"],
    }
    if record["exception"] is not None:
        exc_type, exc, tb = record["exception"]
        line["exception"] = "".join(traceback.format_exception(exc_type, exc, tb))
    return orjson.dumps(line, default=str).decode() + "\n"


class _InterceptHandler(logging.Handler):
    """The handler loguru's documentation gives for taking over the standard library."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame, depth = inspect.currentframe(), 0
        while frame and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())
