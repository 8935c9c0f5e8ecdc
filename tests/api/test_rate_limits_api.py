"""Rate limits through the app: a moving window per key (or per client address), a stricter one
for the routes that read chains, 429 with Retry-After and RateLimit-* headers, X-Forwarded-For
believed only from configured proxies, and open when Redis cannot count."""

from __future__ import annotations

from uuid import uuid4

import httpx

from portfolio.main.app import create_app
from tests.api.conftest import serve, settings_for
from tests.api.test_tenants_api import _keys


async def test_a_burst_past_the_limit_is_429_with_the_time_to_wait(database_url: str) -> None:
    settings = settings_for(database_url, auth_enabled=True, rate_limit="5/minute")
    async with serve(create_app(settings)) as client:
        keys = await _keys(database_url, "alpha", "beta")
        answers = [await client.get("/api/v1/wallets", headers=keys["alpha"]) for _ in range(7)]
        assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
        refused = answers[5]
        assert refused.headers["ratelimit-limit"] == "5"
        assert refused.headers["ratelimit-remaining"] == "0"
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/rate-limited"
        assert 55 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["ratelimit-reset"] == refused.headers["retry-after"]
        # another key has its own budget
        assert (await client.get("/api/v1/wallets", headers=keys["beta"])).status_code == 200


async def test_the_routes_that_read_chains_have_the_stricter_limit(database_url: str) -> None:
    settings = settings_for(database_url, rate_limit_chain="2/minute")
    async with serve(create_app(settings)) as client:
        refreshes = [(await client.post("/api/v1/portfolio/refresh")).status_code for _ in range(3)]
        assert refreshes == [200, 200, 429]
        assert (await client.get("/api/v1/portfolio")).status_code == 200


async def test_forwarded_addresses_count_only_from_trusted_proxies(database_url: str) -> None:
    def forwarded(address: str) -> dict[str, str]:
        return {"X-Forwarded-For": f"{address}, 10.0.0.7"}  # the client, then another proxy

    untrusted = settings_for(database_url, rate_limit="2/minute")
    async with serve(create_app(untrusted)) as client:  # the header is ignored: one budget
        codes = [
            (await client.get("/api/v1/wallets", headers=forwarded(f"198.51.100.{n}"))).status_code
            for n in range(3)
        ]
        assert codes == [200, 200, 429]
    trusted = settings_for(
        database_url, rate_limit="2/minute", trusted_proxies=["127.0.0.1", "10.0.0.0/8"]
    )
    async with serve(create_app(trusted)) as client:  # each client address its own budget
        for n in range(3):
            for _ in range(2):
                response = await client.get("/api/v1/wallets", headers=forwarded(f"203.0.113.{n}"))
                assert response.status_code == 200
        third = await client.get("/api/v1/wallets", headers=forwarded("203.0.113.0"))
        assert third.status_code == 429


async def test_with_redis_away_the_limits_let_requests_through(sqlite_url: str) -> None:
    settings = settings_for(sqlite_url, rate_limit="1/minute", redis_url="redis://127.0.0.1:1/0")
    async with serve(create_app(settings)) as client:
        codes = [(await client.get("/api/v1/wallets")).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        assert (await client.get("/api/v1/health")).json()["status"] == "warn"


async def test_failed_authentications_are_limited_per_client_address(database_url: str) -> None:
    """Past PORTFOLIO_RATE_LIMIT_AUTH_FAILURES failed keys from one address, that address is
    answered 429 before any key is read from the database (a good one too; with Redis, a key
    the process holds needs no lookup and goes); other addresses go on."""
    settings = settings_for(
        database_url, auth_enabled=True, rate_limit_auth_failures="3/minute",
        trusted_proxies=["127.0.0.1"],
    )  # fmt: skip
    async with serve(create_app(settings)) as client:
        keys = await _keys(database_url, "alpha", "beta")

        async def wallets(address: str, key: str) -> httpx.Response:
            headers = {"X-Forwarded-For": address, "X-API-Key": key}
            return await client.get("/api/v1/wallets", headers=headers)

        held, fresh = keys["alpha"]["X-API-Key"], keys["beta"]["X-API-Key"]
        assert (await wallets("203.0.113.1", held)).status_code == 200
        guesses = [f"pf_{uuid4().hex}_{'x' * 43}" for _ in range(5)]  # well formed, unknown
        bad = [(await wallets("203.0.113.1", guess)).status_code for guess in guesses]
        assert bad == [401, 401, 401, 429, 429]
        refused = await wallets("203.0.113.1", fresh)
        assert refused.status_code == 429  # refused before the key is read from the database
        assert refused.json()["type"] == "/problems/rate-limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert (await wallets("203.0.113.2", fresh)).status_code == 200  # another address
        assert (await wallets("203.0.113.2", "pf_nope")).status_code == 401
