from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from portfolio.api.app import create_app
from portfolio.config import Settings
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
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, behind an httpx client."""
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://portfolio") as client:
            yield client


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The whole app on a migrated database of each kind, emptied after the test."""
    async with serve(create_app(settings_for(database_url))) as client:
        yield client
