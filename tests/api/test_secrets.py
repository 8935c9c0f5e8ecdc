"""RPC URLs with credentials in the userinfo, the path and the query, an API key, and a token
list URL with a key in its path and query, planted in the settings of a real uvicorn logging at
DEBUG: after fetches that succeed and fail, a refresh and the system routes, no secret is in
any answer, log line or database row."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.chains.anvil import CHAIN_ID
from tests.chains.lists import write_list
from tests.chains.worlds import ONE, EvmWorld, SolanaWorld
from tests.netutil import free_port
from tests.rpcproxy import RpcProxy
from tests.server import list_server, running_uvicorn, server_env

pytestmark = pytest.mark.slow

SECRETS = [
    "PwAlice4f1c9e", "PathKeyA9d2b7", "QueryKeyA7a3e1",
    "PwBob02b8d4f", "PathKeyB5e6c3", "QueryKeyB1f9a0",
    "PwCarol8c7d2a", "PathKeyC3b4e8", "QueryKeyC6d0f2",
    "GeckoKey5a8e3c", "ListPath7e2d9f", "ListQuery3c8b1a", "MetricsTok9b2e4d",
]  # fmt: skip


def _hostport(url: str) -> str:
    return url.removeprefix("http://").split("/", 1)[0]


@pytest.fixture
def lists(evm: EvmWorld, tmp_path: Path) -> Iterator[str]:
    """Where the whole test token list is served."""
    path = Path(write_list(tmp_path / "evm-all.json", CHAIN_ID, evm.tokens))
    with list_server(path.read_bytes()) as url:
        yield url


async def test_no_secret_of_an_endpoint_reaches_answers_logs_or_rows(
    evm: EvmWorld, solana: SolanaWorld, tmp_path: Path, lists: str
) -> None:
    dead = free_port()
    evm_list = write_list(tmp_path / "evm.json", CHAIN_ID, evm.tokens[:1])
    async with RpcProxy(evm.node.url) as proxy:
        keyed_list = f"{lists}/lists/{SECRETS[10]}/tokens.json?x_api_key={SECRETS[11]}"
        eth_dead = f"http://alice:{SECRETS[0]}@127.0.0.1:{dead}/v2/{SECRETS[1]}?apikey={SECRETS[2]}"
        eth_live = (
            f"http://bob:{SECRETS[3]}@{_hostport(proxy.url)}/v3/{SECRETS[4]}?key={SECRETS[5]}"
        )
        sol = (
            f"http://carol:{SECRETS[6]}@{_hostport(solana.server.url)}/rpc/{SECRETS[7]}"
            f"?api-key={SECRETS[8]}"
        )
        # Some secrets from files, as Kubernetes and Compose mount them: a _FILE variable
        # and a secrets directory.
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "PORTFOLIO_METRICS_TOKEN").write_text(f"{SECRETS[12]}\n")
        (tmp_path / "rpc-urls").write_text(f"{eth_dead},{eth_live}\n")
        env = server_env(
            tmp_path,
            log_level="DEBUG",
            ethereum_rpc_urls_file=str(tmp_path / "rpc-urls"),
            secrets_dir=str(secrets),
            ethereum_chain_id=str(CHAIN_ID),
            solana_rpc_urls=sol,
            ethereum_token_list=f"{evm_list},{keyed_list}",
            solana_token_list=write_list(tmp_path / "sol.json", 101, solana.token_list),
            price_sources="coingecko",
            coingecko_base_url=f"http://127.0.0.1:{free_port()}/api/v3",
            coingecko_api_key=SECRETS[9],
            rpc_timeout_seconds="2",
            rpc_backoff_seconds="0.01",
            rpc_breaker_threshold="100",
        )
        del env["PORTFOLIO_ETHEREUM_RPC_URLS"]  # (set outright, it would win over the file)
        answers: list[str] = []
        try:
            with running_uvicorn(env, tmp_path) as server:
                async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:

                    async def call(method: str, path: str, **kwargs: object) -> httpx.Response:
                        response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
                        answers.append(f"{response.status_code} {response.headers} {response.text}")
                        return response

                    wallets = []
                    for chain, address in (("ethereum", ONE), ("solana", solana.rich)):
                        body = {"chain": chain, "address": address}
                        wallets.append((await call("POST", "/api/v1/wallets", json=body)).json())
                    eth, rich = (w["id"] for w in wallets)
                    fetched = await call("POST", f"/api/v1/wallets/{eth}/fetch")
                    assert fetched.status_code == 200
                    symbols = {b["token"]["symbol"] for b in fetched.json()["balances"]}
                    assert {"SIX", "EIGHTEEN"} <= symbols  # EIGHTEEN: from the keyed list
                    assert (await call("POST", f"/api/v1/wallets/{rich}/fetch")).status_code == 200

                    proxy.fault = "500"
                    solana.server.fault = "500"
                    failed = await call("POST", f"/api/v1/wallets/{eth}/fetch")
                    assert failed.status_code == 503
                    # The endpoints are named, by their redacted names.
                    assert f"127.0.0.1:{dead}#" in failed.json()["detail"]
                    assert f"{_hostport(proxy.url)}#" in failed.json()["detail"]
                    assert (await call("POST", f"/api/v1/wallets/{rich}/fetch")).status_code == 503
                    for wallet in (eth, rich):
                        balances = await call("GET", f"/api/v1/wallets/{wallet}/balances")
                        assert balances.json()["last_error"]
                    refresh = await call("POST", "/api/v1/portfolio/refresh")
                    assert refresh.json()["failed"] == 2
                    for path in ("/api/v1/portfolio", "/health", "/metrics", "/openapi.json"):
                        await call("GET", path)
                    scrape = {"Authorization": f"Bearer {SECRETS[12]}"}
                    assert (await call("GET", "/metrics", headers=scrape)).status_code == 200

                    proxy.fault = None
                    solana.server.fault = None
                    assert (await call("POST", f"/api/v1/wallets/{eth}/fetch")).status_code == 200
        finally:
            proxy.fault = None
            solana.server.fault = None
    log = server.log
    assert '"level":"DEBUG","logger":"httpcore' in log  # the libraries' DEBUG lines are there
    assert '"logger":"httpx._client","message":"HTTP Request: POST' in log  # (with URLs)
    with sqlite3.connect(tmp_path / "served.db") as db:
        rows = "\n".join(db.iterdump())
    assert 'INSERT INTO "balance_changes"' in rows  # the rows were written
    for secret in SECRETS:
        assert not [a for a in answers if secret in a], secret
        assert secret not in log, (secret, [line for line in log.splitlines() if secret in line])
        assert secret not in rows, secret


def test_a_token_list_that_cannot_be_read_is_named_without_its_key(tmp_path: Path) -> None:
    port = free_port()
    dead = f"http://127.0.0.1:{port}/lists/{SECRETS[10]}.json?x_api_key={SECRETS[11]}"
    env = server_env(tmp_path, ethereum_token_list=f"shipped,{dead}")
    with running_uvicorn(env, tmp_path) as server:
        health = httpx.get(f"{server.url}/api/v1/health", timeout=10).text
        assert f"127.0.0.1:{port}#" in health  # named, by its redacted name
    log = server.log
    assert "token list(s) could not be read" in log
    for secret in SECRETS[10:12]:
        assert secret not in health, secret
        assert secret not in log, secret
