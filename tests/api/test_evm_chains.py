"""EVM chains by configuration, end to end against two anvil nodes with different chain ids:
a chain the project has never seen, added by a chains file with its own native coin, price
names and token list; one address tracked on both chains in one call; portfolio, history and
refresh over both; one chain's node down leaving the other refreshed; a node answering the
wrong chain id keeping the service not ready, with the reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.models import WalletRow
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Token
from portfolio.main.app import create_app
from tests.api.conftest import chains_file, serve, settings_for
from tests.chains.anvil import AnvilNode, running_anvil
from tests.chains.lists import write_list
from tests.chains.worlds import ONE, ZERO, EvmWorld
from tests.prices.price_server import PriceServer, Quote
from tests.rpcproxy import RpcProxy

pytestmark = pytest.mark.slow

DEV_ID = 777  # a chain id no preset has
DEV_WEI = 3 * 10**18 + 5
SEVEN_UNITS = 12_345_678  # 1.2345678 of a 7-decimal token


@dataclass
class DevChain:
    node: AnvilNode
    seven: Token


@pytest.fixture(scope="module")
async def devchain() -> AsyncIterator[DevChain]:
    """A second anvil, chain id 777, with Multicall3, a 7-decimal token, and ONE holding some
    of both the native coin and the token."""
    async with running_anvil(chain_id=DEV_ID) as node:
        await node.install_multicall()
        address = await node.deploy("TestToken", ["string", "string", "uint8"],
                                    ["seven", "SEVEN", 7])  # fmt: skip
        await node.transact(address, "mint(address,uint256)", ["address", "uint256"],
                            [ONE, SEVEN_UNITS])  # fmt: skip
        await node.set_eth(ONE, DEV_WEI)
        yield DevChain(node, Token(Chain("devchain"), address, "SEVEN", "Seven", 7, True))


@pytest.fixture
async def prices(evm: EvmWorld, devchain: DevChain) -> AsyncIterator[PriceServer]:
    async with PriceServer() as server:
        server.llama = {
            "coingecko:ethereum": Quote(Decimal("2000")),
            f"ethereum:{evm.six.address}": Quote(Decimal("0.5")),
            "coingecko:dev-coin": Quote(Decimal("2")),
            f"devchain:{devchain.seven.address}": Quote(Decimal("3")),
        }
        yield server


async def wallet_count(engine: AsyncEngine) -> int:
    async with session_factory(engine)() as session:
        return int(await session.scalar(select(func.count()).select_from(WalletRow)) or 0)


def settings(
    database_url: str,
    chains: dict[str, Any],
    prices: PriceServer,
    tmp_path: Path,
    dev_url: str,
    devchain: DevChain,
) -> Any:
    dev_list = write_list(tmp_path / "dev.json", DEV_ID, [devchain.seven])
    return settings_for(
        database_url,
        **chains,
        evm_chains_file=chains_file(tmp_path / "chains.toml", DEV_ID, dev_url, dev_list),
        defillama_base_url=f"{prices.url}/llama",
        price_sources=["defillama"],
    )  # fmt: skip


async def test_one_address_on_two_evm_chains_end_to_end(
    postgres_engine: AsyncEngine,
    postgres_url: str,
    chains: dict[str, Any],
    prices: PriceServer,
    devchain: DevChain,
    tmp_path: Path,
) -> None:
    async with RpcProxy(devchain.node.url) as dev_proxy:
        app = create_app(settings(postgres_url, chains, prices, tmp_path, dev_proxy.url, devchain))
        async with serve(app) as client:
            created = await client.post(
                "/api/v1/wallets", json={"chains": ["ethereum", "devchain"], "address": ONE}
            )
            assert created.status_code == 201, created.text
            items = created.json()["items"]
            assert [w["chain"] for w in items] == ["ethereum", "devchain"]
            assert created.headers["location"] == f"/api/v1/wallets/{items[0]['id']}"

            # All or none: a chain not configured, or a wallet already tracked, creates nothing.
            unknown = await client.post(
                "/api/v1/wallets", json={"chains": ["base", "devchain"], "address": ZERO}
            )
            assert unknown.status_code == 422  # base has no nodes here: not configured
            assert "base is not a configured chain" in unknown.json()["detail"]
            first = await client.post(
                "/api/v1/wallets", json={"chain": "ethereum", "address": ZERO}
            )
            assert first.status_code == 201
            both = await client.post(
                "/api/v1/wallets", json={"chains": ["devchain", "ethereum"], "address": ZERO}
            )
            assert both.status_code == 409
            assert both.json()["wallet_id"] == first.json()["id"]
            assert await wallet_count(postgres_engine) == 3  # no ZERO on devchain
            assert (await client.delete(f"/api/v1/wallets/{first.json()['id']}")).status_code == 204

            refreshed = (await client.post("/api/v1/portfolio/refresh")).json()
            assert (refreshed["refreshed"], refreshed["failed"]) == (2, 0)
            summary = (await client.get("/api/v1/portfolio")).json()
            by_chain = {c["chain"]: Decimal(c["usd_value"]) for c in summary["by_chain"]}
            dev_value = Decimal(DEV_WEI) / 10**18 * 2 + Decimal(SEVEN_UNITS) / 10**7 * 3
            eth_value = Decimal(1) / 10**18 * 2000 + Decimal(1) / 10**6 * Decimal("0.5")
            assert by_chain["devchain"] == dev_value.quantize(Decimal("0.01"))
            assert by_chain["ethereum"] == eth_value.quantize(Decimal("0.01"))
            tokens = {(t["token"]["chain"], t["token"]["symbol"]) for t in summary["by_token"]}
            assert {("devchain", "DEV"), ("devchain", "SEVEN"), ("ethereum", "ETH")} <= tokens
            dev_wallet = items[1]["id"]
            held = (await client.get(f"/api/v1/wallets/{dev_wallet}/balances")).json()
            amounts = {b["token"]["symbol"]: b["balance"] for b in held["balances"]}
            assert amounts == {"DEV": "3.000000000000000005", "SEVEN": "1.2345678"}
            history = (await client.get("/api/v1/portfolio/history?interval=5m")).json()
            assert set(history["points"][-1]["by_chain"]) == {"ethereum", "devchain"}
            health = (await client.get("/api/v1/health")).json()
            assert health["checks"]["devchain_chain_id"]["status"] == "pass"

            # The dev chain's node fails: Ethereum is still refreshed, the dev wallet's stored
            # balances stay as they were.
            dev_proxy.fault = "500"
            partial = (await client.post("/api/v1/portfolio/refresh")).json()
            outcome = {w["chain"]: w["status"] for w in partial["wallets"]}
            assert outcome == {"ethereum": "refreshed", "devchain": "failed"}
            kept = (await client.get(f"/api/v1/wallets/{dev_wallet}/balances")).json()
            assert {b["token"]["symbol"]: b["balance"] for b in kept["balances"]} == amounts
            assert kept["stale"] is True


async def test_a_node_of_another_chain_is_not_ready_and_never_read(
    database_url: str, chains: dict[str, Any], evm: EvmWorld
) -> None:
    # Base's nodes must answer 8453; this one is the devnet (31337).
    app = create_app(settings_for(database_url, **chains, base_rpc_urls=[evm.node.url]))
    async with serve(app) as client:
        ready = await client.get("/api/v1/health/ready")
        assert ready.status_code == 503
        detail = ready.json()["checks"]["base_chain_id"]["detail"]
        assert "answers chain id 31337, not 8453" in detail
        created = await client.post("/api/v1/wallets", json={"chain": "base", "address": ONE})
        assert created.status_code == 201
        fetched = await client.post(f"/api/v1/wallets/{created.json()['id']}/fetch")
        assert fetched.status_code == 503
        assert "not 8453" in fetched.json()["detail"]
