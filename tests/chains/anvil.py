"""A real local Ethereum node (anvil, from tools/) with test contracts deployed on it."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from portfolio.config import MULTICALL3
from tests.chains.solc import NODE_MODULES, compile_contracts
from tests.netutil import free_port

ANVIL = os.environ.get(
    "PORTFOLIO_TEST_ANVIL",
    str(NODE_MODULES / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"),
)
CHAIN_ID = 31337
BATCH = 100  # calls in one JSON-RPC batch to anvil (it refuses big batches)
BALANCE_SLOT = 4  # TestToken's balanceOf mapping: after name, symbol, decimals and totalSupply


@dataclass
class AnvilNode:
    url: str
    client: httpx.AsyncClient
    sender: str = ""
    _ids: int = field(default=0)

    async def rpc(self, method: str, *params: Any) -> Any:
        self._ids += 1
        body = {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": list(params)}
        answer = (await self.client.post(self.url, json=body)).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Many calls in JSON-RPC batches of at most BATCH; their results in order."""
        results: list[Any] = []
        for start in range(0, len(calls), BATCH):
            part = calls[start : start + BATCH]
            body = [{"jsonrpc": "2.0", "id": n, "method": m, "params": p}
                    for n, (m, p) in enumerate(part)]  # fmt: skip
            answer = (await self.client.post(self.url, json=body)).json()
            if not isinstance(answer, list):
                raise RuntimeError(f"a batch of {len(part)} calls failed: {answer}")
            by_id = {item["id"]: item for item in answer}
            failed = [item["error"] for item in answer if "error" in item]
            if failed:
                raise RuntimeError(f"{len(failed)} of {len(part)} calls failed: {failed[0]}")
            results += [by_id[n]["result"] for n in range(len(part))]
        return results

    async def place_tokens(self, addresses: list[str]) -> None:
        """A TestToken's code at each address, in batches: thousands of tokens in a second (no
        constructor runs, so their name and symbol are empty; lists name them)."""
        runtime = compile_contracts()["TestToken"].runtime
        await self.batch([("anvil_setCode", [a, runtime]) for a in addresses])

    async def set_token_balances(self, balances: list[tuple[str, str, int]]) -> None:
        """(token, holder, base units) for placed or deployed TestTokens, in batches."""
        calls = []
        for token, holder, amount in balances:
            slot = keccak(encode(["address", "uint256"], [holder, BALANCE_SLOT]))
            value = "0x" + amount.to_bytes(32, "big").hex()
            calls.append(("anvil_setStorageAt", [token, "0x" + slot.hex(), value]))
        await self.batch(calls)

    async def deploy(self, contract: str, types: list[str], args: list[Any]) -> str:
        return await self.deploy_code(compile_contracts()[contract].bytecode, types, args)

    async def deploy_code(
        self, bytecode: str, types: list[str] | None = None, args: list[Any] | None = None
    ) -> str:
        """A contract from its creation code and constructor arguments; its address."""
        code = bytecode + encode(types or [], args or []).hex()
        tx = await self.rpc(
            "eth_sendTransaction", {"from": self.sender, "data": code, "gas": hex(5_000_000)}
        )
        receipt = await self.receipt(tx)
        return to_checksum_address(receipt["contractAddress"])

    async def receipt(self, tx: str) -> dict[str, Any]:
        """The receipt once the transaction is mined (anvil mines each one as it comes)."""
        for _ in range(500):
            receipt = await self.rpc("eth_getTransactionReceipt", tx)
            if receipt is not None:
                assert receipt["status"] == "0x1", receipt
                return dict(receipt)
            await asyncio.sleep(0.01)
        raise RuntimeError(f"transaction {tx} was not mined")

    async def transact(
        self, to: str, signature: str, types: list[str], args: list[Any], *, sender: str = ""
    ) -> None:
        """A transaction from the node's first account, or ``sender`` (unlocked or
        impersonated)."""
        data = "0x" + (function_signature_to_4byte_selector(signature) + encode(types, args)).hex()
        tx = await self.rpc(
            "eth_sendTransaction",
            {"from": sender or self.sender, "to": to, "data": data, "gas": hex(15_000_000)},
        )
        await self.receipt(tx)

    async def install_multicall(self, address: str = MULTICALL3) -> None:
        await self.rpc("anvil_setCode", address, compile_contracts()["BalanceMulticall"].runtime)

    async def set_eth(self, address: str, wei: int) -> None:
        await self.rpc("anvil_setBalance", address, hex(wei))

    # The chain's own figures, one plain call each, to compare with.
    async def eth_balance(self, address: str) -> int:
        return int(await self.rpc("eth_getBalance", address, "latest"), 16)

    async def token_balance(self, token: str, address: str) -> int:
        data = "0x70a08231" + encode(["address"], [address]).hex()
        return int(await self.rpc("eth_call", {"to": token, "data": data}, "latest"), 16)


@asynccontextmanager
async def running_anvil(*extra: str, chain_id: int = CHAIN_ID) -> AsyncIterator[AnvilNode]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        ANVIL, "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(chain_id),
        "--silent", "--accounts", "2", *extra,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            node = AnvilNode(url, client)
            for _ in range(200):
                try:
                    node.sender = (await node.rpc("eth_accounts"))[0]
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError("anvil did not start")
            yield node
    finally:
        process.terminate()
        await process.wait()
