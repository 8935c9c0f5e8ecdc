"""The edges of the HTTP surface: security headers (and a rate limit's RateLimit-* headers) on
every answer, and no writing request in a shape a cross-site form (or a no-CORS fetch) can
send.

A browser lets any page POST a form, or ``text/plain``, to any site without asking first (no
CORS preflight). Every write here takes JSON or nothing, so a write that arrives as a form or
as text is refused (415) before it does anything: ``POST /portfolio/refresh`` from a form on
another site cannot spend this service's RPC budget.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WRITING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The media types a cross-site page may send without a CORS preflight.
SIMPLE_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
DOCS_PATHS = ("/docs", "/redoc")

API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# The docs pages load Swagger UI and ReDoc (scripts, styles, fonts) from their CDN.
DOCS_POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; "
    "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly; "
    "worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'"
)

Refusal = Callable[[Request, int, str], Awaitable[Response]]


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, refuse: Refusal) -> None:
        self.app = app
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"].startswith(DOCS_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                headers["Content-Security-Policy"] = DOCS_POLICY if docs else API_POLICY
                quota = scope.get("state", {}).get("quota")
                if quota is not None:  # set by the rate limit of the route
                    headers["RateLimit-Limit"] = str(quota.limit)
                    headers["RateLimit-Remaining"] = str(quota.remaining)
                    headers["RateLimit-Reset"] = str(quota.reset_seconds)
            await send(message)

        if scope["method"] in WRITING_METHODS:
            media = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
            if media in SIMPLE_TYPES:
                detail = f"Writes take application/json (or no body), not {media}."
                response = await self.refuse(Request(scope, receive), 415, detail)
                await response(scope, receive, send_with_headers)
                return
        await self.app(scope, receive, send_with_headers)
