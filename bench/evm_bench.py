"""Ethereum: 200 wallets x 50 ERC-20s through the reader, beside one eth_call per balance
through web3, on anvil directly and through a proxy that adds 20 ms to each round trip."""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector
from web3 import AsyncHTTPProvider, AsyncWeb3

from portfolio.adapters.chains.evm import Web3ChainReader
from portfolio.adapters.resilience import CallPolicy
from portfolio.config import MULTICALL3
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Token
from tests.chains.anvil import CHAIN_ID, AnvilNode, running_anvil
from tests.rpcproxy import RpcProxy

WALLETS = 200
TOKENS = 50
LATENCY = 0.020
NAIVE_SAMPLE_WALLETS = 10  # the naive path through the slow proxy is timed on a sample
BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")


@dataclass
class Figures:
    label: str
    balances: int
    http_requests: int
    rpc_calls: int
    seconds: float

    @property
    def per_balance_ms(self) -> float:
        return self.seconds / self.balances * 1000


async def _setup(node: AnvilNode) -> tuple[list[str], list[Token]]:
    await node.install_multicall()
    wallets = [f"0x{0xB000 + n:040x}" for n in range(WALLETS)]
    tokens = []
    for n in range(TOKENS):
        decimals = (6, 18, 24)[n % 3]
        address = await node.deploy(
            "TestToken", ["string", "string", "uint8"], [f"T{n}", f"T{n}", decimals]
        )
        await node.transact(
            address, "mintMany(address[],uint256)", ["address[]", "uint256"], [wallets, 10**20 + n]
        )
        tokens.append(Token(Chain.ETHEREUM, address, f"T{n}", f"T{n}", decimals, True))
    for n, wallet in enumerate(wallets):
        await node.set_eth(wallet, 10**18 + n)
    return wallets, tokens


async def _batched(
    url: str, wallets: list[str], tokens: list[Token], label: str, delay: float
) -> tuple[Figures, dict[tuple[str, str], int]]:
    async with RpcProxy(url, delay=delay) as proxy:
        reader = Web3ChainReader.from_urls(
            [proxy.url], {CHAIN_ID: tokens}, MULTICALL3, CallPolicy(timeout_seconds=120)
        )
        try:
            started = time.perf_counter()
            readings = await reader.read_balances(wallets)
            seconds = time.perf_counter() - started
        finally:
            await reader.close()
    values = {(a, b.token.key): b.raw for a, r in readings.items() for b in r.balances}
    failures = sum(len(r.failures) for r in readings.values())
    assert failures == 0, f"{failures} balances failed"
    return Figures(label, len(values), proxy.requests, len(proxy.methods), seconds), values


async def _naive(
    url: str, wallets: list[str], tokens: list[Token], label: str, delay: float
) -> tuple[Figures, dict[tuple[str, str], int]]:
    async with RpcProxy(url, delay=delay) as proxy:
        w3 = AsyncWeb3(AsyncHTTPProvider(proxy.url, exception_retry_configuration=None))
        values: dict[tuple[str, str], int] = {}
        started = time.perf_counter()
        for wallet in wallets:
            values[(wallet, "native")] = await w3.eth.get_balance(
                AsyncWeb3.to_checksum_address(wallet)
            )
            for token in tokens:
                assert token.address is not None
                data = BALANCE_OF + encode(["address"], [wallet])
                answer = await w3.eth.call(
                    {"to": AsyncWeb3.to_checksum_address(token.address), "data": data}
                )
                values[(wallet, token.key)] = int.from_bytes(answer, "big")
        seconds = time.perf_counter() - started
        await w3.provider.disconnect()
    return Figures(label, len(values), proxy.requests, len(proxy.methods), seconds), values


def _row(f: Figures) -> str:
    per_http = f.balances / f.http_requests
    return (
        f"  {f.label:<34} {f.balances:>7,} {f.http_requests:>7,} {f.rpc_calls:>7,} "
        f"{f.seconds:>9.2f} {f.per_balance_ms:>9.3f} {per_http:>10.1f}"
    )


READS = 100


async def _connections(url: str, wallets: list[str], tokens: list[Token]) -> list[str]:
    """TCP connections opened for 100 reads in a row: the reader's (the project's httpx client,
    kept alive), beside web3's AsyncHTTPProvider sending as many requests (its transport)."""
    async with RpcProxy(url) as proxy:
        reader = Web3ChainReader.from_urls(
            [proxy.url], {CHAIN_ID: tokens}, MULTICALL3, CallPolicy(timeout_seconds=60)
        )
        try:
            for _ in range(READS):
                await reader.read_balances(wallets)
        finally:
            await reader.close()
        ours = (len(proxy.peers), proxy.requests)
    async with RpcProxy(url) as proxy:
        w3 = AsyncWeb3(AsyncHTTPProvider(proxy.url, exception_retry_configuration=None))
        try:
            for _ in range(ours[1]):
                await w3.eth.block_number
        finally:
            await w3.provider.disconnect()
        theirs = (len(proxy.peers), proxy.requests)
    return [
        f"  connections for {READS} reads of {len(wallets)} wallets: {ours[0]} for {ours[1]} "
        f"HTTP requests (httpx, kept alive); web3's AsyncHTTPProvider: {theirs[0]} for "
        f"{theirs[1]} requests"
    ]


async def run() -> list[str]:
    lines = ["Ethereum: 200 wallets x (ETH + 50 ERC-20s) = 10,200 balances, anvil on loopback"]
    lines.append(
        f"  {'path':<34} {'balances':>7} {'HTTP':>7} {'RPC':>7} {'seconds':>9} "
        f"{'ms/bal':>9} {'bal/HTTP':>10}"
    )
    async with running_anvil() as node:
        wallets, tokens = await _setup(node)
        batched, values = await _batched(
            node.url, wallets, tokens, "batched (multicall), direct", 0
        )
        naive, naive_values = await _naive(
            node.url, wallets, tokens, "naive (eth_call each), direct", 0
        )
        assert naive_values == values, "the batched and naive paths disagree"
        slow_batched, _ = await _batched(
            node.url, wallets, tokens, "batched, +20 ms per round trip", LATENCY
        )
        sample = wallets[:NAIVE_SAMPLE_WALLETS]
        slow_naive, _ = await _naive(
            node.url, sample, tokens, f"naive, +20 ms ({NAIVE_SAMPLE_WALLETS} wallets)", LATENCY
        )
        connections = await _connections(node.url, wallets[:5], tokens[:5])
    for figures in (batched, naive, slow_batched, slow_naive):
        lines.append(_row(figures))
    lines.append(
        f"  speed-up direct: {naive.per_balance_ms / batched.per_balance_ms:.1f}x per balance "
        f"({naive.seconds:.1f} s vs {batched.seconds:.2f} s)"
    )
    lines.append(
        f"  speed-up at +20 ms: "
        f"{slow_naive.per_balance_ms / slow_batched.per_balance_ms:.0f}x per balance "
        f"(naive timed on {slow_naive.balances:,} balances, extrapolated per balance)"
    )
    lines.append(
        f"  balances per HTTP request: {batched.balances / batched.http_requests:.0f} "
        "(target >= 500)"
    )
    return lines + connections
