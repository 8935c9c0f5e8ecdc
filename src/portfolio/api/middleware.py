"""The service's one ASGI middleware, in front of everything: request id and logging context,
bounded bodies and refused cross-site writes, security headers, HTTP metrics and the access
line, and the last word on unhandled errors.

One layer rather than one each: every layer costs a request measurably (make bench: five of
them took a third of a trivial request's throughput). Plain ASGI rather than
BaseHTTPMiddleware: it streams, costs less, and keeps the logging context (a contextvar) around
the whole request. The parts live beside it: api.body, api.edges, api.httpmetrics.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from uuid import uuid4

from loguru import logger
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portfolio.api.body import BodyLimit, header
from portfolio.api.edges import EdgePolicy, refused_request, security_headers
from portfolio.api.httpmetrics import HttpMetrics, route_template

# A client's id is honoured when it is a reasonable token; anything else is replaced.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")

ErrorRenderer = Callable[[Request, Exception], Awaitable[Response]]
Refusal = Callable[[Request, int, str], Awaitable[Response]]


def request_id_of(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", "-"))


class ServiceMiddleware:
    """An exception that reaches this point is rendered by ``on_error`` (a 500 problem) and not
    re-raised: the server has nothing more to log, and the trace is logged once, with the id.
    ``refuse`` renders the 400, 403, 413, 415 and 422 of requests refused at the edge.
    ``access_log``: whether an access line is logged at all (False when the log level drops
    INFO lines)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        on_error: ErrorRenderer,
        refuse: Refusal,
        bodies: BodyLimit,
        metrics: HttpMetrics,
        edges: EdgePolicy | None = None,
        access_log: bool = True,
    ) -> None:
        self.app = app
        self.edges = edges or EdgePolicy()
        self.on_error = on_error
        self.refuse = refuse
        self.bodies = bodies
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header(scope, b"x-request-id")
        request_id = incoming if incoming and _ACCEPTABLE_ID.fullmatch(incoming) else uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        request_id_header = (b"x-request-id", request_id.encode())
        status = 0
        started = time.perf_counter()
        # HEAD is answered on every GET route as its GET, headers and all, without the body
        # (FastAPI routes take only the methods they name, so a HEAD would be a 405).
        head = scope["method"] == "HEAD"
        inner = {**scope, "method": "GET"} if head else scope

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    *security_headers(scope),
                    request_id_header,
                ]
            elif head and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        with logger.contextualize(request_id=request_id):
            try:
                await self._admit(inner, receive, send_with_headers)
            except Exception as exc:
                if status:  # the response had begun: nothing sane can follow it
                    raise
                response = await self.on_error(Request(inner, receive), exc)
                await response(inner, receive, send_with_headers)
            finally:
                if head and "route" in inner:  # the route that answered, for metrics and log
                    scope["route"] = inner["route"]
                seconds = time.perf_counter() - started
                self.metrics.observe(scope, status or 500, seconds)
                if self.access_log:
                    # The route template ("/api/v1/wallets/{wallet_id}"), as the metrics name
                    # it, so logs and metrics name routes alike.
                    logger.info(
                        "{method} {route} {status} {duration_ms}ms",
                        method=scope["method"],
                        route=route_template(scope) or "<unmatched>",
                        path=scope["path"],
                        status=status,
                        duration_ms=round(seconds * 1000, 2),
                    )

    async def _admit(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, unless the request is refused at the edge (a host name not answered, a
        cross-site write) or its body is refused."""
        refusal = refused_request(scope, self.edges)
        if refusal is not None:
            response = await self.refuse(Request(scope, receive), *refusal)
            await response(scope, receive, send)
            return
        admitted = await self.bodies.admit(scope, receive)
        if isinstance(admitted, tuple):
            response = await self.refuse(Request(scope, receive), *admitted)
            # The rest of an over-long body is not read: the connection is closed after it.
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        await self.app(scope, admitted, send)
