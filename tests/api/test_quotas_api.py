"""Per-tenant quotas through the app: wallets, tracked tokens and marks, each refused with a
403 that names its limit; tracking a token spends the chain rate limit (it calls a node)."""

from __future__ import annotations

from typing import Any

import httpx

from portfolio.main.app import create_app
from tests.api.conftest import serve, settings_for
from tests.chains.worlds import EvmWorld


def _refused(answer: httpx.Response, setting: str) -> None:
    assert answer.status_code == 403, answer.text
    assert answer.json()["type"] == "/problems/quota-exceeded"
    assert setting in answer.json()["detail"]


async def test_a_tenant_has_at_most_its_wallets(database_url: str) -> None:
    settings = settings_for(database_url, tenant_max_wallets=3)
    async with serve(create_app(settings)) as client:
        made = []
        for n in range(3):
            body = {"chain": "ethereum", "address": f"0x{n + 1:040x}"}
            made.append((await client.post("/api/v1/wallets", json=body)).json()["id"])
        fourth = await client.post("/api/v1/wallets", json={"chain": "ethereum",
                                                            "address": f"0x{9:040x}"})  # fmt: skip
        _refused(fourth, "PORTFOLIO_TENANT_MAX_WALLETS")
        assert "at most 3 wallets" in fourth.json()["detail"]
        assert (await client.delete(f"/api/v1/wallets/{made[0]}")).status_code == 204
        two = {"chains": ["ethereum", "solana"], "address": f"0x{9:040x}"}
        _refused(await client.post("/api/v1/wallets", json=two), "MAX_WALLETS")  # all or none
        listed = (await client.get("/api/v1/wallets")).json()["items"]
        assert len(listed) == 2
        again = {"chain": "ethereum", "address": f"0x{9:040x}"}
        assert (await client.post("/api/v1/wallets", json=again)).status_code == 201


async def test_a_tenant_marks_at_most_its_marks(database_url: str) -> None:
    settings = settings_for(database_url, tenant_max_marks=2)
    async with serve(create_app(settings)) as client:
        tokens = [f"0x{n + 1:040x}" for n in range(3)]
        for token in tokens[:2]:
            answer = await client.put(f"/api/v1/tokens/ethereum/{token}", json={"mark": "spam"})
            assert answer.status_code == 200, answer.text
        third = await client.put(f"/api/v1/tokens/ethereum/{tokens[2]}", json={"mark": "spam"})
        _refused(third, "PORTFOLIO_TENANT_MAX_MARKS")
        again = await client.put(f"/api/v1/tokens/ethereum/{tokens[0]}", json={"mark": "trusted"})
        assert again.status_code == 200  # a mark changed, not added
        cleared = await client.put(f"/api/v1/tokens/ethereum/{tokens[1]}", json={"mark": None})
        assert cleared.status_code == 200
        now = await client.put(f"/api/v1/tokens/ethereum/{tokens[2]}", json={"mark": "spam"})
        assert now.status_code == 200


async def test_a_tenant_tracks_at_most_its_tokens_and_tracking_spends_the_chain_limit(
    database_url: str, chains: dict[str, Any], evm: EvmWorld
) -> None:
    settings = settings_for(database_url, **chains, tenant_max_tracked_tokens=1)
    async with serve(create_app(settings)) as client:
        first, second = (t.address for t in evm.tokens[:2])
        body = {"chain": "ethereum", "address": first}
        assert (await client.post("/api/v1/tokens", json=body)).status_code == 201
        assert (await client.post("/api/v1/tokens", json=body)).status_code == 200  # already
        more = await client.post("/api/v1/tokens", json={"chain": "ethereum", "address": second})
        _refused(more, "PORTFOLIO_TENANT_MAX_TRACKED_TOKENS")
    limited = settings_for(database_url, **chains, rate_limit_chain="2/minute")
    async with serve(create_app(limited)) as client:
        body = {"chain": "ethereum", "address": second}
        codes = [(await client.post("/api/v1/tokens", json=body)).status_code for _ in range(3)]
        assert codes[2] == 429  # a node call each: the chain routes' limit
        assert (await client.get("/api/v1/tokens")).status_code == 200  # listing is not
