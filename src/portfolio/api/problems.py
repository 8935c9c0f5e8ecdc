"""RFC 9457 problem details for every error, and the one table from domain errors to HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from portfolio.api.middleware import request_id_of
from portfolio.domain.errors import (
    AuthenticationError,
    ChainTimeoutError,
    ChainUnavailableError,
    DomainError,
    DuplicateWalletError,
    ForbiddenError,
    QuotaExceededError,
    RateLimitedError,
    RefreshBatchNotFoundError,
    ServiceUnavailableError,
    ValidationError,
    WalletNotFoundError,
    WebhookNotFoundError,
)

PROBLEM_JSON = "application/problem+json"

# domain error -> (status, problem type slug). The first matching base class wins.
STATUS_OF: list[tuple[type[DomainError], HTTPStatus, str]] = [
    (AuthenticationError, HTTPStatus.UNAUTHORIZED, "unauthorized"),
    (QuotaExceededError, HTTPStatus.FORBIDDEN, "quota-exceeded"),
    (ForbiddenError, HTTPStatus.FORBIDDEN, "forbidden"),
    (RateLimitedError, HTTPStatus.TOO_MANY_REQUESTS, "rate-limited"),
    (WalletNotFoundError, HTTPStatus.NOT_FOUND, "wallet-not-found"),
    (RefreshBatchNotFoundError, HTTPStatus.NOT_FOUND, "refresh-not-found"),
    (WebhookNotFoundError, HTTPStatus.NOT_FOUND, "webhook-not-found"),
    (DuplicateWalletError, HTTPStatus.CONFLICT, "duplicate-wallet"),
    (ValidationError, HTTPStatus.UNPROCESSABLE_ENTITY, "validation-error"),
    (ChainTimeoutError, HTTPStatus.GATEWAY_TIMEOUT, "chain-timeout"),
    (ChainUnavailableError, HTTPStatus.SERVICE_UNAVAILABLE, "chain-unavailable"),
    (ServiceUnavailableError, HTTPStatus.SERVICE_UNAVAILABLE, "service-unavailable"),
]


class FieldError(BaseModel):
    loc: list[str | int] = Field(examples=[["body", "address"]])
    msg: str = Field(examples=["A Solana address decodes to 32 bytes; this one decodes to 31."])
    type: str | None = Field(default=None, examples=["value_error"])


class Problem(BaseModel):
    """An RFC 9457 problem document. Extra members appear where they help (``wallet_id``)."""

    type: str = Field(examples=["/problems/wallet-not-found"])
    title: str = Field(examples=["Not Found"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["No wallet with id 7c1d...."])
    instance: str | None = Field(default=None, examples=["/api/v1/wallets/7c1d..."])
    request_id: str | None = Field(default=None, examples=["4f0c2f8e0b9a4c1e9d4c2a1b3e5f6a7b"])
    errors: list[FieldError] | None = None
    wallet_id: str | None = Field(default=None, description="The wallet already tracked (409).")


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route's errors."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {}},
        }
        for status in statuses
    }


def problem(
    request: Request,
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    request_id = request_id_of(request.scope)
    body = {
        "type": type_,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": request_id,
        **{key: value for key, value in extra.items() if value is not None},
    }
    # X-Request-ID is added by the service's middleware, to every answer.
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)  # noqa: S101 - registered for DomainError only
    status, slug = next((s, t) for cls, s, t in STATUS_OF if isinstance(exc, cls))
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(exc, ValidationError):
        loc = [_location(request, exc.field), exc.field]
        extra["errors"] = [{"loc": loc, "msg": str(exc), "type": slug}]
    if isinstance(exc, DuplicateWalletError):
        extra["wallet_id"] = str(exc.existing_id)
    if isinstance(exc, RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = 'Bearer realm="portfolio"'
    if isinstance(exc, ServiceUnavailableError):
        headers["Retry-After"] = str(exc.retry_after_seconds)
        logger.warning("dependency unavailable: {}", repr(exc.__cause__ or exc))
    return problem(request, status, str(exc), type_=f"/problems/{slug}", headers=headers, **extra)


def _location(request: Request, name: str) -> str:
    """Where the request carried the input ``name``: path, query or body."""
    if name in request.path_params:
        return "path"
    if name in request.query_params or request.method in ("GET", "HEAD", "DELETE"):
        return "query"  # a request without a body: what it lacked was a query parameter
    return "body"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    errors = [_field_error(error) for error in exc.errors()]
    detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
    return problem(
        request,
        422,
        detail or "Invalid request.",
        type_="/problems/validation-error",
        errors=errors,
    )


def _field_error(error: Any) -> dict[str, Any]:
    loc: Sequence[str | int] = error.get("loc", ())
    return {"loc": list(loc), "msg": str(error.get("msg", "")), "type": error.get("type")}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers or {})
    if exc.status_code == HTTPStatus.BAD_REQUEST and detail == _UNPARSED_BODY:
        detail = "The body could not be read: JSON must be UTF-8 text."
    if exc.status_code == HTTPStatus.NOT_FOUND and detail == "Not Found":
        detail = f"No route {request.method} {request.url.path}."
    if exc.status_code == HTTPStatus.METHOD_NOT_ALLOWED:
        allowed = _allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}."
    return problem(request, exc.status_code, detail, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of this path takes. Starlette names only those of the first
    route whose path matched, and FastAPI makes one route per method: ask every route."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
               for route in routes)
    ]  # fmt: skip
    if "GET" in allowed:  # ServiceMiddleware answers a HEAD as the GET
        allowed = sorted({*allowed, "HEAD"})
    return allowed


_UNPARSED_BODY = "There was an error parsing the body"  # FastAPI's words for it
_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


async def unhandled_error(request: Request, exc: Exception) -> JSONResponse:
    """The 500 problem; the trace goes to the log only. Used by ServiceMiddleware."""
    request_id = request_id_of(request.scope)
    logger.opt(exception=exc).error("unhandled error in {} {}", request.method, request.url.path)
    return problem(
        request,
        500,
        f"Something went wrong on our side; quote request id {request_id} when reporting it.",
    )


async def refused_body(request: Request, status: int, detail: str) -> JSONResponse:
    """The 413 of an over-long body, the 415 of a write in a form's shape, or the 422 of a body
    nested too deep (ServiceMiddleware)."""
    if status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
        return problem(request, status, detail, type_="/problems/body-too-large")
    if status == HTTPStatus.UNSUPPORTED_MEDIA_TYPE:
        return problem(request, status, detail, type_="/problems/unsupported-media-type")
    errors = [{"loc": ["body"], "msg": detail, "type": "json_too_deep"}]
    return problem(request, status, detail, type_="/problems/validation-error", errors=errors)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
