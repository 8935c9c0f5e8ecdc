"""The edges of the HTTP surface: security headers (and a rate limit's RateLimit-* headers) on
every answer, and no writing request in a shape a cross-site form (or a no-CORS fetch) can
send.

A browser lets any page POST a form, or ``text/plain``, to any site without asking first (no
CORS preflight). Every write here takes JSON or nothing, so a write that arrives as a form or
as text is refused (415) before it does anything: ``POST /portfolio/refresh`` from a form on
another site cannot spend this service's RPC budget.
"""

from __future__ import annotations

from starlette.types import Scope

from portfolio.api.body import header

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

API_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_API_CSP = (b"content-security-policy", API_POLICY.encode())
_DOCS_CSP = (b"content-security-policy", DOCS_POLICY.encode())


def security_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers every answer carries, and a refusal's RateLimit-* ones."""
    headers = [*API_HEADERS, _DOCS_CSP if scope["path"].startswith(DOCS_PATHS) else _API_CSP]
    quota = scope.get("state", {}).get("quota")
    if quota is not None:  # set by the rate limit of the route
        headers += [
            (b"ratelimit-limit", str(quota.limit).encode()),
            (b"ratelimit-remaining", str(quota.remaining).encode()),
            (b"ratelimit-reset", str(quota.reset_seconds).encode()),
        ]
    return headers


def refused_write(scope: Scope) -> str | None:
    """Why a write in a cross-site form's shape is refused (415), or None."""
    if scope["method"] not in WRITING_METHODS:
        return None
    media = header(scope, b"content-type").split(";")[0].strip().lower()
    if media in SIMPLE_TYPES:
        return f"Writes take application/json (or no body), not {media}."
    return None
