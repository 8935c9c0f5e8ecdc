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
    assert body["address"]["maxLength"] == 255  # an ENS name's length


async def test_without_keys_only_local_host_names_are_answered(database_url: str) -> None:
    """A page that reaches the service through a name of its own resolving to 127.0.0.1 (DNS
    rebinding) sends that name as Host: refused (400). The probes answer any host."""
    settings = settings_for(database_url, allowed_hosts=[])  # the default: loopback names
    async with serve(create_app(settings)) as client:
        for host in ("localhost", "localhost:8000", "127.0.0.1:8000", "[::1]:8000"):
            answer = await client.get("/api/v1/wallets", headers={"Host": host})
            assert answer.status_code == 200, (host, answer.text)
        for host in ("rebind.attacker.test", "rebind.attacker.test:8000", "localhost.evil.test"):
            refused = await client.get("/api/v1/wallets", headers={"Host": host})
            assert refused.status_code == 400, host
            assert refused.headers["content-type"] == "application/problem+json"
            assert "host name" in refused.json()["detail"]
            probe = await client.get("/api/v1/health/live", headers={"Host": host})
            assert probe.status_code == 200
    keyed = settings_for(database_url, allowed_hosts=[], auth_enabled=True)
    async with serve(create_app(keyed)) as client:  # with keys on, any host by default
        answer = await client.get("/api/v1/wallets", headers={"Host": "api.example.test"})
        assert answer.status_code == 401
    listed = settings_for(database_url, allowed_hosts=["portfolio.example.test"])
    async with serve(create_app(listed)) as client:
        assert (await client.get("/api/v1/wallets", headers={
            "Host": "portfolio.example.test"})).status_code == 200  # fmt: skip
        assert (await client.get("/api/v1/wallets", headers={
            "Host": "localhost"})).status_code == 400  # fmt: skip


async def test_a_write_from_another_sites_page_is_refused(database_url: str) -> None:
    """A bodiless POST (no preflight) from another site's page: refused by Sec-Fetch-Site or
    by Origin, unless the origin is a configured CORS origin; a same-origin page writes."""
    settings = settings_for(database_url, cors_origins=["https://app.example.test"])
    async with serve(create_app(settings)) as client:
        for headers in (
            {"Sec-Fetch-Site": "cross-site"},
            {"Origin": "https://evil.example.test"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "same-site", "Origin": "http://other.portfolio"},
        ):
            refused = await client.post("/api/v1/portfolio/refresh", headers=headers)
            assert refused.status_code == 403, headers
            assert refused.json()["detail"] == "Writes from another site's page are refused."
        for headers in (
            {"Sec-Fetch-Site": "same-origin", "Origin": "http://portfolio"},
            {"Sec-Fetch-Site": "same-origin", "Origin": "http://portfolio:8080"},  # via a proxy
            {"Origin": "http://portfolio:8080"},  # no Sec-Fetch-Site: the host name compared
            {"Origin": "https://app.example.test", "Sec-Fetch-Site": "cross-site"},
            {},  # not a browser
        ):
            answer = await client.post("/api/v1/portfolio/refresh", headers=headers)
            assert answer.status_code == 200, (headers, answer.text)
        read = await client.get("/api/v1/wallets", headers={"Sec-Fetch-Site": "cross-site"})
        assert read.status_code == 200  # reads are CORS's business
