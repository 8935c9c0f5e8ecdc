"""The OpenAPI document as clients generate from it: FastAPI's, finished here.

FastAPI writes every declared response model under ``application/json`` and documents no
response header; a generator then expects JSON errors that are never sent and knows no
``Location``. So the document is finished after FastAPI builds it (once: FastAPI caches it):
errors under ``application/problem+json`` with the Problem schema (FastAPI's own 422 schema,
never sent, removed), the headers each answer carries, and the two ways of sending a key.
"""

from __future__ import annotations

from typing import Any

from portfolio.api.auth import document_security
from portfolio.api.problems import PROBLEM_JSON

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_UNSENT_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _header(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "schema": schema or {"type": "string"}}


def _required_header(description: str) -> dict[str, Any]:
    return {**_header(description), "required": True}


_INTEGER = {"type": "integer", "minimum": 0}
REQUEST_ID = {
    "X-Request-ID": _required_header(
        "The request's id: the client's own X-Request-ID when it is a plain token of up to 128 "
        "characters, else a new one. Logged with every line of the request."
    )
}
RETRY_AFTER = {"Retry-After": _header("Seconds to wait before trying again.", _INTEGER)}
RATE_LIMIT = {
    "RateLimit-Limit": _header("Requests allowed in the window.", _INTEGER),
    "RateLimit-Remaining": _header("Requests left in the window.", _INTEGER),
    "RateLimit-Reset": _header("Seconds until the window lets one more through.", _INTEGER),
}
LOCATION = {"Location": _required_header("Where the new resource is.")}
CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}  # with Accept: text/csv
ETAG = {"ETag": _required_header("The document's version; send it in If-None-Match for a 304.")}


def finish_document(schema: dict[str, Any], *, max_body_bytes: int) -> dict[str, Any]:
    document_security(schema)
    schema.setdefault("components", {})["headers"] = {
        **REQUEST_ID, **RETRY_AFTER, **RATE_LIMIT,
    }  # fmt: skip
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                _finish_response(int(status), response)
                if status == "400":
                    response["description"] = "The body could not be read (not UTF-8 text)."
                if status == "413":
                    response["description"] = f"The body is over {max_body_bytes} bytes."
    schemas = schema.get("components", {}).get("schemas", {})
    for name in _UNSENT_SCHEMAS:
        schemas.pop(name, None)
    return schema


def _finish_response(status: int, response: dict[str, Any]) -> None:
    headers = response.setdefault("headers", {})
    headers.update(_refs(REQUEST_ID))
    content = response.get("content", {})
    if not any(_refs_problem(media.get("schema", {})) for media in content.values()):
        return  # an answer of its own (the 503 of the readiness probe is a health report)
    response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
    if status == 429:
        headers.update(_refs({**RETRY_AFTER, **RATE_LIMIT}))
    if status in (503, 504):
        headers.update(_refs(RETRY_AFTER))


def _refs(headers: dict[str, Any]) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in headers}


def _refs_problem(schema: dict[str, Any]) -> bool:
    return schema.get("$ref", "").rpartition("/")[2] in ("Problem", *_UNSENT_SCHEMAS)
