"""make loadtest: the whole service under a mixed load while its dependencies fail, on loopback
and bounded in time.

Two API processes, two workers and the scheduler, on a private PostgreSQL and a private Redis
(so that they can be killed and restarted), anvil and the local Solana RPC. Clients read the
portfolio and balances, add wallets and fetch them, phase after phase: Redis killed, Redis back,
PostgreSQL restarted, a worker killed, the Ethereum node killed, everything back. Per phase:
requests, latency percentiles, 5xx. Then the checks: no 5xx on reads while Redis is down, every
write answered 2xx is stored, and every wallet is refreshed by the schedule after the faults.
`python -m bench.loadtest` (or `make loadtest`)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import httpx
from solders.pubkey import Pubkey
from sqlalchemy import func, select

from portfolio.adapters.db.engine import create_engine
from portfolio.adapters.db.models import WalletRow
from tests.chains.anvil import ANVIL, CHAIN_ID, AnvilNode
from tests.chains.solana_rpc import SolanaRpcServer
from tests.databases import ROOT, migrate
from tests.netutil import free_port
from tests.pgcluster import PostgresServer, private_postgres
from tests.redisserver import RedisServer, private_redis

INTERVAL = 5  # seconds between scheduled cycles
PHASE_SECONDS = 8
CLIENTS = 12
WALLETS = 20  # per chain, at the start
RESUME_SECONDS = 3 * INTERVAL  # the schedule must have read every wallet again within this
READS = ("portfolio", "balances")


class Anvil:
    """anvil on a fixed port, so that it can be killed and started again where clients look."""

    def __init__(self, port: int, client: httpx.AsyncClient) -> None:
        self.port = port
        self.node = AnvilNode(f"http://127.0.0.1:{port}", client)
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            ANVIL, "--host", "127.0.0.1", "--port", str(self.port), "--chain-id", str(CHAIN_ID),
            "--silent", "--accounts", "2",
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(200):
            try:
                self.node.sender = (await self.node.rpc("eth_accounts"))[0]
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        await self.node.install_multicall()

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


class Service:
    """The processes of the deployment, each with its log in ``workdir``."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.apis: list[str] = []

    async def start(self, name: str, *args: str) -> None:
        with (self.workdir / f"{name}.log").open("ab") as log:  # the child keeps its own
            self.processes[name] = await asyncio.create_subprocess_exec(
                *args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    async def start_all(self) -> None:
        for n in range(2):
            port = free_port()
            await self.start(
                f"api{n}", sys.executable, "-m", "uvicorn", "--factory",
                "portfolio.main.app:create_app", "--port", str(port), "--no-access-log",
            )  # fmt: skip
            self.apis.append(f"http://127.0.0.1:{port}")
        for n in range(2):
            await self.start(f"worker{n}", sys.executable, "-m", "portfolio.main.cli", "worker")
        await self.start("scheduler", sys.executable, "-m", "portfolio.main.cli", "scheduler")
        async with httpx.AsyncClient(timeout=5) as client:
            for api in self.apis:
                for _ in range(300):
                    try:
                        if (await client.get(f"{api}/api/v1/health/ready")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)

    async def stop_all(self) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.terminate()
        for process in self.processes.values():
            await process.wait()


class Load:
    """Clients in a loop: reads of the portfolio and balances, wallets added and fetched."""

    def __init__(self, apis: list[str], wallets: list[str]) -> None:
        self.apis = apis
        self.wallets = list(wallets)
        self.results: dict[str, list[tuple[str, int, float]]] = defaultdict(list)
        self.acknowledged: list[str] = []  # wallets whose creation was answered 2xx
        self._made = 0

    async def run(self, phase: str, seconds: float) -> None:
        stop = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=CLIENTS * 2)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            await asyncio.gather(*(self._client(client, phase, stop) for _ in range(CLIENTS)))

    async def _client(self, client: httpx.AsyncClient, phase: str, stop: float) -> None:
        while time.monotonic() < stop:
            api = random.choice(self.apis)  # noqa: S311 - a load mix, not a secret
            kind = random.choices(  # noqa: S311
                ("portfolio", "balances", "add", "fetch"), weights=(60, 25, 10, 5)
            )[0]
            started = time.perf_counter()
            try:
                status = await self._one(client, api, kind)
            except httpx.HTTPError:
                status = 599  # no answer at all
            self.results[phase].append((kind, status, time.perf_counter() - started))

    async def _one(self, client: httpx.AsyncClient, api: str, kind: str) -> int:
        if kind == "portfolio":
            return (await client.get(f"{api}/api/v1/portfolio")).status_code
        if kind == "balances":
            wallet = random.choice(self.wallets)  # noqa: S311
            return (await client.get(f"{api}/api/v1/wallets/{wallet}/balances")).status_code
        if kind == "fetch":
            wallet = random.choice(self.wallets)  # noqa: S311
            return (await client.post(f"{api}/api/v1/wallets/{wallet}/fetch")).status_code
        self._made += 1
        address = f"0x{0xD0000000 + self._made:040x}"
        answer = await client.post(
            f"{api}/api/v1/wallets", json={"chain": "ethereum", "address": address}
        )
        if answer.is_success:
            self.acknowledged.append(answer.json()["id"])
            self.wallets.append(answer.json()["id"])
        return answer.status_code

    def report(self, phase: str) -> str:
        rows = self.results[phase]
        times = sorted(t for _, _, t in rows) or [0.0]
        reads_5xx = sum(1 for k, s, _ in rows if k in READS and s >= 500)
        writes_5xx = sum(1 for k, s, _ in rows if k not in READS and s >= 500)
        errors = sum(1 for _, s, _ in rows if s == 500)  # a bug, never a dependency's fault
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        return (f"  {phase:<18} {len(rows):>7} {statistics.median(times) * 1000:>8.1f} "
                f"{p99 * 1000:>8.1f} {reads_5xx:>9} {writes_5xx:>10} {errors:>5}")  # fmt: skip


async def _every_wallet_read_since(url: str, since: datetime) -> tuple[int, int]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            total = await connection.scalar(select(func.count()).select_from(WalletRow))
            fresh = await connection.scalar(
                select(func.count())
                .select_from(WalletRow)
                .where(WalletRow.last_fetched_at >= since)
            )
        return int(total or 0), int(fresh or 0)
    finally:
        await engine.dispose()


async def _not_read_since(url: str, since: datetime) -> list[str]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            stale = (WalletRow.last_fetched_at < since) | WalletRow.last_fetched_at.is_(None)
            query = select(
                WalletRow.id, WalletRow.chain, WalletRow.created_at, WalletRow.last_fetched_at,
                WalletRow.last_error,
            ).where(stale).limit(5)  # fmt: skip
            return [str(tuple(row)) for row in await connection.execute(query)]
    finally:
        await engine.dispose()


async def _stored(url: str, ids: list[str]) -> int:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(WalletRow.id))
            stored = {str(row[0]) for row in rows}
        return sum(1 for i in ids if i in stored)
    finally:
        await engine.dispose()


async def main() -> int:
    workdir = Path(mkdtemp(prefix="portfolio-loadtest-"))
    with private_postgres() as postgres, private_redis() as redis:
        await migrate(postgres.url)
        async with httpx.AsyncClient(timeout=30) as rpc, SolanaRpcServer() as solana:
            anvil = Anvil(free_port(), rpc)
            await anvil.start()
            owners = [Pubkey.new_unique() for _ in range(WALLETS)]
            for n, owner in enumerate(owners):
                solana.set_sol(owner, 10**9 + n)
            empty_list = workdir / "tokens.json"
            empty_list.write_text(json.dumps({"name": "none", "tokens": []}))
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("PORTFOLIO_")},
                "PORTFOLIO_DATABASE_URL": postgres.url,
                "PORTFOLIO_REDIS_URL": redis.url,
                "PORTFOLIO_ETHEREUM_RPC_URLS": anvil.node.url,
                "PORTFOLIO_ETHEREUM_CHAIN_ID": str(CHAIN_ID),
                "PORTFOLIO_SOLANA_RPC_URLS": solana.url,
                "PORTFOLIO_ETHEREUM_TOKEN_LIST": str(empty_list),
                "PORTFOLIO_SOLANA_TOKEN_LIST": str(empty_list),
                "PORTFOLIO_PRICE_SOURCES": "none",
                "PORTFOLIO_LOG_LEVEL": "WARNING",
                "PORTFOLIO_LOG_JSON": "true",
                "PORTFOLIO_REFRESH_INTERVAL_SECONDS": str(INTERVAL),
                "PORTFOLIO_JOB_TIMEOUT_SECONDS": "8",
                "PORTFOLIO_RPC_TIMEOUT_SECONDS": "2",
                "PORTFOLIO_RPC_BREAKER_TTL_SECONDS": "3",
                "PORTFOLIO_RATE_LIMIT": "off",
            }
            service = Service(env, workdir)
            await service.start_all()
            try:
                return await _run(service, postgres, redis, anvil, owners)
            finally:
                await service.stop_all()
                await anvil.kill()
                print(f"  logs: {workdir}", flush=True)


async def _seed(service: Service, anvil: Anvil, owners: list[Pubkey]) -> list[str]:
    wallets = []
    async with httpx.AsyncClient(timeout=10) as client:
        for n, owner in enumerate(owners):
            address = f"0x{0xE000 + n:040x}"
            await anvil.node.set_eth(address, 10**18 + n)
            for chain, at in (("ethereum", address), ("solana", str(owner))):
                answer = await client.post(
                    f"{service.apis[0]}/api/v1/wallets", json={"chain": chain, "address": at}
                )
                wallets.append(answer.json()["id"])
    return wallets


async def _run(
    service: Service, postgres: PostgresServer, redis: RedisServer, anvil: Anvil,
    owners: list[Pubkey],
) -> int:  # fmt: skip
    load = Load(service.apis, await _seed(service, anvil, owners))
    seed = int(os.environ.get("LOADTEST_SEED") or random.SystemRandom().randrange(10**6))
    moments = random.Random(seed)  # noqa: S311 - when faults happen, not a secret
    print(f"  faults at moments drawn with LOADTEST_SEED={seed}", flush=True)
    print(f"  {'phase':<18} {'requests':>7} {'p50 ms':>8} {'p99 ms':>8} {'reads 5xx':>9} "
          f"{'writes 5xx':>10} {'500s':>5}", flush=True)  # fmt: skip

    async def phase(name: str, fault: Any = None) -> None:
        """The load for PHASE_SECONDS, with ``fault`` (a coroutine) started at a moment drawn
        from the run's seed (LOADTEST_SEED repeats a run's moments)."""
        at = moments.uniform(0.5, PHASE_SECONDS - 2)

        async def later() -> None:
            await asyncio.sleep(at)
            await fault

        faulted = asyncio.create_task(later()) if fault is not None else None
        await load.run(name, PHASE_SECONDS)
        if faulted is not None:
            await faulted
        print(load.report(name) + (f"   fault at {at:.1f} s" if fault else ""), flush=True)

    await phase("baseline")
    await phase("redis down", asyncio.to_thread(redis.kill))
    await phase("redis back", asyncio.to_thread(redis.start_again))
    await phase("postgres restart", asyncio.to_thread(postgres.restart))
    await phase("worker killed", _kill(service.processes["worker0"]))
    await phase("chain node down", anvil.kill())
    await phase("all back", anvil.start())
    recovered = datetime.now(UTC)
    return await _checks(postgres.url, load, recovered)


async def _kill(process: asyncio.subprocess.Process) -> None:
    process.kill()
    await process.wait()


async def _checks(url: str, load: Load, recovered: datetime) -> int:
    failures = []
    down = load.results["redis down"]
    reads_5xx = sum(1 for k, s, _ in down if k in READS and s >= 500)
    if reads_5xx:
        failures.append(f"{reads_5xx} reads answered 5xx while Redis was down")
    errors = sum(1 for rows in load.results.values() for _, s, _ in rows if s == 500)
    if errors:
        failures.append(f"{errors} answers were 500 (dependencies failing must give 503)")
    stored = await _stored(url, load.acknowledged)
    if stored != len(load.acknowledged):
        failures.append(f"{len(load.acknowledged) - stored} acknowledged writes are not stored")
    deadline = time.monotonic() + RESUME_SECONDS + PHASE_SECONDS
    while True:
        total, fresh = await _every_wallet_read_since(url, recovered)
        if fresh == total:
            waited = RESUME_SECONDS + PHASE_SECONDS - (deadline - time.monotonic())
            break
        if time.monotonic() > deadline:
            failures.append(f"{total - fresh} of {total} wallets not refreshed after the faults")
            for row in await _not_read_since(url, recovered):
                print(f"  not refreshed: {row}", flush=True)
            waited = float("nan")
            break
        await asyncio.sleep(0.5)
    print(f"  acknowledged writes: {len(load.acknowledged)}, stored: {stored}", flush=True)
    print(f"  every wallet refreshed {waited:.1f} s after the faults ended "
          f"(schedule every {INTERVAL} s)", flush=True)  # fmt: skip
    for failure in failures:
        print(f"  FAILED: {failure}", flush=True)
    print("  ok" if not failures else "  loadtest failed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
