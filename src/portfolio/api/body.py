"""Request bodies are bounded before anything parses them.

Size: a declared ``Content-Length`` over the limit is refused before a byte is read, and a body
without one (chunked) is counted while it arrives and refused as soon as it passes the limit, so
a huge body is never buffered. Nesting: JSON deeper than ``MAX_JSON_DEPTH`` is refused before the
JSON parser sees it (a parser recursing once per level is a stack to overflow). The nesting is
found in one pass over the body's brackets, quotes and backslashes, so its cost is linear in
the body, which the size limit bounds: this runs on the event loop before authentication.

Starlette has no body limit of its own and uvicorn's ``h11_max_incomplete_event_size`` bounds
headers only, so this is done here (by the service's one middleware, api.middleware).
"""

from __future__ import annotations

import re

from starlette.types import Message, Receive, Scope

MAX_JSON_DEPTH = 32  # a wallet is depth 1; nothing this API takes comes near 32
# A string, or an unterminated one running to the end: possessive loops never give back and the
# match never fails once at a quote, so one pass of re.sub is linear, in C. (A pattern that
# could fail at an unterminated string was tried again at every later quote: quadratic, seconds
# of CPU for 64 KiB of escaped quotes.)
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_OPEN = frozenset(b"[{")


def too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays and objects in ``body`` nest deeper than ``limit`` (brackets inside
    strings do not count). Linear in the body. Cheap for ordinary bodies: with no more
    brackets than the limit there is nothing to scan."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub(b"", body)):
        depth += 1 if bracket.group()[0] in _OPEN else -1
        if depth > limit:
            return True
    return False


class _TooLargeError(Exception):
    pass


Refused = tuple[int, str]  # the status (413, 422) and the detail of a refused body


class BodyLimit:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    async def admit(self, scope: Scope, receive: Receive) -> Receive | Refused:
        """The ``receive`` to hand the app (the body, once read and checked, replayed), or why
        the body is refused."""
        declared = header(scope, b"content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            return 413, self._too_large()
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):  # no route reads their bodies
            return receive
        try:
            body = await self._read(receive)
        except _TooLargeError:
            return 413, self._too_large()
        if body and too_deep(body):
            return 422, f"JSON nested deeper than {MAX_JSON_DEPTH} levels is not accepted."
        return _replay(body, receive)

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


def header(scope: Scope, name: bytes) -> str:
    """One request header (the first), read from the raw list without building Headers."""
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return ""


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, when it comes

    return replay
