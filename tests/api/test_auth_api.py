"""API keys through the app: required when PORTFOLIO_AUTH_ENABLED, sent either way, read-only
keys refused on writes, revoked keys refused at once, probes open."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from portfolio.adapters.cache.announcements import NoRevocations
from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.keys import SqlApiKeyRepository
from portfolio.main.app import create_app
from portfolio.services.auth import KeyService
from tests.api.conftest import serve, settings_for

WALLET = {"chain": "ethereum", "address": "0x" + "ab" * 20}


class UtcClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@pytest.fixture
async def keys(database_url: str) -> AsyncIterator[KeyService]:
    engine = create_engine(database_url, pool_size=1)
    try:
        yield KeyService(SqlApiKeyRepository(session_factory(engine)), NoRevocations(), UtcClock())
    finally:
        await engine.dispose()


@pytest.fixture
async def guarded(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings_for(database_url, auth_enabled=True))) as client:
        yield client


def assert_unauthorized(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == 'Bearer realm="portfolio"'
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/unauthorized"


async def test_without_a_valid_key_every_api_route_is_401(
    guarded: httpx.AsyncClient, keys: KeyService
) -> None:
    key, text = await keys.create("acme")
    forged = text[:-4] + ("AAAA" if not text.endswith("AAAA") else "BBBB")
    for headers in (
        {},
        {"Authorization": "Bearer nonsense"},
        {"Authorization": f"Basic {text}"},
        {"X-API-Key": forged},
        {"X-API-Key": f"pf_{'0' * 32}_{text.rsplit('_', 1)[1]}"},  # another id, same secret
    ):
        for method, path in (
            ("GET", "/api/v1/wallets"),
            ("POST", "/api/v1/wallets"),
            ("GET", "/api/v1/portfolio"),
            ("GET", "/api/v1/portfolio/history"),
            ("POST", "/api/v1/portfolio/refresh"),
            ("GET", f"/api/v1/wallets/{key.id}/balances"),
        ):
            assert_unauthorized(await guarded.request(method, path, headers=headers, json=WALLET))
    for probe in ("/health/live", "/health/ready", "/metrics", "/openapi.json"):
        assert (await guarded.get(probe)).status_code == 200


async def test_a_key_works_as_bearer_or_header_and_read_only_keys_only_read(
    guarded: httpx.AsyncClient, keys: KeyService
) -> None:
    _, writer = await keys.create("acme")
    _, reader = await keys.create("acme", read_only=True)
    created = await guarded.post(
        "/api/v1/wallets", json=WALLET, headers={"Authorization": f"Bearer {writer}"}
    )
    assert created.status_code == 201, created.text
    listed = await guarded.get("/api/v1/wallets", headers={"X-API-Key": reader})
    assert listed.status_code == 200
    refused = await guarded.delete(
        f"/api/v1/wallets/{created.json()['id']}", headers={"X-API-Key": reader}
    )
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/forbidden"
    for method, path in (("POST", "/api/v1/portfolio/refresh"), ("POST", "/api/v1/wallets")):
        response = await guarded.request(method, path, headers={"X-API-Key": reader}, json=WALLET)
        assert response.status_code == 403


async def test_a_revoked_key_is_refused_at_once(
    guarded: httpx.AsyncClient, keys: KeyService
) -> None:
    key, text = await keys.create("acme")
    headers = {"X-API-Key": text}
    assert (await guarded.get("/api/v1/wallets", headers=headers)).status_code == 200
    assert await keys.revoke(key.id)
    assert_unauthorized(await guarded.get("/api/v1/wallets", headers=headers))


async def test_the_openapi_document_declares_both_ways_of_sending_a_key(
    guarded: httpx.AsyncClient,
) -> None:
    schema = (await guarded.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    responses = schema["paths"]["/api/v1/wallets"]["get"]["responses"]
    assert {"401", "403"} <= responses.keys()
