"""One scheduled refresh cycle over 1,000, 5,000 and 10,000 wallets (half on anvil with ETH and
19 ERC-20s each, half on the local Solana RPC with SOL and two token accounts each), run by two
`portfolio worker` processes on PostgreSQL and Redis: wall time, HTTP requests per balance,
peak worker memory, rows written per second. The cost must grow linearly. Then the database side
alone (ledger_bench)."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp
from uuid import uuid4

from redis.asyncio import Redis
from solders.pubkey import Pubkey
from sqlalchemy import func, insert, select, text

from bench import ledger_bench
from portfolio.adapters.cache.redis_client import create_redis
from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.models import BalanceChangeRow, WalletRow
from portfolio.adapters.jobs.taskiq_queue import TaskiqRefreshQueue, job_broker
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Token
from tests.chains.anvil import CHAIN_ID, AnvilNode, running_anvil
from tests.chains.lists import write_list
from tests.chains.solana_rpc import SolanaRpcServer
from tests.databases import ROOT, fresh_postgres_database, migrate
from tests.rpcproxy import RpcProxy

# BENCH_SCALE_SIZES=1000,2000 for a quicker look
SIZES = tuple(int(n) for n in os.environ.get("BENCH_SCALE_SIZES", "1000,5000,10000").split(","))
TOKENS = 19  # ERC-20s beside ETH: 20 balances a wallet
REDIS = "redis://127.0.0.1:6379/12"
MINT_BATCH = 400  # addresses a mintMany transaction credits (within its gas)


def _evm_wallets(count: int) -> list[str]:
    return [f"0x{0xC000000 + n:040x}" for n in range(count)]


async def _evm_world(node: AnvilNode, count: int) -> list[Token]:
    await node.install_multicall()
    wallets = _evm_wallets(count)
    tokens = []
    for n in range(TOKENS):
        address = await node.deploy(
            "TestToken", ["string", "string", "uint8"], [f"S{n}", f"S{n}", 18]
        )
        for start in range(0, count, MINT_BATCH):
            await node.transact(
                address, "mintMany(address[],uint256)", ["address[]", "uint256"],
                [wallets[start : start + MINT_BATCH], 10**18 + n],
            )  # fmt: skip
        tokens.append(Token(Chain.ETHEREUM, address, f"S{n}", f"S{n}", 18, True))
    for n, wallet in enumerate(wallets):
        await node.set_eth(wallet, 10**18 + n)
    return tokens


def _solana_world(server: SolanaRpcServer, count: int) -> tuple[list[str], list[Token]]:
    mints = [Pubkey.new_unique() for _ in range(2)]
    for mint in mints:
        server.create_mint(mint, 6)
    owners = [Pubkey.new_unique() for _ in range(count)]
    for n, owner in enumerate(owners):
        server.set_sol(owner, 1_000_000_000 + n)
        for mint in mints:
            server.create_token_account(Pubkey.new_unique(), mint, owner, 1_000_000 + n)
    tokens = [Token(Chain.SOLANA, str(m), f"M{i}", f"M{i}", 6, True) for i, m in enumerate(mints)]
    return [str(o) for o in owners], tokens


async def _seed(url: str, evm: list[str], solana: list[str]) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for table in (
                "balance_changes",
                "price_points",
                "history_spans",
                "history_cursors",
                "token_accounts",
                "events",
                "wallets",
            ):
                await connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608
        at = datetime.now(UTC)
        rows = [
            {"id": uuid4(), "chain": chain, "address": address, "label": None,
             "created_at": at, "updated_at": at, "tenant": "default"}
            for chain, addresses in (("ethereum", evm), ("solana", solana))
            for address in addresses
        ]  # fmt: skip
        async with session_factory(engine).begin() as session:
            for start in range(0, len(rows), 5000):
                await session.execute(insert(WalletRow), rows[start : start + 5000])
    finally:
        await engine.dispose()


async def _counts(url: str) -> tuple[int, int]:
    """Wallets read so far, and balance changes."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            read = await connection.scalar(
                select(func.count())
                .select_from(WalletRow)
                .where(WalletRow.last_fetched_at.is_not(None))
            )
            rows = await connection.scalar(select(func.count()).select_from(BalanceChangeRow))
        return int(read or 0), int(rows or 0)
    finally:
        await engine.dispose()


def _peak_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


async def _cycle(
    url: str, env: dict[str, str], size: int, evm: list[str], solana: list[str],
    proxies: tuple[RpcProxy, SolanaRpcServer],
) -> str:  # fmt: skip
    half = size // 2
    await _seed(url, evm[:half], solana[:half])
    redis = Redis.from_url(REDIS)
    await redis.flushdb()
    await redis.aclose()
    workdir = Path(mkdtemp())
    workers = []
    for n in range(2):
        with (workdir / f"w{n}.log").open("wb") as log:  # the worker keeps its own
            command = [sys.executable, "-m", "portfolio.main.cli", "worker"]
            worker = await asyncio.create_subprocess_exec(
                *command, cwd=ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
            workers.append(worker)
    await asyncio.sleep(4)  # the workers import and subscribe
    client = create_redis(REDIS, timeout=5)
    queue = TaskiqRefreshQueue(
        job_broker(REDIS, claim_after_seconds=600), client, interval_seconds=0
    )
    await queue.plan_task.broker.startup()
    for proxy in proxies:
        proxy.requests = 0
    _, rows_before = await _counts(url)
    started = time.monotonic()
    await queue.plan_task.kiq()
    while True:
        await asyncio.sleep(0.5)
        read, rows = await _counts(url)
        if read >= size and await queue.depth() == 0:
            break
        if time.monotonic() - started > 1800:
            raise RuntimeError(f"the cycle over {size} wallets did not finish in 30 minutes")
    seconds = time.monotonic() - started
    peaks = [_peak_mb(w.pid) for w in workers]
    for worker in workers:
        worker.terminate()
        await worker.wait()
    await queue.plan_task.broker.shutdown()
    await client.aclose()
    balances = half * (TOKENS + 1) + half * 3
    requests = sum(p.requests for p in proxies)
    written = rows - rows_before
    return (f"  {size:>7,} {seconds:>8.1f} {requests:>7,} {requests / balances:>11.4f} "
            f"{max(peaks):>10.0f} {written:>9,} {written / seconds:>9.0f}")  # fmt: skip


async def run() -> list[str]:
    url = await fresh_postgres_database("portfolio_scale")
    await migrate(url)
    largest = max(SIZES) // 2
    lines = ["Scheduled cycle: half the wallets on anvil (ETH + 19 ERC-20s), half on the local "
             "Solana RPC (SOL + 2 token accounts); two workers, PostgreSQL, Redis"]  # fmt: skip
    async with running_anvil() as node, SolanaRpcServer() as solana_server:
        evm_tokens = await _evm_world(node, largest)
        solana_wallets, solana_tokens = _solana_world(solana_server, largest)
        workdir = Path(mkdtemp())
        async with RpcProxy(node.url) as evm_proxy:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("PORTFOLIO_")},
                "PORTFOLIO_DATABASE_URL": url,
                "PORTFOLIO_REDIS_URL": REDIS,
                "PORTFOLIO_ETHEREUM_RPC_URLS": evm_proxy.url,
                "PORTFOLIO_ETHEREUM_CHAIN_ID": str(CHAIN_ID),
                "PORTFOLIO_SOLANA_RPC_URLS": solana_server.url,
                "PORTFOLIO_ETHEREUM_TOKEN_LIST": write_list(
                    workdir / "evm.json", CHAIN_ID, evm_tokens
                ),
                "PORTFOLIO_SOLANA_TOKEN_LIST": write_list(workdir / "sol.json", 101, solana_tokens),
                "PORTFOLIO_PRICE_SOURCES": "none",
                "PORTFOLIO_LOG_LEVEL": "WARNING",
                "PORTFOLIO_REFRESH_INTERVAL_SECONDS": "0",
                "PORTFOLIO_RPC_TIMEOUT_SECONDS": "30",
            }
            lines.append(f"  {'wallets':>7} {'seconds':>8} {'HTTP':>7} {'HTTP/bal':>11} "
                         f"{'peak MB':>10} {'rows':>9} {'rows/s':>9}")  # fmt: skip
            evm_wallets = _evm_wallets(largest)
            for size in SIZES:
                lines.append(await _cycle(url, env, size, evm_wallets, solana_wallets,
                                          (evm_proxy, solana_server)))  # fmt: skip
                print(lines[-1], flush=True)
    lines.append("  target: peak worker memory under 300 MB at 10,000 wallets; cost linear "
                 "(rows: the balance changes of a first read)")  # fmt: skip
    lines.append("")
    return lines + await ledger_bench.run()
