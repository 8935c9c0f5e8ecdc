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
# The docs pages and the Swagger UI and ReDoc assets the app serves itself (no CDN).
DOCS_ASSETS = "/docs-assets"
DOCS_PATHS = ("/docs", "/redoc", DOCS_ASSETS)

API_POLICY = "default-src 'none'; frame-ancestors 'none'"
# The docs pages load nothing from another origin; Swagger UI and ReDoc start with inline
# scripts, ReDoc draws its logo from data: and runs its search in a blob: worker.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; img-src 'self' data:; worker-src 'self' blob:; "
    "connect-src 'self'; frame-ancestors 'none'"
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
