"""Webhooks through the app, delivered by its own dispatcher (no Redis: the API process sends)
to a real receiver that verifies every signature with the ``standardwebhooks`` library."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from typing import Any

import httpx
import pytest
from eth_utils.address import to_checksum_address

from portfolio.domain import webhooks as webhook_rules
from portfolio.main.app import create_app
from tests.api.conftest import add, serve, settings_for
from tests.api.test_tenants_api import _keys
from tests.chains.worlds import EvmWorld
from tests.receiver import receiver

ALLOWED = {"webhook_allow_private": True}


def fresh_address() -> str:
    return to_checksum_address("0x" + secrets.token_hex(20))


async def create(client: httpx.AsyncClient, url: str, **extra: Any) -> httpx.Response:
    body = {"url": url, "events": ["balances.changed", "wallet.read_failed"], **extra}
    return await client.post("/api/v1/webhooks", json=body)


async def test_a_webhook_gets_signed_events_and_its_deliveries_are_listed(
    database_url: str, chains: dict[str, Any], evm: EvmWorld
) -> None:
    address = fresh_address()
    await evm.node.set_eth(address, 10**18)
    settings = settings_for(database_url, **chains, **ALLOWED)
    with receiver() as hook:
        async with serve(create_app(settings)) as client:
            made = await create(client, hook.url, description="treasury")
            assert made.status_code == 201, made.text
            webhook = made.json()
            secret = webhook["secret"]
            assert secret.startswith("whsec_")
            assert made.headers["location"] == f"/api/v1/webhooks/{webhook['id']}"
            listed = await client.get("/api/v1/webhooks")
            shown = await client.get(f"/api/v1/webhooks/{webhook['id']}")
            for answer in (listed, shown):
                assert answer.status_code == 200
                assert secret not in answer.text
                assert "secret" not in answer.text
            assert [w["id"] for w in listed.json()["items"]] == [webhook["id"]]

            ping = await client.post(f"/api/v1/webhooks/{webhook['id']}/test")
            assert ping.status_code == 202
            (pinged,) = await hook.wait_for(1)
            assert pinged.verified(secret)["type"] == "ping"
            assert pinged.headers["webhook-id"] == ping.json()["event_id"]

            wallet = await add(client, "ethereum", address)
            assert (await client.post(f"/api/v1/wallets/{wallet}/fetch")).status_code == 200
            await evm.node.set_eth(address, 3 * 10**18 + 1)
            assert (await client.post(f"/api/v1/wallets/{wallet}/fetch")).status_code == 200
            # Messages are sent concurrently: a receiver orders them by their data if it must.
            got = sorted((await hook.wait_for(3))[1:], key=lambda r: len(r.body))
            bodies = [r.verified(secret) for r in got]
            if bodies[0]["data"]["tokens"][0]["before"]["raw"] != "0":
                got, bodies = got[::-1], bodies[::-1]
            assert [b["type"] for b in bodies] == ["balances.changed"] * 2
            first, second = (b["data"] for b in bodies)
            assert first["wallet_id"] == wallet
            assert first["address"] == address
            (eth,) = second["tokens"]
            assert eth["token"]["address"] is None
            assert eth["token"]["symbol"] == "ETH"
            assert eth["before"] == {"raw": str(10**18), "amount": "1"}
            assert eth["after"] == {"raw": str(3 * 10**18 + 1), "amount": "3.000000000000000001"}
            ids = [r.headers["webhook-id"] for r in got]
            assert len(set(ids)) == 2
            assert all(i.startswith("evt_") for i in ids)
            with pytest.raises(Exception, match="signature"):
                got[0].verified(webhook_rules.new_secret())  # another secret does not verify

            items = await tries(client, webhook["id"], 3)
            assert items[-1]["event_id"] == pinged.headers["webhook-id"]
            assert {i["event_id"] for i in items[:2]} == set(ids)
            assert {i["status_code"] for i in items} == {200}
            assert all(len(i["response"].encode()) <= 1024 for i in items)

            assert (await client.delete(f"/api/v1/webhooks/{webhook['id']}")).status_code == 204
            gone = await client.get(f"/api/v1/webhooks/{webhook['id']}")
            assert gone.status_code == 404
            assert gone.json()["type"] == "/problems/webhook-not-found"


async def test_a_receiver_down_for_a_while_gets_every_event_with_the_same_ids(
    database_url: str, chains: dict[str, Any], evm: EvmWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_rules, "RETRY_DELAYS", (webhook_rules.RETRY_DELAYS[0] / 10,) * 7)
    address = fresh_address()
    settings = settings_for(database_url, **chains, **ALLOWED)
    with receiver() as hook:
        async with serve(create_app(settings)) as client:
            made = (await create(client, hook.url)).json()
            secret = made["secret"]
            hook.status = 503
            wallet = await add(client, "ethereum", address)
            for wei in (1, 2, 3):
                await evm.node.set_eth(address, wei)
                assert (await client.post(f"/api/v1/wallets/{wallet}/fetch")).status_code == 200
            failed = await hook.wait_for(6)  # each event tried at least twice
            sent = {r.headers["webhook-id"] for r in failed}
            assert len(sent) == 3
            hook.status = 200
            count = len(hook.got())
            await hook.wait_for(count + 3)
            logged = await tries(client, made["id"], count + 3)
            assert {t["status_code"] for t in logged[:3]} == {200}
            assert {t["status_code"] for t in logged[3:]} == {503}
            after = hook.got()[count:]
            assert {r.headers["webhook-id"] for r in after} == sent  # the same ids, each once
            afters = sorted(r.verified(secret)["data"]["tokens"][0]["after"]["raw"] for r in after)
            assert afters == ["1", "2", "3"]


async def tries(
    client: httpx.AsyncClient, webhook_id: str, count: int, headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The webhook's delivery log once it lists ``count`` tries (each is recorded once its
    answer came)."""
    deadline = time.monotonic() + 10
    while True:
        answer = await client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=headers)
        items: list[dict[str, Any]] = answer.json()["items"]
        if len(items) >= count:
            return items
        assert time.monotonic() < deadline, items
        await asyncio.sleep(0.05)


@pytest.mark.parametrize(
    ("url", "allowed", "why"),
    [
        ("http://example.com/hook", False, "https"),
        ("https://127.0.0.1/hook", False, "loopback"),
        ("https://localhost:8443/hook", False, "loopback"),
        ("https://[::1]/hook", False, "loopback"),
        ("https://10.1.2.3/hook", False, "private"),
        ("https://192.168.0.1/hook", False, "private"),
        ("https://[::ffff:127.0.0.1]/hook", False, "loopback"),
        ("https://169.254.169.254/latest/meta-data", True, "link-local"),
        ("http://[fe80::1]/hook", True, "link-local"),
        ("https://0.0.0.0/hook", True, "not a host"),
        ("https://user:pass@example.com/hook", False, "credentials"),
        ("ftp://example.com/hook", True, "http"),
        ("https:///hook", False, "host"),
        ("https://example.com:99999/hook", False, "valid"),
    ],
)
async def test_hostile_urls_are_refused_when_made(
    sqlite_url: str, sqlite_engine: object, url: str, allowed: bool, why: str
) -> None:
    settings = settings_for(sqlite_url, webhook_allow_private=allowed)
    async with serve(create_app(settings)) as client:
        answer = await create(client, url)
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert answer.headers["content-type"] == "application/problem+json"
        assert why in json.dumps(problem), problem
        assert (await client.get("/api/v1/webhooks")).json() == {"items": []}


async def test_a_redirect_is_not_followed(
    sqlite_url: str, sqlite_engine: object, chains: dict[str, Any], evm: EvmWorld
) -> None:
    settings = settings_for(sqlite_url, **chains, **ALLOWED)
    with receiver() as target, receiver() as hook:
        hook.status, hook.location = 307, target.url
        async with serve(create_app(settings)) as client:
            webhook = (await create(client, hook.url)).json()
            await client.post(f"/api/v1/webhooks/{webhook['id']}/test")
            (tried,) = await tries(client, webhook["id"], 1)
            assert tried["status_code"] == 307
            assert target.got() == []


async def test_tenants_see_only_their_webhooks_and_events(
    database_url: str, chains: dict[str, Any], evm: EvmWorld
) -> None:
    settings = settings_for(database_url, **chains, **ALLOWED, auth_enabled=True)
    keys = await _keys(database_url, "alpha", "beta")
    address = fresh_address()
    await evm.node.set_eth(address, 7)
    with receiver() as alphas, receiver() as betas:
        async with serve(create_app(settings)) as client:
            hooks = {}
            for tenant, hook in (("alpha", alphas), ("beta", betas)):
                body = {"url": hook.url, "events": ["balances.changed"]}
                made = await client.post("/api/v1/webhooks", json=body, headers=keys[tenant])
                hooks[tenant] = made.json()["id"]
            for method, path in (
                ("GET", f"/api/v1/webhooks/{hooks['alpha']}"),
                ("DELETE", f"/api/v1/webhooks/{hooks['alpha']}"),
                ("POST", f"/api/v1/webhooks/{hooks['alpha']}/test"),
                ("GET", f"/api/v1/webhooks/{hooks['alpha']}/deliveries"),
            ):
                answer = await client.request(method, path, headers=keys["beta"])
                assert answer.status_code == 404, (method, path)
            listed = await client.get("/api/v1/webhooks", headers=keys["beta"])
            assert [w["id"] for w in listed.json()["items"]] == [hooks["beta"]]
            body = {"chain": "ethereum", "address": address}
            wallet = await client.post("/api/v1/wallets", json=body, headers=keys["alpha"])
            fetched = await client.post(
                f"/api/v1/wallets/{wallet.json()['id']}/fetch", headers=keys["alpha"]
            )
            assert fetched.status_code == 200
            (got,) = await alphas.wait_for(1)
            await tries(client, hooks["alpha"], 1, keys["alpha"])
            assert json.loads(got.body)["data"]["address"] == address
            assert betas.got() == []


async def test_a_read_only_key_cannot_add_or_remove_webhooks(
    database_url: str, chains: dict[str, Any]
) -> None:
    from portfolio.adapters.cache.announcements import NoRevocations
    from portfolio.adapters.db.engine import create_engine, session_factory
    from portfolio.adapters.db.keys import SqlApiKeyRepository
    from portfolio.services.auth import KeyService
    from tests.api.test_auth_api import UtcClock

    engine = create_engine(database_url, pool_size=1)
    keys = KeyService(SqlApiKeyRepository(session_factory(engine)), NoRevocations(), UtcClock())
    writer = {"X-API-Key": (await keys.create("gamma"))[1]}
    reader = {"X-API-Key": (await keys.create("gamma", read_only=True))[1]}
    await engine.dispose()
    settings = settings_for(database_url, **ALLOWED, auth_enabled=True)
    async with serve(create_app(settings)) as client:
        body = {"url": "http://127.0.0.1:9/hook", "events": ["balances.changed"]}
        refused = await client.post("/api/v1/webhooks", json=body, headers=reader)
        assert refused.status_code == 403
        made = await client.post("/api/v1/webhooks", json=body, headers=writer)
        assert made.status_code == 201
        path = f"/api/v1/webhooks/{made.json()['id']}"
        assert (await client.delete(path, headers=reader)).status_code == 403
        assert (await client.get(path, headers=reader)).status_code == 200
        assert (await client.delete(path, headers=writer)).status_code == 204
