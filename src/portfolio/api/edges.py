"""The edges of the HTTP surface: security headers (and a rate limit's RateLimit-* headers) on
every answer, only the host names the service is meant to answer, and no write a page of
another site can make.

A browser lets any page POST a form, or ``text/plain``, or nothing at all, to any site without
asking first (no CORS preflight). Every write here takes JSON or nothing, so a write that
arrives as a form or as text is refused (415), and a write that a browser says comes from
another site (``Sec-Fetch-Site``, or an ``Origin`` that is neither this host nor a configured
CORS origin) is refused (403), before it does anything: ``POST /portfolio/refresh`` from
another site's page cannot spend this service's RPC budget.

A page can also reach a service on the visitor's own machine through a name of its own that
resolves to 127.0.0.1 (DNS rebinding): then the browser sends that name as ``Host``. Without
API keys, the service answers only the host names it is meant to (PORTFOLIO_ALLOWED_HOSTS;
localhost names and loopback addresses by default); the probes answer any.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

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


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
ANY_HOST = "*"
# Answered whatever the Host: an orchestrator probes a pod by its address.
PROBES = frozenset({"/health/live", "/health/ready", "/api/v1/health/live", "/api/v1/health/ready"})
CROSS_SITE = ("cross-site", "same-site")  # Sec-Fetch-Site values of another origin's page


@dataclass(frozen=True, slots=True)
class EdgePolicy:
    """``hosts``: the host names answered (lowercase, no port), None for any; ``origins``:
    the CORS origins whose pages may write."""

    hosts: frozenset[str] | None = None
    origins: frozenset[str] = frozenset()

    @classmethod
    def of(cls, hosts: list[str], auth_enabled: bool, origins: list[str]) -> EdgePolicy:
        """Without a list of hosts: loopback names when keys are off, any when they are on."""
        names = [h.strip().lower().strip("[]") for h in hosts if h.strip()]
        if not names:
            names = [ANY_HOST] if auth_enabled else list(LOCAL_HOSTS)
        allowed = None if ANY_HOST in names else frozenset(names)
        return cls(allowed, frozenset(o.rstrip("/") for o in origins))


Refused = tuple[int, str]


def refused_request(scope: Scope, policy: EdgePolicy) -> Refused | None:
    """Why the request is refused at the edge (a status and a detail), or None."""
    host = header(scope, b"host")
    if policy.hosts is not None and scope["path"] not in PROBES:
        name = _host_name(host)
        if name not in policy.hosts:
            return 400, f"This service does not answer the host name {name[:64]!r}."
    if scope["method"] not in WRITING_METHODS:
        return None
    media = header(scope, b"content-type").split(";")[0].strip().lower()
    if media in SIMPLE_TYPES:
        return 415, f"Writes take application/json (or no body), not {media}."
    origin = header(scope, b"origin").rstrip("/")
    if origin and origin in policy.origins:
        return None
    # The browser's own word first (same-origin, or none for what the user typed); the Origin
    # only where a browser sends no Sec-Fetch-Site, compared by host name (a proxy may pass
    # the Host on without its port).
    site = header(scope, b"sec-fetch-site").lower()
    if site in CROSS_SITE or (
        not site and origin and _host_name(urlsplit(origin).netloc) != _host_name(host)
    ):
        return 403, "Writes from another site's page are refused."
    return None


def _host_name(host: str) -> str:
    """The name of a Host header: lowercase, without its port ("[::1]:8000" is "::1")."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
