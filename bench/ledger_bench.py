"""The database side of a refresh cycle, with an in-process chain reader standing in for the
nodes (so the figures are the service's and the database's, not a node's): rows written by a
cycle over 10,000 wallets when 1% of balances changed, and the rate of a 100,000-wallet cycle,
both through the service's own read-and-record path on PostgreSQL. The model of samples it
replaced wrote, by its rule, a history row and three marks for every balance at every read and
deleted and inserted every current balance."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

from sqlalchemy import text

from portfolio.adapters.cache.memory import MemoryCache
from portfolio.adapters.db.balances import SqlBalanceRepository
from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.ledger import SqlPriceSeries
from portfolio.adapters.db.wallets import SqlWalletRepository
from portfolio.domain.chains import Chain
from portfolio.domain.prices import Price, price_key
from portfolio.domain.tokens import Token, TokenAccount, TokenBalance, WalletReading
from portfolio.services.balance_cache import BalanceCache
from portfolio.services.fetching import FetchPolicy, FetchService, Stores
from tests.databases import fresh_postgres_database, migrate
from tests.fakes import FakeWatcher

TOKENS = [Token(Chain.ETHEREUM, None, "ETH", "Ether", 18, True)] + [
    Token(Chain.ETHEREUM, f"0x{n:040x}", f"T{n}", f"Token {n}", 6, True) for n in range(1, 10)
]
JOB = 200  # wallets in a job, as the schedule plans them
# BENCH_LEDGER_WALLETS=20000 for a quicker look at the rate
LARGE = int(os.environ.get("BENCH_LEDGER_WALLETS", "100000"))
# A million wallets of 20 balances every 5 minutes, in balances a second.
MILLION_RATE = 1_000_000 * 20 / 300
TABLES = ("wallets", "balance_changes", "price_points", "history_cursors", "events")


class InProcessChain:
    """Answers every address with its amounts from a dict, at once."""

    chain = Chain.ETHEREUM

    def __init__(self, addresses: Sequence[str]) -> None:
        self.amounts = {a: [10**6 + n for n in range(len(TOKENS))] for a in addresses}

    async def read_balances(
        self,
        addresses: Sequence[str],
        known_accounts: Mapping[str, Sequence[TokenAccount]] | None = None,
        extra_tokens: Mapping[str, Sequence[Token]] | None = None,
    ) -> dict[str, WalletReading]:
        return {
            a: WalletReading(a, [TokenBalance(t, r) for t, r in zip(TOKENS, self.amounts[a],
                                                                     strict=True)], [])
            for a in addresses
        }  # fmt: skip

    async def token(self, address: str) -> Token:
        raise NotImplementedError

    def change(self, share: float) -> int:
        """Change that share of every balance; how many changed."""
        every = [(a, i) for a in self.amounts for i in range(len(TOKENS))]
        chosen = random.Random(7).sample(every, int(len(every) * share))  # noqa: S311 - a bench
        for address, index in chosen:
            self.amounts[address][index] += 1
        return len(chosen)


class FixedPrices:
    async def prices(
        self, tokens: Sequence[Token], *, found: Collection[str] = frozenset()
    ) -> dict[str, Price]:
        at = datetime(2026, 11, 1, tzinfo=UTC)
        return {price_key(t): Price(Decimal("1.5"), None, at, "bench") for t in tokens}


class Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


async def _world(size: int) -> tuple[str, list[str], InProcessChain]:
    url = await fresh_postgres_database("portfolio_bench_ledger")
    await migrate(url)
    addresses = [f"0x{0xD000000 + n:040x}" for n in range(size)]
    engine = create_engine(url, statement_timeout=600)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO wallets (id, tenant, chain, address, label, created_at, updated_at) "
                "SELECT md5(n::text)::uuid, 'default', 'ethereum', "
                "'0x' || lpad(to_hex(218103808 + n), 40, '0'), NULL, now(), now() "
                "FROM generate_series(0, :size - 1) n"
            ),
            {"size": size},
        )
        ids = [str(i) for i in (await connection.execute(text("SELECT id FROM wallets"))).scalars()]
    await engine.dispose()
    return url, ids, InProcessChain(addresses)


async def _cycle(url: str, ids: list[str], chain: InProcessChain) -> tuple[float, dict[str, int]]:
    """One cycle of jobs of JOB wallets, one after another; seconds, and rows written by
    table (the database's own counts, read after the connections closed)."""
    before = await _written(url)
    engine = create_engine(url, pool_size=2, statement_timeout=600)
    sessions = session_factory(engine)
    stores = Stores(
        SqlWalletRepository(sessions),
        SqlBalanceRepository(sessions, "postgresql"),
        BalanceCache(MemoryCache(), timedelta(seconds=60)),
        SqlPriceSeries(sessions, "postgresql"),
    )
    fetching = FetchService(
        stores, {Chain.ETHEREUM: chain}, FixedPrices(), FakeWatcher(), Clock(),
        FetchPolicy(chunk_wallets=JOB),
    )  # fmt: skip
    began = time.perf_counter()
    for start in range(0, len(ids), JOB):
        part = [UUID(i) for i in ids[start : start + JOB]]
        await fetching.refresh_wallets(Chain.ETHEREUM, part, hold_seconds=600)
    seconds = time.perf_counter() - began
    await engine.dispose()
    after = await _written(url)
    return seconds, {t: after[t] - before[t] for t in TABLES}


async def _written(url: str) -> dict[str, int]:
    engine = create_engine(url, pool_size=1)
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_stat_force_next_flush()"))
        rows = await connection.execute(
            text("SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables")
        )
        found = {name: int(count) for name, count in rows}
    await engine.dispose()
    return {t: found.get(t, 0) for t in TABLES}


def _rows(written: dict[str, int]) -> str:
    return ", ".join(f"{t} {n:,}" for t, n in written.items() if n)


async def run() -> list[str]:
    lines = ["Refresh cycles, database side: 10 balances a wallet, an in-process chain reader, "
             "jobs of 200 wallets one after another, PostgreSQL"]  # fmt: skip
    url, ids, chain = await _world(10_000)
    await _cycle(url, ids, chain)  # every balance seen for the first time
    changed = chain.change(0.01)
    seconds, written = await _cycle(url, ids, chain)
    wallets = len(ids)
    allowed = changed + wallets
    ledger = written["balance_changes"] + written["wallets"]
    old = wallets * len(TOKENS) * (1 + 3 + 2) + wallets
    lines += [
        f"  10,000 wallets, {changed:,} of {wallets * len(TOKENS):,} balances changed: "
        f"{sum(written.values()):,} rows written in {seconds:.1f} s ({_rows(written)})",
        f"    changes and wallets (their read times and current balances): {ledger:,} (target: at "
        f"most {allowed:,}, one a changed balance and one a wallet); prices, one a token: "
        f"{written['price_points']:,}; events, one a wallet that changed: {written['events']:,}",
        f"    the model of samples, by its rule: {old:,} rows (a history row and 3 marks a "
        "balance, every current balance deleted and inserted, one a wallet)",
    ]
    url, ids, chain = await _world(LARGE)
    first, written = await _cycle(url, ids, chain)
    balances = len(ids) * len(TOKENS)
    again, again_written = await _cycle(url, ids, chain)
    lines += [
        f"  {len(ids):,} wallets ({balances:,} balances), first cycle (every balance new): "
        f"{first:.0f} s, {balances / first:,.0f} balances/s, {sum(written.values()):,} rows",
        f"  the next cycle, nothing changed: {again:.0f} s, {balances / again:,.0f} balances/s, "
        f"{sum(again_written.values()):,} rows",
        f"  a million wallets of 20 balances every 5 minutes is {MILLION_RATE:,.0f} balances/s: "
        f"{MILLION_RATE / (balances / again):.1f}x this one process's rate when nothing changed",
    ]
    return lines
