"""PORTFOLIO_DATABASE_READ_URL: GET routes read from a replica, writes go to the primary.

The "replica" here is a second migrated database that nothing replicates into, so what a GET
answers tells which database it read; rows are then copied across by hand, as replication
would."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from portfolio.adapters.db.engine import create_engine
from portfolio.adapters.db.models import WalletRow
from portfolio.main.app import create_app
from tests.api.conftest import serve, settings_for
from tests.databases import fresh_postgres_database, migrate
from tests.netutil import free_port

ADDRESS = "0x1111111111111111111111111111111111111111"


@pytest.fixture
async def replica_url() -> str:
    url = await fresh_postgres_database("portfolio_test_replica")
    await migrate(url)
    return url


async def _copy_wallets(primary: str, replica: str) -> None:
    source, target = create_engine(primary, pool_size=1), create_engine(replica, pool_size=1)
    wallets = WalletRow.__table__
    try:
        async with source.connect() as read:
            rows = [dict(row) for row in (await read.execute(select(wallets))).mappings()]
        async with target.begin() as write:
            await write.execute(insert(WalletRow), rows)
    finally:
        await source.dispose()
        await target.dispose()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_reads_go_to_the_replica_and_writes_to_the_primary(
    database_url: str, replica_url: str
) -> None:
    settings = settings_for(database_url, database_read_url=replica_url)
    async with serve(create_app(settings)) as client:
        created = await client.post(
            "/api/v1/wallets", json={"chain": "ethereum", "address": ADDRESS}
        )
        assert created.status_code == 201
        wallet_id = created.json()["id"]
        assert (await client.get("/api/v1/wallets")).json()["items"] == []  # not replicated yet
        assert (await client.get(f"/api/v1/wallets/{wallet_id}")).status_code == 404
        await _copy_wallets(database_url, replica_url)
        listed = (await client.get("/api/v1/wallets")).json()["items"]
        assert [w["id"] for w in listed] == [wallet_id]
        assert (await client.get(f"/api/v1/wallets/{wallet_id}/balances")).status_code == 200
        assert (await client.delete(f"/api/v1/wallets/{wallet_id}")).status_code == 204
        # the primary has it no more; the replica still does until it replicates
        assert (await client.get(f"/api/v1/wallets/{wallet_id}")).status_code == 200


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_replica_that_does_not_answer_makes_the_service_not_ready(
    database_url: str,
) -> None:
    away = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere"
    settings = settings_for(
        database_url, database_read_url=away, database_connect_timeout_seconds=0.5
    )
    async with serve(create_app(settings)) as client:
        ready = await client.get("/api/v1/health/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database_replica"]["status"] == "fail"
        assert (await client.get("/api/v1/wallets")).status_code == 503
