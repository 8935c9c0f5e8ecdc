"""JSON-RPC answers checked before use: a malformed or short answer is an error, never a zero."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from portfolio.adapters.resilience import TransientUpstreamError, UpstreamError

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
