"""GET /portfolio/performance through the app, against figures computed by hand."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.api.conftest import add
from tests.ledger import Amount, price, record_amounts, record_prices

BASE = datetime(2026, 4, 1, tzinfo=UTC)
URL = "/api/v1/portfolio/performance"
SOL_ADDRESS = "vines1vzrYbzLMRdu58ou5XTby4qAqVRLmqo36NKPTg"


def at(minute: int) -> datetime:
    return BASE + timedelta(minutes=minute)


def stamp(minute: int) -> str:
    return at(minute).isoformat().replace("+00:00", "Z")


async def write(url: str, amounts: list[Amount], prices: list[tuple[str, str, int, str]]) -> None:
    engine = create_async_engine(url)
    try:
        await record_amounts(engine, amounts)
        for chain, token, minute, usd in prices:
            await record_prices(engine, [price(chain, token, at(minute), usd)])
    finally:
        await engine.dispose()


@pytest.fixture
async def story(client: httpx.AsyncClient, database_url: str) -> tuple[str, str]:
    """2 ETH from minute 1 at 100; 110 from minute 7; a deposit of 1 ETH at minute 12; 99 from
    minute 22; 10 SOL from minute 26 at 1.5; a token never priced."""
    eth = await add(client, "ethereum", "0x" + "11" * 20)
    sol = await add(client, "solana", SOL_ADDRESS)
    amounts = [
        Amount(UUID(eth), "native", at(1), 2, symbol="ETH"),
        Amount(UUID(eth), "0xdead", at(1), 5, symbol="DEAD"),
        Amount(UUID(eth), "native", at(12), 3, symbol="ETH"),
        Amount(UUID(sol), "native", at(26), 10, symbol="SOL"),
    ]
    prices = [("ethereum", "native", 1, "100"), ("ethereum", "native", 7, "110"),
              ("ethereum", "native", 22, "99"), ("solana", "native", 26, "1.5")]  # fmt: skip
    await write(database_url, amounts, prices)
    return eth, sol


WINDOW = {"start": BASE.isoformat(), "end": at(30).isoformat(), "interval": "5m"}


async def test_the_figures_are_the_hand_computed_ones(
    client: httpx.AsyncClient, story: tuple[str, str]
) -> None:
    eth, sol = story
    response = await client.get(URL, params=WINDOW)
    assert response.status_code == 200, response.text
    doc = response.json()
    # The first record shows at minute 5: the window starts there.
    assert (doc["start"], doc["end"], doc["currency"]) == (stamp(5), stamp(30), "USD")
    assert doc["start_value"] == "200.00"
    assert doc["end_value"] == "312.00"  # 3 x 99 + 10 x 1.5
    assert (doc["change"], doc["change_pct"]) == ("112.00", "56.0000")
    assert (doc["inflow"], doc["outflow"]) == ("125.00", "0.00")  # 1 ETH at 110, 10 SOL at 1.5
    assert (doc["flow_effect"], doc["market_effect"]) == ("125.00", "-13.00")  # +20, -33
    # 220/200 x (330 - 110)/220 x 297/330 x (312 - 15)/297 = 0.99
    assert doc["time_weighted_return"] == "-0.0100000000"
    assert doc["max_drawdown"] == "-0.1000000000"  # 1.1 -> 0.99
    assert (doc["peak_at"], doc["trough_at"]) == (stamp(10), stamp(25))
    assert [c["chain"] for c in doc["by_chain"]] == ["solana", "ethereum"]  # by market effect
    ethereum = doc["by_chain"][1]
    assert (ethereum["start_value"], ethereum["end_value"], ethereum["inflow"]) == (
        "200.00", "297.00", "110.00",
    )  # fmt: skip
    assert [(t["chain"], t["token_address"], t["symbol"]) for t in doc["by_token"]] == [
        ("solana", None, "SOL"), ("ethereum", None, "ETH"),
    ]  # fmt: skip
    assert {w["wallet_id"]: w["market_effect"] for w in doc["by_wallet"]} == {
        sol: "0.00", eth: "-13.00",
    }  # fmt: skip
    assert doc["unpriced"] == [{"chain": "ethereum", "token_address": "0xdead", "symbol": "DEAD"}]
    assert doc["series"] is None


async def test_the_ends_are_the_portfolio_at_those_moments(
    client: httpx.AsyncClient, story: tuple[str, str]
) -> None:
    doc = (await client.get(URL, params=WINDOW)).json()
    for moment, field in ((doc["start"], "start_value"), (doc["end"], "end_value")):
        held = (await client.get("/api/v1/portfolio/at", params={"time": moment})).json()
        assert held["total_usd"] == doc[field]


async def test_the_series_gives_each_buckets_cumulative_return(
    client: httpx.AsyncClient, story: tuple[str, str]
) -> None:
    doc = (await client.get(URL, params={**WINDOW, "series": "true"})).json()
    points = doc["series"]
    assert [p["timestamp"] for p in points] == [stamp(m) for m in (5, 10, 15, 20, 25)]
    assert [p["value"] for p in points] == ["220.00", "330.00", "330.00", "297.00", "312.00"]
    assert [p["net_flow"] for p in points] == ["0.00", "110.00", "0.00", "0.00", "15.00"]
    assert [Decimal(p["cumulative_return"]) for p in points] == [
        Decimal("0.1"), Decimal("0.1"), Decimal("0.1"), Decimal("-0.01"), Decimal("-0.01"),
    ]  # fmt: skip


async def test_csv_has_a_row_for_the_portfolio_and_each_group(
    client: httpx.AsyncClient, story: tuple[str, str]
) -> None:
    response = await client.get(URL, params=WINDOW, headers={"Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["scope"] for r in rows] == ["portfolio", "chain", "chain", "token", "token",
                                          "wallet", "wallet"]  # fmt: skip
    assert (rows[0]["market_effect"], rows[0]["flow_effect"]) == ("-13.00", "125.00")
    assert {r["currency"] for r in rows} == {"USD"}
    series = await client.get(
        URL, params={**WINDOW, "series": "true"}, headers={"Accept": "text/csv"}
    )
    lines = list(csv.reader(io.StringIO(series.text)))
    assert lines[0] == ["timestamp", "value", "net_flow", "cumulative_return"]
    assert lines[-1][:3] == [stamp(25), "312.00", "15.00"]


async def test_one_wallet_or_one_chain(client: httpx.AsyncClient, story: tuple[str, str]) -> None:
    eth, _ = story
    one = (await client.get(URL, params={**WINDOW, "wallet_id": eth})).json()
    assert (one["start_value"], one["end_value"], one["market_effect"]) == (
        "200.00", "297.00", "-13.00",
    )  # fmt: skip
    assert [w["wallet_id"] for w in one["by_wallet"]] == [eth]
    chain = (await client.get(URL, params={**WINDOW, "chain": "solana"})).json()
    assert chain["start"] == stamp(30)  # its first record shows there
    assert (chain["start_value"], chain["end_value"]) == ("15.00", "15.00")
    missing = await client.get(URL, params={"wallet_id": str(uuid4())})
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_a_transfer_between_tracked_wallets_nets_out(
    client: httpx.AsyncClient, database_url: str
) -> None:
    one = await add(client, "ethereum", "0x" + "21" * 20)
    two = await add(client, "ethereum", "0x" + "22" * 20)
    amounts = [
        Amount(UUID(one), "native", at(1), 4),
        Amount(UUID(one), "native", at(11), 1),
        Amount(UUID(two), "native", at(13), 3),
    ]
    await write(database_url, amounts, [("ethereum", "native", 1, "50")])
    doc = (await client.get(URL, params=WINDOW)).json()
    assert (doc["inflow"], doc["outflow"], doc["change"]) == ("0.00", "0.00", "0.00")
    by_wallet = {w["wallet_id"]: (w["inflow"], w["outflow"]) for w in doc["by_wallet"]}
    assert by_wallet == {one: ("0.00", "150.00"), two: ("150.00", "0.00")}


async def test_the_default_window_is_thirty_days_by_the_hour(client: httpx.AsyncClient) -> None:
    doc = (await client.get(URL)).json()
    assert doc["interval"] == "1h"
    assert doc["start_value"] == doc["end_value"] == "0.00"
    assert (doc["time_weighted_return"], doc["change_pct"]) == ("0.0000000000", None)


@pytest.mark.parametrize(
    "params",
    [
        {"interval": "2m"},
        {"start": BASE.isoformat(), "end": BASE.isoformat()},
        {"start": "yesterday"},
        {"chain": "Not a chain"},
        {"wallet_id": "not-a-uuid"},
        {"series": "maybe"},
        {"start": BASE.isoformat(), "end": (BASE + timedelta(days=400)).isoformat(),
         "interval": "5m"},
    ],
)  # fmt: skip
async def test_bad_queries_are_422(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await client.get(URL, params=params)
    assert response.status_code == 422, (params, response.text)
    assert response.headers["content-type"] == "application/problem+json"


def day_of(minute: int) -> datetime:
    """The story's minute on a scale where 5 minutes are a day (its buckets the same)."""
    return BASE + minute * timedelta(hours=24) / 5


async def test_a_daily_window_is_read_from_the_kept_tracks(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """The story on a scale of days, by the day: the same figures, read from the tracks kept
    for daily windows (the cursor far past the story), whole, of one chain or one wallet."""
    eth = await add(client, "ethereum", "0x" + "11" * 20)
    sol = await add(client, "solana", SOL_ADDRESS)
    amounts = [
        Amount(UUID(eth), "native", day_of(1), 2, symbol="ETH"),
        Amount(UUID(eth), "0xdead", day_of(1), 5, symbol="DEAD"),
        Amount(UUID(eth), "native", day_of(12), 3, symbol="ETH"),
        Amount(UUID(sol), "native", day_of(26), 10, symbol="SOL"),
    ]
    engine = create_async_engine(database_url)
    try:
        await record_amounts(engine, amounts)
        for chain, token, minute, usd in [
            ("ethereum", "native", 1, "100"), ("ethereum", "native", 7, "110"),
            ("ethereum", "native", 22, "99"), ("solana", "native", 26, "1.5"),
        ]:  # fmt: skip
            await record_prices(engine, [price(chain, token, day_of(minute), usd)])
        window = {"start": BASE.isoformat(), "end": day_of(30).isoformat(), "interval": "1d"}
        doc = (await client.get(URL, params={**window, "series": "true"})).json()
        async with engine.connect() as connection:
            kept = await connection.scalar(text("SELECT count(*) FROM performance_tracks"))
    finally:
        await engine.dispose()
    assert kept, "the tracks were kept"
    day = "T00:00:00Z"
    assert (doc["start"], doc["end"]) == ("2026-04-02" + day, "2026-04-07" + day)
    assert (doc["start_value"], doc["end_value"], doc["change"]) == ("200.00", "312.00", "112.00")
    assert (doc["inflow"], doc["outflow"], doc["market_effect"]) == ("125.00", "0.00", "-13.00")
    assert doc["time_weighted_return"] == "-0.0100000000"
    assert doc["max_drawdown"] == "-0.1000000000"
    assert (doc["peak_at"], doc["trough_at"]) == ("2026-04-03" + day, "2026-04-06" + day)
    assert {w["wallet_id"]: (w["market_effect"], w["inflow"], w["max_drawdown"])
            for w in doc["by_wallet"]} == {
        sol: ("0.00", "15.00", "0.0000000000"), eth: ("-13.00", "110.00", "-0.1000000000"),
    }  # fmt: skip
    assert doc["unpriced"] == [{"chain": "ethereum", "token_address": "0xdead", "symbol": "DEAD"}]
    assert [p["value"] for p in doc["series"]] == [
        "220.00", "330.00", "330.00", "297.00", "312.00",
    ]  # fmt: skip
    chain = (await client.get(URL, params={**window, "chain": "solana"})).json()
    assert chain["start"] == "2026-04-07" + day  # its first record shows there
    assert (chain["start_value"], chain["end_value"]) == ("15.00", "15.00")
    one = (await client.get(URL, params={**window, "wallet_id": eth})).json()  # from records
    assert (one["start_value"], one["end_value"], one["market_effect"]) == (
        "200.00", "297.00", "-13.00",
    )  # fmt: skip
    # A wallet deleted takes its tracks with it: the next read keeps them again without it.
    assert (await client.delete(f"/api/v1/wallets/{sol}")).status_code == 204
    after = (await client.get(URL, params=window)).json()
    assert [w["wallet_id"] for w in after["by_wallet"]] == [eth]
    assert (after["end_value"], after["inflow"]) == ("297.00", "110.00")
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            cells = await connection.execute(text("SELECT DISTINCT track FROM performance_cells"))
            assert cells.scalars().all() == [f"w:{eth}"]  # its exact cells, none of the other
    finally:
        await engine.dispose()
