"""JSON-RPC answers checked before use: a malformed or short answer is an error, never a zero."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from typing import Any

import httpx

from portfolio.adapters.resilience import (
    TransientUpstreamError,
    UpstreamError,
    UpstreamTimeoutError,
    describe,
)

# Rate-limit codes seen from public nodes: -32005 (limit exceeded), 429 (as a JSON-RPC code).
RATE_LIMIT_CODES = frozenset({-32005, -32029, 429})
# What a contract's code did (its revert, whatever reason it gives, or its running out of gas):
# that call's error, never a fault of the node. EIP-1474 code 3 is "execution reverted".
EXECUTION_ERROR_CODE = 3
EXECUTION_ERRORS = ("revert", "out of gas", "gas required exceeds", "invalid opcode")


class BatchRefusedError(UpstreamError):
    """The endpoint answered a batch with one error: it does not take JSON-RPC batches."""


class ItemError(Exception):
    """One request of a batch failed (a revert, say); the others stand."""


def check_item(item: Any) -> Any:
    """The ``result`` of one JSON-RPC response object; ItemError for a per-request error."""
    if not isinstance(item, dict):
        raise UpstreamError(f"not a JSON-RPC response object: {str(item)[:80]}")
    error = item.get("error")
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        message = str(error.get("message") if isinstance(error, dict) else error)
        if _executed(code, message):  # a revert saying "rate limit" is still the contract's
            raise ItemError(message)
        if code in RATE_LIMIT_CODES or "rate limit" in message.lower():
            raise TransientUpstreamError(f"rate limited: {message}")
        raise ItemError(message)
    if "result" not in item:
        raise UpstreamError("a JSON-RPC response without result or error")
    return item["result"]


def _executed(code: Any, message: str) -> bool:
    lowered = message.lower()
    return code == EXECUTION_ERROR_CODE or any(word in lowered for word in EXECUTION_ERRORS)


def match_batch(answer: Any, expected: int) -> list[Any]:
    """The response objects of a batch of ``expected`` requests, in request order.

    Request ids are increasing numbers, so ordering the answers by id restores request order;
    every request must be answered exactly once."""
    if isinstance(answer, dict):  # the node refused the whole batch
        try:
            check_item(answer)
        except ItemError as exc:
            raise BatchRefusedError(f"the node refused a batch: {exc}") from exc
        raise UpstreamError("a single answer to a batch request")
    if not isinstance(answer, list) or not all(isinstance(item, dict) for item in answer):
        raise UpstreamError("a batch answer that is not an array of response objects")
    ids = [item.get("id") for item in answer]
    if len(answer) != expected or len(set(map(str, ids))) != expected:
        raise UpstreamError(f"a short batch answer: {len(answer)} answers to {expected} requests")
    try:
        return sorted(answer, key=lambda item: int(item["id"]))
    except (TypeError, ValueError) as exc:
        raise UpstreamError("a batch answer with non-numeric ids") from exc


def chunked(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of at most ``size``, in order."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


async def post_json(client: httpx.AsyncClient, url: str, body: str) -> Any:
    """One JSON-RPC POST, its answer parsed: a connection that failed or an HTTP 429 or 5xx is
    a transient upstream error (the pool tries the next node, or again), another 4xx or an
    answer that is no JSON an upstream error of the node's."""
    try:
        response = await client.post(
            url, content=body, headers={"Content-Type": "application/json"}
        )
    except httpx.TimeoutException as exc:
        raise UpstreamTimeoutError(f"timed out ({describe(exc)})") from exc
    except httpx.TransportError as exc:
        raise TransientUpstreamError(f"connection failed ({describe(exc)})") from exc
    status = response.status_code
    if status == 429 or status >= 500:
        raise TransientUpstreamError(f"HTTP {status}")
    if status >= 400:
        raise UpstreamError(f"HTTP {status}")
    try:
        return json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UpstreamError(f"malformed answer: {exc}") from exc


class HttpJsonRpc:
    """JSON-RPC to one node over the project's httpx client: connections kept alive and shared
    by a chain's nodes, proxies taken from the environment as httpx does everywhere in the
    service, one place for timeouts (the endpoint pool's) and for errors (``post_json``).
    Requests are numbered upwards, as ``match_batch`` needs."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url
        self.client = client  # (shared: closed by whoever made it)
        self._ids = itertools.count(1)

    async def request(self, method: str, params: list[Any]) -> Any:
        """One request's response object (its ``result`` or ``error`` still to be read)."""
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        return await post_json(self.client, self.url, json.dumps(body))

    async def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> Any:
        """A JSON-RPC batch of ``calls``: the node's answer, as it gave it (``match_batch``)."""
        body = [{"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
                for method, params in calls]  # fmt: skip
        return await post_json(self.client, self.url, json.dumps(body))
