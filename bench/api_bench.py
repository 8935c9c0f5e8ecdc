"""GET /portfolio over 1,000 wallets x 20 tokens on a real uvicorn (one worker) with PostgreSQL
and Redis, loaded by wrk on loopback: beside a bare endpoint of the same process that answers
the same document pre-serialized; against a plain FastAPI app started in the same run (a trivial
route beside /health/live, the same document as bytes beside GET /portfolio); with API keys and
rate limits on against off; and the API process's peak memory."""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import httpx
from redis.asyncio import Redis
from sqlalchemy import insert

from portfolio.adapters.cache.announcements import NoRevocations
from portfolio.adapters.chains.tokenlist import load_token_list
from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.keys import SqlApiKeyRepository
from portfolio.adapters.db.models import WalletRow
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Token
from portfolio.domain.wallet import DEFAULT_TENANT
from portfolio.services.auth import KeyService
from tests.databases import ROOT, fresh_postgres_database, migrate
from tests.netutil import free_port
from tests.prices.price_server import PriceServer, Quote

WALLETS = 1000
TOKENS = 20
REDIS = "redis://127.0.0.1:6379/13"
WRK = ["wrk", "-t1", "-c16", "-d8s", "--latency"]


async def _seed(url: str) -> list[Token]:
    listed = (await load_token_list(Chain.ETHEREUM, None))[1][: TOKENS - 1]
    tokens = [Token.native(Chain.ETHEREUM), *listed]
    now = datetime.now(UTC)
    # Each wallet's current balances, as the balance repository keeps them in its row.
    wallets = [
        {"id": uuid4(), "chain": "ethereum", "address": f"0x{0xA000 + n:040x}",
         "label": f"wallet {n}", "created_at": now, "updated_at": now, "last_fetched_at": now,
         "balances": json.dumps([[t.key, t.symbol, t.name, t.decimals, True,
                                  str(10**t.decimals * (n + 1) + i), now.isoformat()]
                                 for i, t in enumerate(tokens)])}
        for n in range(WALLETS)
    ]  # fmt: skip
    engine = create_engine(url)
    async with session_factory(engine).begin() as session:
        await session.execute(insert(WalletRow), wallets)
    await engine.dispose()
    return tokens


async def _wrk(url: str, *headers: str) -> tuple[float, str, str]:
    args = [*WRK, *(x for h in headers for x in ("-H", h)), url]
    process = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
    out = (await process.communicate())[0].decode()
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1)  # type: ignore[union-attr]
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1)  # type: ignore[union-attr]
    return rate, p50, p99


@asynccontextmanager
async def _served(
    env: dict[str, str], factory: str = "bench.app:create_bench_app", probe: str = "/health/live"
) -> AsyncIterator[tuple[str, int]]:
    """An app on uvicorn (one worker): its base URL and pid, once it answers."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "--factory", factory,
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--workers", "1",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            for _ in range(200):
                try:
                    await client.get(f"{base}{probe}")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        yield base, server.pid
    finally:
        server.terminate()
        await server.wait()


async def _key(url: str) -> str:
    """A key of the tenant the seeded wallets belong to."""
    engine = create_engine(url)
    try:
        service = KeyService(
            SqlApiKeyRepository(session_factory(engine)), NoRevocations(), _Clock()
        )
        return (await service.create(DEFAULT_TENANT))[1]
    finally:
        await engine.dispose()


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _peak_memory_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


async def run() -> list[str]:
    redis = Redis.from_url(REDIS)
    await redis.flushdb()  # a cache of an earlier run would describe other wallets
    await redis.aclose()
    url = await fresh_postgres_database("portfolio_bench")
    await migrate(url)
    tokens = await _seed(url)
    lines = [f"GET /portfolio: {WALLETS:,} wallets x {TOKENS} tokens, PostgreSQL + Redis, "
             "one uvicorn worker, wrk -t1 -c16 on loopback"]  # fmt: skip
    async with PriceServer() as prices:
        prices.llama = {
            ("coingecko:ethereum" if t.address is None else f"ethereum:{t.address}"): Quote(
                Decimal("1.5") + n, Decimal("1.25")
            )
            for n, t in enumerate(tokens)
        }
        env = {
            **os.environ,
            "PORTFOLIO_DATABASE_URL": url,
            "PORTFOLIO_REDIS_URL": REDIS,
            "PORTFOLIO_PRICE_SOURCES": "defillama",
            "PORTFOLIO_DEFILLAMA_BASE_URL": f"{prices.url}/llama",
            "PORTFOLIO_ETHEREUM_RPC_URLS": f"http://127.0.0.1:{free_port()}",
            "PORTFOLIO_SOLANA_RPC_URLS": f"http://127.0.0.1:{free_port()}",
            "PORTFOLIO_LOG_LEVEL": "WARNING",
            "PORTFOLIO_BALANCE_TTL_SECONDS": "600",
            "PORTFOLIO_PRICE_TTL_SECONDS": "600",
            "PORTFOLIO_RATE_LIMIT": "off",
        }
        key = await _key(url)
        # The same service with API keys and rate limits on (a limit far above the load: every
        # request is authenticated and counted in Redis, none refused), served beside it; the
        # two are measured in alternating rounds, so that a busy moment of the machine does
        # not fall on one side only.
        guarded_env = {**env, "PORTFOLIO_AUTH_ENABLED": "true",
                       "PORTFOLIO_RATE_LIMIT": "1000000000/minute"}  # fmt: skip
        async with _served(env) as (base, pid), _served(guarded_env) as (guarded_base, _):
            auth = f"Authorization: Bearer {key}"
            async with httpx.AsyncClient(timeout=60) as client:
                first = await client.get(f"{base}/api/v1/portfolio")
                bare = await client.get(f"{base}/bench/bare")
                assert first.json() == bare.json(), "the bare endpoint serves another document"
                guarded_first = await client.get(
                    f"{guarded_base}/api/v1/portfolio", headers={"Authorization": f"Bearer {key}"}
                )
                assert guarded_first.json() == first.json()
                etag = first.headers["etag"]
            document = Path(tempfile.mkdtemp()) / "portfolio.json"
            document.write_bytes(first.content)
            plain_env = {**os.environ, "BENCH_DOCUMENT": str(document)}
            async with _served(plain_env, "bench.plain_app:create_plain_app", "/trivial") as (
                plain,
                _,
            ):
                # A plain FastAPI app (no middleware) against the service, in alternating
                # rounds: the service's per-request cost.
                pairs: dict[str, list[tuple[float, float]]] = {"live": [], "portfolio": []}
                for _ in range(3):
                    trivial = (await _wrk(f"{plain}/trivial"))[0]
                    live = (await _wrk(f"{base}/api/v1/health/live"))[0]
                    pairs["live"].append((trivial, live))
                    as_bytes = (await _wrk(f"{plain}/bytes"))[0]
                    portfolio = (await _wrk(f"{base}/api/v1/portfolio"))[0]
                    pairs["portfolio"].append((as_bytes, portfolio))
            size = len(first.content)
            bare_rate, bare_p50, bare_p99 = await _wrk(f"{base}/bench/bare")
            rate, p50, p99 = await _wrk(f"{base}/api/v1/portfolio")
            not_modified, nm_p50, nm_p99 = await _wrk(
                f"{base}/api/v1/portfolio", f"If-None-Match: {etag}"
            )
            memory = _peak_memory_mb(pid)
            rounds = []
            for _ in range(3):
                open_rate = (await _wrk(f"{base}/api/v1/portfolio"))[0]
                guarded_rate = (await _wrk(f"{guarded_base}/api/v1/portfolio", auth))[0]
                rounds.append((open_rate, guarded_rate))
        ratios = sorted(g / o for o, g in rounds)
        guarded = statistics.median(g for _, g in rounds)
    live_ratio = statistics.median(s / p for p, s in pairs["live"])
    portfolio_ratio = statistics.median(s / p for p, s in pairs["portfolio"])
    lines += [
        f"  document: {size / 1024:.0f} KB; total_usd {first.json()['total_usd']}",
        f"  {'endpoint':<40} {'req/s':>9} {'p50':>9} {'p99':>9}",
        f"  {'bare (same process, pre-serialized)':<40} {bare_rate:>9.0f} {bare_p50:>9} "
        f"{bare_p99:>9}",
        f"  {'GET /api/v1/portfolio':<40} {rate:>9.0f} {p50:>9} {p99:>9}",
        f"  {'GET /api/v1/portfolio (304, ETag)':<40} {not_modified:>9.0f} {nm_p50:>9} {nm_p99:>9}",
        "  against a plain FastAPI app (no middleware), 3 alternating rounds, median ratio:",
        *(f"    plain /trivial {p:>7.0f}  service /health/live {s:>7.0f}  ratio {s / p:.2f}"
          for p, s in pairs["live"]),
        f"    /health/live vs plain trivial: {live_ratio:.2f} (target >= 0.66)",
        *(f"    plain /bytes {p:>7.0f}  service GET /portfolio {s:>7.0f}  ratio {s / p:.2f}"
          for p, s in pairs["portfolio"]),
        f"    GET /portfolio vs plain bytes: {portfolio_ratio:.2f} (target >= 0.5)",
        f"  {'GET /api/v1/portfolio, keys + limits':<40} {guarded:>9.0f}   (median of 3 rounds)",
        "  keys and rate limits on vs off, 3 alternating rounds: "
        f"{' '.join(f'{r:.2f}' for r in ratios)}; median {ratios[1]:.2f} (target >= 0.8)",
        f"  API process peak memory (VmHWM): {memory:.0f} MB",
    ]  # fmt: skip
    return lines
