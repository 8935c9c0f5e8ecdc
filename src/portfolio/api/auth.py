"""Who a request acts for, and whether it may go: its API key when keys are required
(PORTFOLIO_AUTH_ENABLED), else the default tenant; a read-only key may not use a writing route;
then the caller's rate limit.

One dependency, with no dependencies of its own: every dependency FastAPI resolves costs the hot
path (GET /portfolio) measurably (make bench), so the key is read from the headers here, and
the OpenAPI document is told the two ways of sending it by ``document_security``."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from portfolio.api.dependencies import services_of
from portfolio.api.limits import client_address, rate_limited
from portfolio.api.services import Services
from portfolio.domain.errors import AuthenticationError, ForbiddenError, RateLimitedError
from portfolio.domain.keys import Principal
from portfolio.domain.wallet import DEFAULT_TENANT

READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POSTs that only read, which a read-only key may make: a stream token opens a stream of events.
READING_POSTS = ("/events/token",)
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "HTTPBearer": {
        "type": "http", "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer pf_...`",
    },
    "APIKeyHeader": {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
        "description": "An API key: `pf_...`",
    },
}  # fmt: skip
PUBLIC_TAGS = frozenset({"system"})  # health and metrics: no key


async def caller(request: Request) -> Principal:
    services = services_of(request)
    principal = Principal(DEFAULT_TENANT)  # keys not required: one tenant, every right
    if services.authenticator is not None:
        principal = await _authenticated(request, services)
        if (
            principal.read_only
            and request.method not in READING_METHODS
            and not request.url.path.endswith(READING_POSTS)
        ):
            raise ForbiddenError("This API key may only read.")
    await rate_limited(request, services, principal)
    request.state.principal = principal  # for a route that reads it without a dependency
    return principal


Caller = Annotated[Principal, Depends(caller)]


async def _authenticated(request: Request, services: Services) -> Principal:
    """The key's principal. A client address that failed too often is refused (429) before
    a key is read from the database: guessing costs no query past the limit, and a key the
    process holds (the hot path) costs no count."""
    assert services.authenticator is not None  # noqa: S101 (the caller checked)
    guard = services.auth_failures
    address = client_address(request, services.trusted_proxies) if guard else ""

    async def before_lookup() -> None:
        if guard is not None:
            await guard.refuse_if_spent("auth", address)

    try:
        return await services.authenticator.principal(presented_key(request), before_lookup)
    except AuthenticationError:
        if guard is not None:
            with contextlib.suppress(RateLimitedError):  # this one is a 401 all the same
                await guard.hit("auth", address)
        raise


async def stream_tenant(connection: HTTPConnection, token: str | None) -> str:
    """Whose events a stream carries: a stream token's tenant (``?token=``, for a browser
    that cannot send a header), else the key's as on every route (headers). A WebSocket
    handshake is not rate limited as a request is: it opens one long connection."""
    services = services_of(connection)  # type: ignore[arg-type]  # an HTTP connection either way
    if token:
        if services.stream_tokens is None:
            raise AuthenticationError("Stream tokens are not available here.")
        return await services.stream_tokens.tenant(token)
    if services.authenticator is None:
        return DEFAULT_TENANT
    principal = await _authenticated(connection, services)  # type: ignore[arg-type]
    return principal.tenant


def presented_key(request: Request) -> str | None:
    """``Authorization: Bearer <key>``, else ``X-API-Key``."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return request.headers.get("x-api-key")


def document_security(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with both ways of sending a key declared, and required by every
    operation but the public ones (health, metrics)."""
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and not PUBLIC_TAGS & set(operation.get("tags", [])):
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
    return schema
