"""CSV answers: history, balances at a moment and the portfolio with `Accept: text/csv`, the
same numbers as the JSON answers; a year of 5-minute history for 100 wallets streamed by a
real server whose memory is watched while it answers."""

from __future__ import annotations

import csv
import io
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.models import WalletRow
from tests.api.conftest import add
from tests.api.test_history_api import BASE, record
from tests.ledger import Amount, price, record_amounts, record_prices
from tests.server import Uvicorn, migrate_with, running_uvicorn, server_env

CSV = {"Accept": "text/csv"}


def parse(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


async def test_history_and_balances_at_as_csv_are_the_json_numbers(
    client: httpx.AsyncClient, database_url: str
) -> None:
    eth = await add(client, "ethereum", "0x" + "11" * 20)
    sol = await add(client, "solana", "vines1vzrYbzLMRdu58ou5XTby4qAqVRLmqo36NKPTg")
    await record(database_url, eth, "ethereum", "native", 1, "10.004")
    await record(database_url, eth, "ethereum", "0xusdc", 12, "5")
    await record(database_url, sol, "solana", "native", 25, "123456789012345678.5")
    window = {"start": BASE.isoformat(), "end": (BASE + timedelta(minutes=30)).isoformat(),
              "interval": "5m"}  # fmt: skip
    points = (await client.get("/api/v1/portfolio/history", params=window)).json()["points"]
    rows = parse(await client.get("/api/v1/portfolio/history", params=window, headers=CSV))
    assert list(rows[0]) == ["timestamp", "total_usd", "ethereum_usd", "solana_usd"]
    assert len(rows) == len(points) == 6
    for row, point in zip(rows, points, strict=True):
        assert datetime.fromisoformat(row["timestamp"]) == datetime.fromisoformat(
            point["timestamp"]
        )
        assert row["total_usd"] == point["total_usd"]
        for chain in ("ethereum", "solana"):
            assert row[f"{chain}_usd"] == point["by_chain"].get(chain, "0.00")
    assert rows[-1]["solana_usd"] == "123456789012345678.50"  # exact, never 1.2E+17

    # JSON is preferred when the client says so; CSV only when it prefers it.
    for accept, media in (("application/json, text/csv;q=0.5", "application/json"),
                          ("text/csv, application/json", "text/csv; charset=utf-8"),
                          ("*/*", "application/json")):  # fmt: skip
        answer = await client.get(
            "/api/v1/portfolio/history", params=window, headers={"Accept": accept}
        )
        assert answer.headers["content-type"] == media

    moment = {"time": (BASE + timedelta(minutes=20)).isoformat()}
    document = (await client.get("/api/v1/portfolio/at", params=moment)).json()
    at_rows = parse(await client.get("/api/v1/portfolio/at", params=moment, headers=CSV))
    assert len(at_rows) == len(document["balances"]) == 2
    for row, held in zip(at_rows, document["balances"], strict=True):
        assert (row["wallet_id"], row["usd_value"], row["raw_balance"], row["balance"]) == (
            held["wallet_id"], held["usd_value"], held["raw_balance"], held["balance"],
        )  # fmt: skip
        assert datetime.fromisoformat(row["recorded_at"]) == datetime.fromisoformat(
            held["recorded_at"]
        )


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_a_year_of_five_minute_history_streams_in_constant_memory(tmp_path: Path) -> None:
    """100 wallets whose amounts change once a day for a year, exported at 5 minutes: 105,120
    rows. Held as points they would take some 60 MB, and the changes fetched at once 20 MB
    more; streamed (a page of buckets at a time, points written as they are made), the server
    grows by a megabyte or two."""
    env = server_env(tmp_path)
    migrate_with(env)
    url = env["PORTFOLIO_DATABASE_URL"]
    start = datetime(2025, 11, 1, tzinfo=UTC)
    _seed_a_year(url, start)
    with running_uvicorn(env, tmp_path, migrate=False) as server:
        rows, peak_growth = _export_watching_memory(server, start)
    assert rows == 365 * 288  # one a bucket, header excluded
    print(f"exported {rows:,} rows; the server grew {peak_growth // 1024} MB")
    assert peak_growth < 10 * 1024, f"the server grew {peak_growth // 1024} MB while exporting"


def _seed_a_year(url: str, start: datetime) -> None:
    import asyncio

    async def seed() -> None:
        engine = create_async_engine(url)
        wallets = [uuid4() for _ in range(100)]
        async with session_factory(engine).begin() as session:
            await session.execute(
                insert(WalletRow),
                [{"id": w, "chain": "ethereum" if n % 2 else "solana", "address": f"w{n}",
                  "label": None, "created_at": start, "updated_at": start, "tenant": "default"}
                 for n, w in enumerate(wallets)],
            )  # fmt: skip
        # Each wallet's amount changes once a day (worth 1000 + n + day / 100 at a price of 1).
        await record_amounts(
            engine,
            [Amount(wallet, "native", start + timedelta(days=day, minutes=n),
                    (1000 + n) * 100 + day, 2)
             for day in range(365) for n, wallet in enumerate(wallets)],
        )  # fmt: skip
        await record_prices(
            engine, [price(c, "native", start, "1") for c in ("ethereum", "solana")]
        )
        await engine.dispose()

    asyncio.run(seed())


def _export_watching_memory(server: Uvicorn, start: datetime) -> tuple[int, int]:
    pid = server.process.pid
    with httpx.Client(base_url=server.url, timeout=600) as client:
        client.get("/api/v1/portfolio/history", params={"interval": "1d"})  # warm up
        before = _rss_kib(pid)
        peak = before
        done = threading.Event()

        def watch() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _rss_kib(pid))
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        rows = 0
        try:
            end = start + timedelta(days=365)
            params = {"start": start.isoformat(), "end": end.isoformat(), "interval": "5m"}
            with client.stream(
                "GET", "/api/v1/portfolio/history", params=params, headers=CSV
            ) as answer:
                assert answer.status_code == 200
                for line in answer.iter_lines():
                    rows += 1 if line else 0
                    if rows == 2:
                        assert "E" not in line
        finally:
            done.set()
            watcher.join()
    return rows - 1, peak - before


async def test_the_portfolio_as_csv_lists_every_wallet_and_token(
    client: httpx.AsyncClient,
) -> None:
    await add(client, "ethereum", "0x" + "22" * 20)  # never read: no row
    rows = parse(await client.get("/api/v1/portfolio", headers=CSV))
    assert rows == []
    header = (await client.get("/api/v1/portfolio", headers=CSV)).text.splitlines()[0]
    assert header == (
        "wallet_id,chain,address,label,token_symbol,token_address,token_kind,decimals,"
        "raw_balance,balance,usd_price,usd_value,as_of"
    )


FORMULAS = ['=HYPERLINK("http://127.0.0.1/")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


async def test_cells_a_spreadsheet_would_run_as_formulas_are_text(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """Labels and token symbols (chain- or list-supplied) that begin like a formula are
    exported with a leading apostrophe (OWASP's rule), their control characters dropped (a
    bare CR would end the row); numbers are left as they are."""
    wallets = []
    for n, formula in enumerate(FORMULAS):
        body = {"chain": "ethereum", "address": f"0x{n + 1:040x}", "label": f"{formula} label"}
        created = await client.post("/api/v1/wallets", json=body)
        assert created.status_code == 201, created.text
        wallets.append(created.json()["id"])
        await record(
            database_url, wallets[-1], "ethereum", f"0x{n + 1:040x}", 1, "-1", symbol=formula
        )
    moment = {"time": (BASE + timedelta(minutes=5)).isoformat()}
    rows = parse(await client.get("/api/v1/portfolio/at", params=moment, headers=CSV))
    stored = [await _label(client, w) for w in wallets]  # as trimmed when added
    assert {row["label"] for row in rows} == {
        "'" + label if label[0] in "=+-@\t\r" else label for label in stored
    }
    assert sum(row["label"].startswith("'") for row in rows) >= 4
    symbols = {row["token_symbol"] for row in rows}  # control characters dropped, then judged
    assert symbols == {"'" + f for f in FORMULAS[:4]} | {"TAB", "CR"}
    assert {row["usd_value"] for row in rows} == {"-1.00"}  # a number stays a number


async def _label(client: httpx.AsyncClient, wallet_id: str) -> str:
    label: str = (await client.get(f"/api/v1/wallets/{wallet_id}")).json()["label"]
    return label
