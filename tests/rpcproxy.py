"""JSON-RPC over HTTP with switches: count requests, add latency, inject faults.

``RpcProxy`` puts them in front of a real node (anvil); the local Solana server answers itself
behind the same switches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web
from eth_utils.abi import function_signature_to_4byte_selector

from tests.netutil import free_port

FAULTS = ("timeout", "429", "500", "malformed", "short", "rpc-limit", "reset")
AGGREGATE3 = "0x" + function_signature_to_4byte_selector("aggregate3((address,bool,bytes)[])").hex()
BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")
BALANCE_OF_HEX = "0x" + BALANCE_OF.hex()


class FaultySwitchboard:
    """An HTTP JSON-RPC endpoint whose answers come from ``answer``, with fault switches."""

    def __init__(self, *, delay: float = 0.0, count_calls: bool = False) -> None:
        self.delay = delay
        self.requests = 0
        self.peers: set[str] = set()  # the connections requests came on (len: how many)
        self.methods: list[str] = []  # JSON-RPC methods asked, batch items included
        # With count_calls: ERC-20 balanceOf calls asked, those inside multicalls included.
        self.count_calls = count_calls
        self.balance_calls = 0
        self.fault: str | None = None  # applied to every request
        self.next_faults: list[str] = []  # applied to the next requests, one each
        # A node's limits: given a request's (method, params), the message of the error that
        # refuses it (as nodes refuse a log query too large; code -32005) or its (code,
        # message), or None to answer it.
        self.refuse: Callable[[str, list[Any]], str | tuple[int, str] | None] | None = None
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._released = asyncio.Event()

    async def start(self) -> FaultySwitchboard:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/{path:.*}", self._handle)  # any path: keys often live there
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self._session = aiohttp.ClientSession()
        self.url = f"http://127.0.0.1:{port}/"
        return self

    async def stop(self) -> None:
        self._released.set()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FaultySwitchboard:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        self._seen(request)
        body = await request.read()
        self.methods.extend(_methods(body))
        if self.count_calls:
            self.balance_calls += _balance_calls(body)
        fault = self.next_faults.pop(0) if self.next_faults else self.fault
        if self.delay:
            await asyncio.sleep(self.delay)
        if fault == "timeout":
            await self._released.wait()
            return web.Response(status=504)
        if fault in ("429", "500"):
            return web.Response(status=int(fault), text="injected")
        if fault == "malformed":
            return web.Response(body=b'{"jsonrpc": "2.0", "id": ', content_type="application/json")
        if fault == "rpc-limit":
            error = {"code": -32005, "message": "rate limit exceeded"}
            return web.json_response({"jsonrpc": "2.0", "id": None, "error": error})
        if fault == "reset":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        status, answer = self._refusal(body) or await self.answer(body)
        if fault == "short":
            document = json.loads(answer)
            if isinstance(document, list):
                answer = json.dumps(document[:-1]).encode()
            else:
                document.pop("result", None)
                answer = json.dumps(document).encode()
        return web.Response(body=answer, status=status, content_type="application/json")

    def _seen(self, request: web.Request) -> None:
        """The connection the request came on, by its client's address."""
        if request.transport is not None:
            self.peers.add(str(request.transport.get_extra_info("peername")))

    async def answer(self, body: bytes) -> tuple[int, bytes]:
        raise NotImplementedError

    def _refusal(self, body: bytes) -> tuple[int, bytes] | None:
        """The error answer ``refuse`` gives a single request, if it refuses it."""
        if self.refuse is None:
            return None
        document = json.loads(body)
        if not isinstance(document, dict):
            return None
        refusal = self.refuse(str(document.get("method")), list(document.get("params", [])))
        if refusal is None:
            return None
        code, message = refusal if isinstance(refusal, tuple) else (-32005, refusal)
        error = {"code": code, "message": message}
        answer = {"jsonrpc": "2.0", "id": document.get("id"), "error": error}
        return 200, json.dumps(answer).encode()


class RpcProxy(FaultySwitchboard):
    """The switches in front of a real node."""

    def __init__(self, upstream: str, *, delay: float = 0.0, count_calls: bool = False) -> None:
        super().__init__(delay=delay, count_calls=count_calls)
        self.upstream = upstream

    async def __aenter__(self) -> RpcProxy:
        await self.start()
        return self

    async def answer(self, body: bytes) -> tuple[int, bytes]:
        assert self._session is not None
        headers = {"Content-Type": "application/json"}
        async with self._session.post(self.upstream, data=body, headers=headers) as response:
            return response.status, await response.read()


def _methods(body: bytes) -> list[str]:
    try:
        document = json.loads(body)
    except ValueError:
        return []
    items = document if isinstance(document, list) else [document]
    return [str(item.get("method")) for item in items if isinstance(item, dict)]


def _balance_calls(body: bytes) -> int:
    """The balanceOf calls of a request: plain eth_calls, and those an aggregate3 carries."""
    try:
        document = json.loads(body)
    except ValueError:
        return 0
    items = document if isinstance(document, list) else [document]
    count = 0
    for item in items:
        if not isinstance(item, dict) or item.get("method") != "eth_call":
            continue
        data = str(item["params"][0].get("data", ""))
        if data.startswith(BALANCE_OF_HEX):
            count += 1
        elif data.startswith(AGGREGATE3):
            count += _multicall_balance_calls(bytes.fromhex(data[len(AGGREGATE3) :]))
    return count


def _multicall_balance_calls(data: bytes) -> int:
    """The balanceOf calls among an aggregate3's (target, allowFailure, callData) tuples,
    walked by their ABI offsets (eth_abi's decoder takes seconds over a benchmark's calls)."""

    def word(at: int) -> int:
        return int.from_bytes(data[at : at + 32], "big")

    array = word(0)
    length = word(array)
    heads = array + 32
    count = 0
    for n in range(length):
        element = heads + word(heads + 32 * n)
        call = element + word(element + 64)  # callData's offset, within the tuple
        count += word(call) >= 4 and data[call + 32 : call + 36] == BALANCE_OF
    return count
