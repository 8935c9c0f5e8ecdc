"""Request bodies are bounded before anything parses them.

Size: a declared ``Content-Length`` over the limit is refused before a byte is read, and a body
without one (chunked) is counted while it arrives and refused as soon as it passes the limit, so
a huge body is never buffered. Nesting: JSON deeper than ``MAX_JSON_DEPTH`` is refused before the
JSON parser sees it (a parser recursing once per level is a stack to overflow).

Starlette has no body limit of its own and uvicorn's ``h11_max_incomplete_event_size`` bounds
headers only, so this is a small ASGI middleware.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_DEPTH = 32  # a wallet is depth 1; nothing this API takes comes near 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")

Refusal = Callable[[Request, int, str], Awaitable[Response]]


def too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects in ``body`` nest deeper than ``limit`` (brackets inside
    strings do not count). Cheap for ordinary bodies: with no more brackets than the limit
    there is nothing to scan."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b"", body)):
        depth += 1 if match.group() in (b"[", b"{") else -1
        if depth > limit:
            return True
    return False


class _TooLargeError(Exception):
    pass


class BodyLimitMiddleware:
    """Bounds request bodies; ``refuse`` renders the 413 and 422 problems."""

    def __init__(self, app: ASGIApp, max_bytes: int, refuse: Refusal) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, 413, self._too_large())
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):  # no route reads their bodies
            await self.app(scope, receive, send)
            return
        try:
            body = await self._read(receive)
        except _TooLargeError:
            await self._refuse(scope, receive, send, 413, self._too_large())
            return
        if body and too_deep(body):
            detail = f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted."
            await self._refuse(scope, receive, send, 422, detail)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes:
        """The whole body, never more than the limit (the limit bounds what is buffered)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise _TooLargeError
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self) -> str:
        return f"The request body is larger than {self.max_bytes} bytes."

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, detail: str
    ) -> None:
        response = await self.refuse(Request(scope, receive), status, detail)
        # The rest of an over-long body is not read: the connection is closed after the answer.
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, when it comes

    return replay
