"""EVM token discovery: 200 wallets and a 2,000-token list on anvil, each wallet holding 10 of
the tokens, through the whole service (API, fetch service, SQLite, the reader). The first
refresh discovers (the whole list for every wallet), the next reads only what each wallet
holds. HTTP requests and balanceOf calls are counted at the node, by a proxy in front of it
that decodes every multicall; the baseline is the whole list read again, in the same run."""

from __future__ import annotations

import math
import random
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from eth_utils.address import to_checksum_address

from portfolio.adapters.chains.evm import Web3ChainReader
from portfolio.adapters.chains.evm_logs import TransferScanner
from portfolio.adapters.resilience import CallPolicy
from portfolio.config import MULTICALL3, Settings
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Token
from portfolio.main.app import create_app
from tests.chains.anvil import CHAIN_ID, AnvilNode, running_anvil
from tests.chains.lists import write_list
from tests.databases import migrate
from tests.netutil import free_port
from tests.rpcproxy import RpcProxy

WALLETS = 200
TOKENS = 2000
HELD = 10  # tokens each wallet holds
SEED = 2000


@dataclass
class Pass:
    label: str
    seconds: float
    http_requests: int
    balance_calls: int
    peak_growth_mb: float  # how far the process's peak memory rose during the pass


async def _world(node: AnvilNode) -> tuple[list[str], list[Token]]:
    await node.install_multicall()
    tokens = [
        Token(Chain.ETHEREUM, to_checksum_address(f"0x{0xD00000 + n:040x}"), f"L{n}", f"L{n}",
              18, True)
        for n in range(TOKENS)
    ]  # fmt: skip
    await node.place_tokens([t.address or "" for t in tokens])
    wallets = [f"0x{0xE000 + n:040x}" for n in range(WALLETS)]
    draw = random.Random(SEED)  # noqa: S311 - which tokens a wallet holds, repeatably
    holdings = [
        (token.address or "", wallet, 10**18 + n)
        for n, wallet in enumerate(wallets)
        for token in draw.sample(tokens, HELD)
    ]
    for start in range(0, len(holdings), 1000):
        await node.set_token_balances(holdings[start : start + 1000])
    for n, wallet in enumerate(wallets):
        await node.set_eth(wallet, 10**18 + n)
    return wallets, tokens


def _settings(folder: Path, url: str, token_list: str) -> Settings:
    nowhere = f"http://127.0.0.1:{free_port()}"
    return Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{folder}/bench.db",
        ethereum_rpc_urls=[url],
        ethereum_chain_id=CHAIN_ID,
        ethereum_token_list=token_list,
        solana_rpc_urls=[nowhere],
        price_sources=["none"],
        rate_limit="off",
        refresh_interval_seconds=0,
        rpc_timeout_seconds=120,
        log_level="ERROR",
    )


async def _refresh(client: httpx.AsyncClient, proxy: RpcProxy, label: str) -> Pass:
    proxy.requests = proxy.balance_calls = 0
    peak = _peak_mb()
    started = time.perf_counter()
    answer = await client.post("/api/v1/portfolio/refresh", timeout=600)
    seconds = time.perf_counter() - started
    outcome = answer.json()
    assert outcome["refreshed"] == WALLETS, outcome
    return Pass(label, seconds, proxy.requests, proxy.balance_calls, _peak_mb() - peak)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _held(client: httpx.AsyncClient, ids: list[str]) -> int:
    """The ERC-20 balances stored over every wallet."""
    count = 0
    for wallet_id in ids:
        answer = (await client.get(f"/api/v1/wallets/{wallet_id}/balances")).json()
        count += sum(1 for b in answer["balances"] if b["token"]["address"] is not None)
    return count


async def run() -> list[str]:
    lines = [
        f"EVM discovery: {WALLETS} wallets, a {TOKENS:,}-token list, {HELD} tokens held each "
        "(anvil; counted at the node)",
        f"  {'pass':<38} {'seconds':>8} {'HTTP':>6} {'balanceOf':>10} {'calls/HTTP':>11}"
        f" {'peak +MB':>9}",
    ]
    with TemporaryDirectory() as folder:
        async with running_anvil() as node, RpcProxy(node.url, count_calls=True) as proxy:
            wallets, tokens = await _world(node)
            token_list = write_list(Path(folder) / "tokens.json", CHAIN_ID, tokens)
            settings = _settings(Path(folder), proxy.url, token_list)
            await migrate(settings.database_url)
            app = create_app(settings)
            async with LifespanManager(app) as manager:
                transport = httpx.ASGITransport(app=manager.app)
                async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
                    ids = []
                    for wallet in wallets:
                        body = {"chain": "ethereum", "address": wallet}
                        created = await client.post("/api/v1/wallets", json=body)
                        assert created.status_code == 201, created.text
                        ids.append(created.json()["id"])
                    discovery = await _refresh(client, proxy, "discovery (first refresh)")
                    refresh = await _refresh(client, proxy, "refresh after it (held tokens)")
                    held = await _held(client, ids)
    assert held == WALLETS * HELD, f"{held} tokens held, not {WALLETS * HELD}"
    for figures in (discovery, refresh):
        per_http = figures.balance_calls / figures.http_requests
        lines.append(
            f"  {figures.label:<38} {figures.seconds:>8.2f} {figures.http_requests:>6,} "
            f"{figures.balance_calls:>10,} {per_http:>11,.0f} {figures.peak_growth_mb:>9.0f}"
        )
    assert discovery.balance_calls == WALLETS * TOKENS
    assert refresh.balance_calls == WALLETS * HELD
    # The targets: a bench run that misses one fails.
    assert discovery.balance_calls >= 1000 * discovery.http_requests, "discovery: too many requests"
    assert held >= 500 * refresh.http_requests, "refresh: too many requests"
    assert discovery.balance_calls >= 20 * refresh.balance_calls, "refresh: too many calls"
    lines += [
        f"  discovery: {discovery.balance_calls / discovery.http_requests:,.0f} balanceOf calls "
        "per HTTP request (target >= 1,000)",
        f"  refresh: {held / refresh.http_requests:,.0f} held balances per HTTP request "
        "(target >= 500)",
        f"  refresh vs the whole list again: {discovery.balance_calls / refresh.balance_calls:.0f}x"
        f" fewer calls, {discovery.seconds / refresh.seconds:.0f}x less time (target >= 20x calls)",
        "",
    ]
    return lines + await logs()


LOG_WALLETS = 1_000
LOG_BLOCKS = 10_000
LOG_RECEIVERS = 100  # wallets sent the unlisted token, each once, at random blocks
NODE_BLOCKS = 1_000  # the bounded node's most blocks a query


async def logs() -> list[str]:
    """Tokens on no list, found in Transfer logs: an unlisted token sent to 100 of 1,000
    watched wallets at random blocks of 10,000, scanned by eth_getLogs (topic2 the wallets)
    through a proxy that counts the queries, against a node that takes the scanner's first
    sizes and one that refuses more than 1,000 blocks a query; the baseline is a query per
    wallet over the same ranges."""
    rng = random.Random(SEED)  # noqa: S311 - who receives the token, and when, repeatably
    wallets = [to_checksum_address(f"0x{rng.getrandbits(160):040x}") for _ in range(LOG_WALLETS)]
    receivers = rng.sample(wallets, LOG_RECEIVERS)
    async with running_anvil() as node:
        token = await node.deploy("TestToken", ["string", "string", "uint8"], ["U", "U", 18])
        blocks = sorted(rng.sample(range(100, LOG_BLOCKS - 100), LOG_RECEIVERS))
        for block, wallet in zip(blocks, receivers, strict=True):
            head = int(await node.rpc("eth_blockNumber"), 16)
            await node.rpc("anvil_mine", hex(block - head - 1))
            await node.transact(token, "mint(address,uint256)", ["address", "uint256"], [wallet, 1])
        head = int(await node.rpc("eth_blockNumber"), 16)
        await node.rpc("anvil_mine", hex(LOG_BLOCKS - 1 - head))
        last = LOG_BLOCKS - 1
        lines = [
            f"Tokens on no list, from Transfer logs: {LOG_WALLETS:,} wallets over "
            f"{LOG_BLOCKS:,} blocks, an unlisted token sent to {LOG_RECEIVERS} of them "
            "(anvil; eth_getLogs counted at the node)",
            f"  {'node':<44} {'scan':<6} {'requests':>9} {'stated':>7} {'found':>6} {'seconds':>8}",
        ]
        nodes = [("takes the first sizes (2,000 blocks, 500)", None),
                 (f"refuses more than {NODE_BLOCKS:,} blocks", NODE_BLOCKS)]  # fmt: skip
        for name, bound in nodes:
            async with RpcProxy(node.url) as proxy:
                proxy.refuse = _bounded(bound)
                chain = Web3ChainReader.from_urls([proxy.url], {CHAIN_ID: []}, MULTICALL3, POLICY)
                scanner = TransferScanner(chain.transfers)
                try:
                    for scan in ("first", "next"):
                        proxy.methods.clear()
                        began = time.perf_counter()
                        found = await scanner.scan(0, last, wallets)
                        seconds = time.perf_counter() - began
                        asked = proxy.methods.count("eth_getLogs")
                        stated = math.ceil(LOG_BLOCKS / scanner.blocks) * math.ceil(
                            LOG_WALLETS / scanner.addresses
                        )
                        assert {r.wallet for r in found} == {w.lower() for w in receivers}
                        lines.append(
                            f"  {name:<44} {scan:<6} {asked:>9,} {stated:>7,} {len(found):>6} "
                            f"{seconds:>8.2f}"
                        )
                    assert asked <= stated, "a learnt scan costs more than stated"
                finally:
                    await chain.close()
        per_wallet = LOG_WALLETS * math.ceil(LOG_BLOCKS / NODE_BLOCKS)
        lines.append(
            f"  baseline, a query per wallet at {NODE_BLOCKS:,} blocks: {per_wallet:,} requests "
            f"({per_wallet / asked:.0f}x the learnt scan's {asked})"
        )
    return lines


POLICY = CallPolicy(timeout_seconds=30, attempts=2, backoff_seconds=0.05, backoff_max_seconds=1)


def _bounded(most: int | None) -> Callable[[str, list[Any]], str | None] | None:
    """A node's refusal of a log query over more than ``most`` blocks (None: no bound)."""
    if most is None:
        return None

    def refuse(method: str, params: list[Any]) -> str | None:
        if method != "eth_getLogs":
            return None
        query = params[0]
        if int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1 > most:
            return f"eth_getLogs is limited to a {most} range"
        return None

    return refuse
