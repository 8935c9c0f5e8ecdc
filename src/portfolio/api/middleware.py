"""Request id and access log, as plain ASGI middleware.

Plain ASGI rather than BaseHTTPMiddleware: it streams, costs less per request, and keeps the
logging context (a contextvar) around the whole request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from uuid import uuid4

from loguru import logger
from prometheus_fastapi_instrumentator.routing import get_route_name
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is honoured when it is a reasonable token; anything else is replaced.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


def request_id_of(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", "-"))


ErrorRenderer = Callable[[Request, Exception], Awaitable[Response]]


class RequestContextMiddleware:
    """Request id, access line, and the last word on unhandled errors.

    An exception that reaches this point is rendered by ``on_error`` (a 500 problem) and not
    re-raised: the server has nothing more to log, and the trace is logged once, with the id.
    """

    def __init__(self, app: ASGIApp, on_error: ErrorRenderer) -> None:
        self.app = app
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = incoming if _ACCEPTABLE_ID.fullmatch(incoming) else uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 0
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        with logger.contextualize(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:
                if status:  # the response had begun: nothing sane can follow it
                    raise
                response = await self.on_error(Request(scope, receive), exc)
                await response(scope, receive, send_with_id)
            finally:
                # The route template ("/api/v1/wallets/{wallet_id}"), resolved the way the
                # metrics resolve it, so logs and metrics name routes alike.
                route = get_route_name(Request(scope), should_include_root_path=True)
                logger.info(
                    "{method} {route} {status} {duration_ms}ms",
                    method=scope["method"],
                    route=route or "<unmatched>",
                    path=scope["path"],
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )
