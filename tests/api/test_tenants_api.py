"""Tenants through the app with keys on: each tenant's wallets, balances, portfolio, history and
refreshes are its own; another tenant's wallet is a 404 on every route; one address tracked by
two tenants is read from the chain once for both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portfolio.adapters.cache.announcements import NoRevocations
from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.keys import SqlApiKeyRepository
from portfolio.main.app import create_app
from portfolio.services.auth import KeyService
from tests.api.conftest import serve, settings_for
from tests.api.test_auth_api import UtcClock
from tests.chains.worlds import BIG, ONE, EvmWorld
from tests.rpcproxy import RpcProxy


@dataclass
class Tenants:
    client: httpx.AsyncClient
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    async def call(
        self,
        tenant: str,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = {**self.headers[tenant], **(headers or {})}
        return await self.client.request(method, path, headers=sent, **kwargs)

    async def add(self, tenant: str, address: str) -> str:
        body = {"chain": "ethereum", "address": address}
        response = await self.call(tenant, "POST", "/api/v1/wallets", json=body)
        assert response.status_code == 201, response.text
        wallet_id: str = response.json()["id"]
        return wallet_id


async def _keys(database_url: str, *tenants: str) -> dict[str, dict[str, str]]:
    engine = create_engine(database_url, pool_size=1)
    try:
        keys = KeyService(SqlApiKeyRepository(session_factory(engine)), NoRevocations(), UtcClock())
        return {t: {"X-API-Key": (await keys.create(t))[1]} for t in tenants}
    finally:
        await engine.dispose()


@pytest.fixture
async def two(
    database_url: str, chains: dict[str, Any], evm: EvmWorld
) -> AsyncIterator[tuple[Tenants, RpcProxy]]:
    async with RpcProxy(evm.node.url) as proxy:
        values = {**chains, "ethereum_rpc_urls": [proxy.url], "auth_enabled": True}
        async with serve(create_app(settings_for(database_url, **values))) as client:
            yield Tenants(client, await _keys(database_url, "alpha", "beta")), proxy


async def test_another_tenants_wallet_is_not_found_on_every_route(
    two: tuple[Tenants, RpcProxy],
) -> None:
    tenants, _ = two
    alphas = await tenants.add("alpha", ONE)
    for method, path in (
        ("GET", f"/api/v1/wallets/{alphas}"),
        ("DELETE", f"/api/v1/wallets/{alphas}"),
        ("POST", f"/api/v1/wallets/{alphas}/fetch"),
        ("GET", f"/api/v1/wallets/{alphas}/balances"),
    ):
        response = await tenants.call("beta", method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["type"] == "/problems/wallet-not-found"
    assert (await tenants.call("alpha", "GET", f"/api/v1/wallets/{alphas}")).status_code == 200
    listed = (await tenants.call("beta", "GET", "/api/v1/wallets")).json()
    assert listed == {"items": [], "next_cursor": None}
    refreshed = (await tenants.call("beta", "POST", "/api/v1/portfolio/refresh")).json()
    assert refreshed["wallets"] == []


async def test_one_address_two_tenants_read_once_each_sees_only_its_own(
    two: tuple[Tenants, RpcProxy],
) -> None:
    tenants, proxy = two
    alphas = await tenants.add("alpha", BIG)
    betas = await tenants.add("beta", BIG)  # the same address: allowed per tenant
    assert alphas != betas
    await tenants.add("alpha", ONE)
    calls = proxy.methods.count("eth_call")
    fetched = await tenants.call("alpha", "POST", f"/api/v1/wallets/{alphas}/fetch")
    assert fetched.status_code == 200, fetched.text
    assert proxy.methods.count("eth_call") == calls + 1  # one multicall for both wallets
    # beta's wallet was read with alpha's: its balances are there without a read of its own
    beta_balances = (await tenants.call("beta", "GET", f"/api/v1/wallets/{betas}/balances")).json()
    assert beta_balances["as_of"] == fetched.json()["as_of"]
    assert beta_balances["wallet_id"] == betas

    summaries = {t: await tenants.call(t, "GET", "/api/v1/portfolio") for t in ("alpha", "beta")}
    assert summaries["alpha"].json()["wallet_count"] == 2
    assert summaries["beta"].json()["wallet_count"] == 1
    assert {w["wallet_id"] for w in summaries["beta"].json()["by_wallet"]} == {betas}
    assert summaries["alpha"].headers["etag"] != summaries["beta"].headers["etag"]
    # an ETag of one tenant is no use to the other
    asked = {"If-None-Match": summaries["alpha"].headers["etag"]}
    again = await tenants.call("beta", "GET", "/api/v1/portfolio", headers=asked)
    assert again.status_code == 200

    outcome = (await tenants.call("beta", "POST", "/api/v1/portfolio/refresh")).json()
    assert [w["wallet_id"] for w in outcome["wallets"]] == [betas]
    histories = {
        t: (await tenants.call(t, "GET", "/api/v1/portfolio/history")).json()["points"]
        for t in ("alpha", "beta")
    }
    assert len(histories["alpha"]) == len(histories["beta"])

    assert (await tenants.call("beta", "DELETE", f"/api/v1/wallets/{betas}")).status_code == 204
    still = await tenants.call("alpha", "GET", f"/api/v1/wallets/{alphas}/balances")
    assert still.status_code == 200

    def held(document: dict[str, Any]) -> dict[str, str]:
        return {b["token"]["symbol"]: b["raw_balance"] for b in document["balances"]}

    # beta's refresh read the shared address for alpha too: its balances are there, newer
    assert held(still.json()) == held(fetched.json())
    assert still.json()["as_of"] >= fetched.json()["as_of"]


Op = tuple[str, str, int]  # (tenant, operation, which address or which wallet)

ops = st.lists(
    st.tuples(
        st.sampled_from(["alpha", "beta"]),
        st.sampled_from(["add", "delete", "get", "list"]),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=25,
)


class Model:
    """Which wallet each tenant holds at each of a few addresses, checked against the app."""

    def __init__(self, tenants: Tenants) -> None:
        self.tenants = tenants
        self.held: dict[str, dict[int, str]] = {"alpha": {}, "beta": {}}

    async def add(self, tenant: str, n: int) -> None:
        body = {"chain": "ethereum", "address": f"0x{n + 1:040x}"}
        response = await self.tenants.call(tenant, "POST", "/api/v1/wallets", json=body)
        if n in self.held[tenant]:
            assert response.status_code == 409
            assert response.json()["wallet_id"] == self.held[tenant][n]
        else:
            assert response.status_code == 201
            self.held[tenant][n] = response.json()["id"]

    async def delete(self, tenant: str, other: str, n: int) -> None:
        """Deletes the other tenant's wallet at ``n`` if there is one (refused), else its own."""
        target = self.held[other].get(n) or self.held[tenant].get(n)
        if target is None:
            return
        response = await self.tenants.call(tenant, "DELETE", f"/api/v1/wallets/{target}")
        mine = self.held[tenant].get(n) == target
        assert response.status_code == (204 if mine else 404)
        if mine:
            del self.held[tenant][n]

    async def guess(self, tenant: str, other: str) -> None:
        for wallet_id in self.held[other].values():
            for path in (f"/api/v1/wallets/{wallet_id}", f"/api/v1/wallets/{wallet_id}/balances"):
                assert (await self.tenants.call(tenant, "GET", path)).status_code == 404

    async def check(self) -> None:
        for name, held in self.held.items():
            listed = (await self.tenants.call(name, "GET", "/api/v1/wallets")).json()["items"]
            assert {w["id"] for w in listed} == set(held.values())
            summary = (await self.tenants.call(name, "GET", "/api/v1/portfolio")).json()
            assert summary["wallet_count"] == len(held)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=ops)
async def test_interleaved_tenants_never_see_each_others_data(
    sqlite_url: str, sqlite_engine: Any, steps: list[Op]
) -> None:
    """After every step each tenant's list and summary are its model, and every wallet of the
    other tenant is a 404, even to a guess of its id."""
    async with serve(create_app(settings_for(sqlite_url, auth_enabled=True))) as client:
        model = Model(Tenants(client, await _keys(sqlite_url, "alpha", "beta")))
        for tenant, op, n in steps:
            other = "beta" if tenant == "alpha" else "alpha"
            if op == "add":
                await model.add(tenant, n)
            elif op == "delete":
                await model.delete(tenant, other, n)
            elif op == "get":
                await model.guess(tenant, other)
            await model.check()
        for name, held in model.held.items():  # the engine fixture empties the database only
            for wallet_id in held.values():  # after the whole test: start each example clean
                await model.tenants.call(name, "DELETE", f"/api/v1/wallets/{wallet_id}")


LONG_SYMBOL = "\x07" + "LONG" * 25 + "\u202e\x85"  # a bell, 100 letters, an override, a C1
LONG_NAME = "A token named at length " * 20


async def test_a_long_symbol_one_tenant_tracks_breaks_no_ones_reads(
    two: tuple[Tenants, RpcProxy], evm: EvmWorld
) -> None:
    """Alpha tracks a token with a 100-character symbol at an address beta tracks too: both
    read it (the text is cut to 64 printable characters where it enters), on both databases."""
    tenants, _ = two
    token = await evm.node.deploy(
        "TestToken", ["string", "string", "uint8"], [LONG_NAME, LONG_SYMBOL, 6]
    )
    await evm.node.transact(token, "mint(address,uint256)", ["address", "uint256"],
                            [BIG, 5_000_000])  # fmt: skip
    alphas = await tenants.add("alpha", BIG)
    betas = await tenants.add("beta", BIG)
    tracked = await tenants.call(
        "alpha", "POST", "/api/v1/tokens", json={"chain": "ethereum", "address": token}
    )
    assert tracked.status_code == 201, tracked.text
    symbol, name = tracked.json()["symbol"], tracked.json()["name"]
    assert symbol == ("LONG" * 25)[:64]
    assert len(name) <= 64
    assert name.startswith("A token named at length")
    for tenant, wallet in (("alpha", alphas), ("beta", betas)):
        fetched = await tenants.call(tenant, "POST", f"/api/v1/wallets/{wallet}/fetch")
        assert fetched.status_code == 200, fetched.text
        refreshed = (await tenants.call(tenant, "POST", "/api/v1/portfolio/refresh")).json()
        assert [w["status"] for w in refreshed["wallets"]] == ["refreshed"]
    alpha = (await tenants.call("alpha", "GET", f"/api/v1/wallets/{alphas}/balances")).json()
    assert {b["token"]["symbol"]: b["balance"] for b in alpha["balances"]}[symbol] == "5"
    beta = (await tenants.call("beta", "GET", f"/api/v1/wallets/{betas}/balances")).json()
    assert symbol not in {b["token"]["symbol"] for b in beta["balances"]}  # alpha's, not beta's
    history = await tenants.call("alpha", "GET", "/api/v1/portfolio/history")
    assert history.status_code == 200


@pytest.fixture
async def refusing(postgres_url: str, postgres_engine: Any) -> AsyncIterator[Any]:
    """A trigger that makes PostgreSQL refuse the balance changes of the wallets it is told
    (with the SQLSTATE of a value too long), removed after the test."""
    engine = create_engine(postgres_url, pool_size=1)
    async with engine.begin() as connection:
        await connection.exec_driver_sql("CREATE TABLE refused_wallets (id text PRIMARY KEY)")
        await connection.exec_driver_sql(
            "CREATE FUNCTION refuse_wallet() RETURNS trigger AS $$ BEGIN "
            "IF NEW.wallet_id::text IN (SELECT id FROM refused_wallets) THEN "
            "RAISE EXCEPTION 'value too long' USING ERRCODE = '22001'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        await connection.exec_driver_sql(
            "CREATE TRIGGER refuse_wallet BEFORE INSERT ON balance_changes "
            "FOR EACH ROW EXECUTE FUNCTION refuse_wallet()"
        )

    async def refuse(wallet_id: str) -> None:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(
                f"INSERT INTO refused_wallets VALUES ('{wallet_id}')"  # noqa: S608 (a uuid)
            )

    try:
        yield refuse
    finally:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("DROP TRIGGER refuse_wallet ON balance_changes")
            await connection.exec_driver_sql("DROP FUNCTION refuse_wallet()")
            await connection.exec_driver_sql("DROP TABLE refused_wallets")
        await engine.dispose()


async def test_a_record_the_database_refuses_fails_its_wallet_alone(
    postgres_url: str, chains: dict[str, Any], evm: EvmWorld, refusing: Any
) -> None:
    values = {**chains, "auth_enabled": True}
    async with serve(create_app(settings_for(postgres_url, **values))) as client:
        tenants = Tenants(client, await _keys(postgres_url, "alpha", "beta"))
        refused = await tenants.add("alpha", BIG)
        neighbour = await tenants.add("alpha", ONE)
        other = await tenants.add("beta", BIG)  # another tenant's wallet at the same address
        await refusing(refused)
        outcome = (await tenants.call("alpha", "POST", "/api/v1/portfolio/refresh")).json()
        status = {w["wallet_id"]: (w["status"], w["error"]) for w in outcome["wallets"]}
        assert status[neighbour] == ("refreshed", None)
        assert status[refused][0] == "failed"
        assert "refused to store" in status[refused][1]
        betas = (await tenants.call("beta", "GET", f"/api/v1/wallets/{other}/balances")).json()
        assert betas["as_of"] is not None  # read and stored with alpha's, though alpha's failed
        again = (await tenants.call("beta", "POST", "/api/v1/portfolio/refresh")).json()
        assert [w["status"] for w in again["wallets"]] == ["refreshed"]
        fetched = await tenants.call("alpha", "POST", f"/api/v1/wallets/{refused}/fetch")
        assert fetched.status_code == 503  # its own fetch: an answer, no 500
        assert fetched.headers["content-type"] == "application/problem+json"
        path = f"/api/v1/wallets/{refused}/balances"
        balances = (await tenants.call("alpha", "GET", path)).json()
        assert "refused to store" in balances["last_error"]
        assert balances["stale"] is True
