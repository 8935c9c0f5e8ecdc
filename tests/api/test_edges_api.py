"""The edges of the HTTP surface: security headers, no cross-site form writes, CORS only for
the configured origins, and the limits stated in the OpenAPI document."""

from __future__ import annotations

import httpx

from portfolio.main.app import create_app
from tests.api.conftest import serve, settings_for

ADDRESS = "0x" + "cd" * 20


async def test_every_answer_carries_the_security_headers(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/wallets", "/health/live", "/api/v1/nowhere", "/docs", "/openapi.json"):
        response = await client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    api = (await client.get("/api/v1/wallets")).headers["content-security-policy"]
    assert api.startswith("default-src 'none'")
    docs = (await client.get("/docs")).headers["content-security-policy"]
    assert "https://" not in docs  # the docs assets come from the app itself


async def test_a_cross_site_form_cannot_write(client: httpx.AsyncClient) -> None:
    for content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/plain;charset=UTF-8",
    ):
        for path in ("/api/v1/portfolio/refresh", "/api/v1/wallets"):
            response = await client.post(
                path,
                content=f'{{"chain": "ethereum", "address": "{ADDRESS}"}}',
                headers={"content-type": content_type},
            )
            assert response.status_code == 415, (path, content_type)
            assert response.json()["type"] == "/problems/unsupported-media-type"
    assert (await client.get("/api/v1/wallets")).json()["items"] == []
    created = await client.post("/api/v1/wallets", json={"chain": "ethereum", "address": ADDRESS})
    assert created.status_code == 201


async def test_cors_answers_only_the_configured_origins(database_url: str) -> None:
    settings = settings_for(database_url, cors_origins=["https://app.example"])
    async with serve(create_app(settings)) as client:
        asked = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "x-api-key,content-type"}  # fmt: skip
        allowed = await client.options("/api/v1/wallets", headers=asked)
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        other = await client.options(
            "/api/v1/wallets", headers={**asked, "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
    async with serve(create_app(settings_for(database_url))) as client:  # none by default
        response = await client.get("/api/v1/wallets", headers={"Origin": "https://app.example"})
        assert "access-control-allow-origin" not in response.headers


async def test_the_openapi_document_states_the_limits(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    listing = {p["name"]: p for p in schema["paths"]["/api/v1/wallets"]["get"]["parameters"]}
    assert listing["limit"]["schema"]["maximum"] == 500
    history = schema["paths"]["/api/v1/portfolio/history"]["get"]
    assert "10,000" in history["description"]
    body = schema["components"]["schemas"]["WalletCreate"]["properties"]
    assert body["address"]["maxLength"] == 128
