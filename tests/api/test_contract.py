"""The OpenAPI document as a client generator reads it: errors where they are sent, readable
operation ids, the headers each answer carries, the limits, and the published copy in the
repository matching the app."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from portfolio import __version__
from portfolio.main.openapi import document, rendered
from tests.databases import ROOT

PROBLEM = {"$ref": "#/components/schemas/Problem"}
OPERATION_ID = re.compile(r"^[a-z]+(-[a-z]+)+$")


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return document()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


def test_the_published_document_matches_the_app() -> None:
    published = (ROOT / "openapi.json").read_text()
    assert published == rendered(), "openapi.json is out of date: run make openapi"
    assert json.loads(published)["info"]["version"] == __version__
    assert f"## {__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_errors_are_documented_as_problem_json(schema: dict[str, Any]) -> None:
    errors = 0
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            if int(status) < 400 or path.endswith("/health/ready") or path.endswith("/health"):
                continue
            errors += 1
            assert response["content"] == {"application/problem+json": {"schema": PROBLEM}}, (
                f"{method} {path} {status}"
            )
    assert errors >= 40
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert "HTTPValidationError" not in json.dumps(schema)


def test_operation_ids_are_readable_and_unique(schema: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(schema)]
    assert len(ids) == len(set(ids))
    assert all(OPERATION_ID.match(i) for i in ids), ids
    assert {"wallets-create", "wallets-list", "wallets-get", "wallets-delete", "portfolio-get",
            "portfolio-history", "portfolio-refresh", "balances-fetch", "balances-get",
            "health-live", "metrics-get"} <= set(ids)  # fmt: skip


def test_response_headers_are_documented(schema: dict[str, Any]) -> None:
    paths = schema["paths"]
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            assert "X-Request-ID" in response["headers"], f"{method} {path} {status}"
            if status == "429":
                assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining",
                        "RateLimit-Reset"} <= response["headers"].keys()  # fmt: skip
            if status == "503" and "Problem" in json.dumps(response["content"]):
                assert "Retry-After" in response["headers"]
    assert set(schema["components"]["headers"]) >= {"X-Request-ID", "Retry-After"}
    created = paths["/api/v1/wallets"]["post"]["responses"]["201"]["headers"]
    assert created["Location"]["required"] is True
    handed_off = paths["/api/v1/portfolio/refresh"]["post"]["responses"]["202"]["headers"]
    assert "Location" in handed_off
    for status in ("200", "304"):
        assert "ETag" in paths["/api/v1/portfolio"]["get"]["responses"][status]["headers"]


def test_types_limits_and_media_types(schema: dict[str, Any]) -> None:
    paths, components = schema["paths"], schema["components"]["schemas"]
    metrics = paths["/api/v1/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    assert components["Status"]["enum"] == ["pass", "warn", "fail"]
    assert components["Liveness"]["properties"]["status"]["const"] == "pass"
    balance = components["BalanceOut"]["properties"]
    assert balance["raw_balance"]["pattern"] == "^[0-9]+$"
    assert re.fullmatch(balance["balance"]["pattern"], "0.000000000000000001")
    assert not re.fullmatch(balance["balance"]["pattern"], "1E-18")
    summary = components["SummaryOut"]["properties"]
    assert "pattern" in summary["total_usd"]
    create = paths["/api/v1/wallets"]["post"]["responses"]
    assert {"400", "413", "415"} <= create.keys()
    assert "65536 bytes" in create["413"]["description"]
    assert "413" in paths["/api/v1/portfolio/refresh"]["post"]["responses"]
    label = components["WalletCreate"]["properties"]["label"]["anyOf"][0]
    assert label["maxLength"] == 100
    limit = next(p for p in paths["/api/v1/wallets"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 500)
    history = paths["/api/v1/portfolio/history"]["get"]["parameters"]
    assert any("10,000 buckets" in p["description"] for p in history)


async def test_answers_carry_what_the_document_says(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/v1/wallets/7c1d0000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["x-request-id"]
    live = await client.get("/api/v1/health/live")
    assert live.json() == {"status": "pass"}
    metrics = await client.get("/api/v1/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")


def test_addresses_chains_and_their_alternatives_are_in_the_schema(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    mark = schema["paths"]["/api/v1/tokens/{chain}/{address}"]["put"]["parameters"]
    patterns = [
        components["WalletCreate"]["properties"]["address"]["pattern"],
        components["TokenTrack"]["properties"]["address"]["pattern"],
        next(p for p in mark if p["name"] == "address")["schema"]["pattern"],
    ]
    evm = "0xd8da6bf26964af9d7eed9e03e53415d37aa96045"
    good = [
        evm,
        f" {evm.upper().replace('0X', '0x')} ",
        "So11111111111111111111111111111111111111112",
    ]
    bad = [evm[:-1], evm[:-1] + "g", "So" + "1" * 29, "0OIl" * 10, "", "x"]
    for pattern in patterns:
        assert all(re.search(pattern, a) for a in good)
        assert not any(re.search(pattern, a) for a in bad)
    chain = next(p for p in mark if p["name"] == "chain")["schema"]
    assert chain["pattern"] == "^[a-z][a-z0-9-]{0,31}$"
    create = components["WalletCreate"]
    chains = create["properties"]["chains"]
    assert chains["uniqueItems"] is True  # (an array keyword: a null is not held to it)
    assert chains["anyOf"][0]["items"]["pattern"] == chain["pattern"]
    assert create["not"] == {"required": ["chain", "chains"]}  # chain or chains, never both
