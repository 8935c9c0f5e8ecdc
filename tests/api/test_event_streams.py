"""The live event stream from a real uvicorn process: an SSE client (httpx-sse) and a WebSocket
client (``websockets``) get a balance change within 2 s of the fetch that made it, resume after
a dropped connection without a gap, and see only their tenant's events; a browser's path (a
stream token from an authenticated POST, in the URL) is the one tested for tenants."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.api.test_tenants_api import _keys
from tests.api.test_webhooks_api import fresh_address
from tests.chains.anvil import CHAIN_ID
from tests.chains.lists import write_list
from tests.chains.worlds import EvmWorld
from tests.server import Uvicorn, running_uvicorn, server_env

REDIS = "redis://127.0.0.1:6379/13"
SETTLE = 0.5  # a connection's subscription is made just after its handshake


def chain_env(tmp_path: Path, evm: EvmWorld, **extra: str) -> dict[str, str]:
    return server_env(
        tmp_path,
        ethereum_rpc_urls=evm.node.url,
        ethereum_chain_id=str(CHAIN_ID),
        ethereum_token_list=write_list(tmp_path / "evm.json", CHAIN_ID, evm.tokens),
        **extra,
    )


class SseClient:
    """Collects one SSE connection's messages in a task."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.got: list[Any] = []
        self._url, self._headers = url, headers
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(5, read=None)) as client,
            aconnect_sse(client, "GET", self._url, headers=self._headers) as source,
        ):
            assert source.response.status_code == 200
            async for sse in source.aiter_sse():
                body = json.loads(sse.data)
                assert (sse.id, sse.event) == (body["id"], body["type"])
                self.got.append(body)

    async def __aenter__(self) -> SseClient:
        self._task = asyncio.create_task(self._read())
        await asyncio.sleep(SETTLE)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        if self._task.done():
            self._task.result()  # its failure, if any
        self._task.cancel()


@asynccontextmanager
async def ws_client(url: str, headers: dict[str, str]) -> AsyncIterator[ClientConnection]:
    async with connect(url, additional_headers=headers) as ws:
        await asyncio.sleep(SETTLE)
        yield ws


async def until(check: Any, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.02)


async def change(client: httpx.AsyncClient, evm: EvmWorld, wallet: str, address: str, wei: int,
                 headers: dict[str, str] | None = None) -> float:  # fmt: skip
    """Set the wallet's ETH and fetch it; when the fetch answered."""
    await evm.node.set_eth(address, wei)
    fetched = await client.post(f"/api/v1/wallets/{wallet}/fetch", headers=headers)
    assert fetched.status_code == 200, fetched.text
    return time.monotonic()


async def test_sse_and_websocket_get_a_change_within_2_s_and_resume_without_a_gap(
    tmp_path: Path, evm: EvmWorld
) -> None:
    address = fresh_address()
    with running_uvicorn(chain_env(tmp_path, evm), tmp_path) as server:
        ws_url = server.url.replace("http://", "ws://") + "/api/v1/events/ws"
        async with httpx.AsyncClient(base_url=server.url) as client:
            made = await client.post(
                "/api/v1/wallets", json={"chain": "ethereum", "address": address}
            )
            wallet = made.json()["id"]
            async with (
                SseClient(f"{server.url}/api/v1/events", {}) as sse,
                ws_client(ws_url, {}) as ws,
            ):
                fetched = await change(client, evm, wallet, address, 5)
                first = json.loads(await asyncio.wait_for(ws.recv(), 2))
                await until(lambda: len(sse.got) == 1, 2)
                assert time.monotonic() - fetched < 2
                assert sse.got == [first]
                assert first["type"] == "balances.changed"
                assert first["data"]["wallet_id"] == wallet
                assert first["data"]["tokens"][0]["after"]["raw"] == "5"
            # Both dropped; changes happen meanwhile; both resume from the last id they saw.
            for wei in (6, 7, 8):
                await change(client, evm, wallet, address, wei)
            headers = {"Last-Event-ID": first["id"]}
            async with (
                SseClient(f"{server.url}/api/v1/events", headers) as sse,
                ws_client(f"{ws_url}?last_event_id={first['id']}", {}) as ws,
            ):
                resumed = [json.loads(await asyncio.wait_for(ws.recv(), 2)) for _ in range(3)]
                await until(lambda: len(sse.got) == 3, 2)
                raws = [e["data"]["tokens"][0]["after"]["raw"] for e in resumed]
                assert raws == ["6", "7", "8"]
                assert sse.got == resumed
                await change(client, evm, wallet, address, 9)  # then live again, once each
                live = json.loads(await asyncio.wait_for(ws.recv(), 2))
                await until(lambda: len(sse.got) == 4, 2)
                assert live["data"]["tokens"][0]["after"]["raw"] == "9"
                assert sse.got[3] == live
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 1.5)  # nothing twice
                assert len(sse.got) == 4
            await _server_still_answers(server)


async def test_each_tenant_streams_its_own_events_and_a_browser_opens_with_a_token(
    tmp_path: Path, evm: EvmWorld
) -> None:
    env = chain_env(tmp_path, evm, auth_enabled="true")
    address, other = fresh_address(), fresh_address()  # one address would be read for both
    with running_uvicorn(env, tmp_path) as server:
        keys = await _keys(env["PORTFOLIO_DATABASE_URL"], "alpha", "beta")
        ws_url = server.url.replace("http://", "ws://") + "/api/v1/events/ws"
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/api/v1/events")).status_code == 401
            refused = await client.get("/api/v1/events", params={"token": "pst_forged"})
            assert refused.status_code == 401
            assert refused.headers["content-type"] == "application/problem+json"
            with pytest.raises(InvalidStatus):
                async with connect(ws_url):
                    pass
            issued = await client.post("/api/v1/events/token", headers=keys["alpha"])
            assert issued.status_code == 200
            token = issued.json()["token"]
            body = {"chain": "ethereum", "address": address}
            alphas = await client.post("/api/v1/wallets", json=body, headers=keys["alpha"])
            body = {"chain": "ethereum", "address": other}
            betas = await client.post("/api/v1/wallets", json=body, headers=keys["beta"])
            async with (
                SseClient(f"{server.url}/api/v1/events?token={token}", {}) as alpha_sse,
                SseClient(f"{server.url}/api/v1/events", keys["beta"]) as beta_sse,
                ws_client(f"{ws_url}?token={token}", {}) as alpha_ws,
                ws_client(ws_url, keys["beta"]) as beta_ws,
            ):
                await change(client, evm, alphas.json()["id"], address, 11, keys["alpha"])
                mine = json.loads(await asyncio.wait_for(alpha_ws.recv(), 2))
                await until(lambda: len(alpha_sse.got) == 1, 2)
                assert mine["tenant"] == "alpha"
                assert mine["data"]["wallet_id"] == alphas.json()["id"]
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(beta_ws.recv(), 1.5)
                assert beta_sse.got == []
                await change(client, evm, betas.json()["id"], other, 12, keys["beta"])
                theirs = json.loads(await asyncio.wait_for(beta_ws.recv(), 2))
                assert theirs["tenant"] == "beta"
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(alpha_ws.recv(), 1.5)
                assert [e["tenant"] for e in alpha_sse.got] == ["alpha"]
            # Another tenant's event id resumes nothing of theirs.
            async with SseClient(f"{server.url}/api/v1/events", {**keys["alpha"],
                                 "Last-Event-ID": theirs["id"]}) as sse:  # fmt: skip
                await asyncio.sleep(1)
                assert sse.got == []
        assert token not in server.log


async def _server_still_answers(server: Uvicorn) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/health/live")).status_code == 200


async def test_open_streams_do_not_hold_the_server_when_it_stops(
    tmp_path: Path, evm: EvmWorld
) -> None:
    env = chain_env(tmp_path, evm, shutdown_drain_seconds="0")
    with running_uvicorn(env, tmp_path) as server:
        ws_url = server.url.replace("http://", "ws://") + "/api/v1/events/ws"
        sse = SseClient(f"{server.url}/api/v1/events", {})
        await sse.__aenter__()
        ws = await connect(ws_url)
        await asyncio.sleep(SETTLE)
        stopping = time.monotonic()
        server.process.terminate()
        await asyncio.to_thread(server.process.wait, 20)
        assert time.monotonic() - stopping < 10
        await ws.close()
        await sse.__aexit__()


async def test_a_replica_streams_what_another_recorded_and_honours_its_tokens(
    tmp_path: Path, evm: EvmWorld
) -> None:
    """Two API processes on one database and one Redis: a change recorded by one reaches the
    other's WebSocket and SSE clients within 2 s; a stream token issued by one opens the other's
    stream."""
    env = chain_env(tmp_path, evm, redis_url=REDIS, auth_enabled="true")
    address = fresh_address()
    with (
        running_uvicorn(env, tmp_path) as one,
        running_uvicorn(env, tmp_path, migrate=False) as two,
    ):
        keys = await _keys(env["PORTFOLIO_DATABASE_URL"], "alpha")
        async with httpx.AsyncClient(base_url=one.url, headers=keys["alpha"]) as client:
            token = (await client.post("/api/v1/events/token")).json()["token"]
            made = await client.post(
                "/api/v1/wallets", json={"chain": "ethereum", "address": address}
            )
            ws_url = two.url.replace("http://", "ws://") + f"/api/v1/events/ws?token={token}"
            async with (
                SseClient(f"{two.url}/api/v1/events", keys["alpha"]) as sse,
                ws_client(ws_url, {}) as ws,
            ):
                fetched = await change(client, evm, made.json()["id"], address, 21)
                got = json.loads(await asyncio.wait_for(ws.recv(), 2))
                await until(lambda: len(sse.got) == 1, 2)
                assert time.monotonic() - fetched < 2
                assert got["data"]["wallet_id"] == made.json()["id"]
                assert sse.got == [got]


async def test_a_quiet_stream_sends_keep_alive_comments(tmp_path: Path, evm: EvmWorld) -> None:
    env = chain_env(tmp_path, evm, stream_heartbeat_seconds="0.5")
    with running_uvicorn(env, tmp_path) as server:
        lines: list[str] = []
        async with (
            httpx.AsyncClient(timeout=5) as client,
            client.stream("GET", f"{server.url}/api/v1/events") as answer,
        ):
            assert answer.headers["content-type"].startswith("text/event-stream")
            started = time.monotonic()
            async for line in answer.aiter_lines():
                lines.append(line)
                if time.monotonic() - started > 1.8:
                    break
        comments = [line for line in lines if line.startswith(":")]
        assert len(comments) >= 2, lines
        assert not [line for line in lines if line.startswith(("data:", "event:"))]
