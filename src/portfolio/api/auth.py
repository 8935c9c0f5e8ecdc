"""Who a request acts for: its API key when keys are required (PORTFOLIO_AUTH_ENABLED), else
the default tenant. A read-only key may not use a writing route.

The key is read through FastAPI's security classes so that the OpenAPI document declares both
ways of sending it and the docs page can send one."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from portfolio.api.dependencies import AppServices
from portfolio.domain.errors import ForbiddenError
from portfolio.domain.keys import Principal
from portfolio.domain.wallet import DEFAULT_TENANT

READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer pf_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key: `pf_...`")


async def caller(
    request: Request,
    services: AppServices,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Principal:
    if services.authenticator is None:  # keys not required: one tenant, every right
        return Principal(DEFAULT_TENANT)
    presented = bearer.credentials if bearer is not None else header
    principal = await services.authenticator.principal(presented)
    if principal.read_only and request.method not in READING_METHODS:
        raise ForbiddenError("This API key may only read.")
    return principal


Caller = Annotated[Principal, Depends(caller)]
