from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from portfolio.config import Settings
from portfolio.main.app import create_app
from tests.chains.anvil import CHAIN_ID
from tests.chains.lists import write_list
from tests.chains.worlds import EvmWorld, SolanaWorld
from tests.netutil import free_port


def settings_for(database_url: str, **overrides: Any) -> Settings:
    """Settings for a test: no .env file, and chains and price sources on loopback ports
    nobody listens on (a test that reads a chain or a price names its own server)."""
    nowhere = f"http://127.0.0.1:{free_port()}"
    values: dict[str, Any] = {
        "database_url": database_url,
        "ethereum_rpc_urls": [nowhere],
        "solana_rpc_urls": [nowhere],
        "defillama_base_url": nowhere,
        "coingecko_base_url": nowhere,
        # Limits far above what a test sends, unless a test of the limits sets its own.
        "rate_limit": "1000000/minute",
        "rate_limit_chain": "1000000/minute",
        "rate_limit_auth_failures": "1000000/minute",
        "refresh_interval_seconds": 0,  # no cycle reads chains behind a test's back
        "allowed_hosts": ["portfolio", "localhost", "127.0.0.1"],  # the test client's host
        "health_cache_seconds": 0,  # a test sees a dependency's change at once
        **overrides,
    }
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, behind an httpx client."""
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://portfolio") as client:
            yield client


def chains_file(path: Path, chain_id: int, url: str, token_list: str) -> str:
    """A chains file of one chain the project has never seen: "devchain", its coin DEV."""
    path.write_text(
        f"""
[[chains]]
name = "devchain"
chain_id = {chain_id}
rpc_urls = ["{url}"]
native_symbol = "DEV"
native_name = "Dev coin"
native_price_id = "dev-coin"
defillama_chain = "devchain"
token_list = "{token_list}"
"""
    )
    return str(path)


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app on a migrated database of each kind, emptied after the test."""
    async with serve(create_app(settings_for(database_url))) as client:
        yield client


@pytest.fixture
def chains(evm: EvmWorld, solana: SolanaWorld, tmp_path: Path) -> dict[str, Any]:
    solana.server.fault = None
    solana.server.next_faults = []
    solana.server.malformed = set()  # what a reader test left switched on
    solana.server.batches = True
    solana.server.honour_data_slice = True
    return {
        "ethereum_rpc_urls": [evm.node.url],
        "ethereum_chain_id": CHAIN_ID,  # a devnet's id: its node must answer it
        "ethereum_token_list": write_list(tmp_path / "evm.json", CHAIN_ID, evm.tokens),
        "solana_rpc_urls": [solana.server.url],
        "solana_token_list": write_list(tmp_path / "sol.json", 101, solana.token_list),
        "rpc_timeout_seconds": 2,
        "rpc_backoff_seconds": 0.01,
    }


async def add(client: httpx.AsyncClient, chain: str, address: str) -> str:
    response = await client.post("/api/v1/wallets", json={"chain": chain, "address": address})
    assert response.status_code == 201, response.text
    wallet_id: str = response.json()["id"]
    return wallet_id
