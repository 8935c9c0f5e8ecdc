"""?currency= through the app: rates from CoinGecko's vs_currencies (a local price server) or as
configured, recorded as a series; history at each bucket's rate; a missing rate never guessed."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.rates import SqlRateSeries
from portfolio.domain.currencies import ROUNDING_CONTEXT, Rate
from portfolio.main.app import create_app
from tests.api.conftest import add, serve, settings_for
from tests.chains.worlds import SolanaWorld
from tests.ledger import Amount, price, record_amounts, record_prices
from tests.prices.price_server import PriceServer, Quote

BASE = datetime(2026, 4, 1, tzinfo=UTC)
EUR, JPY = Decimal("0.9"), Decimal("151.37")


def at(minute: int) -> datetime:
    return BASE + timedelta(minutes=minute)


@pytest.fixture
async def priced(
    database_url: str, chains: dict[str, Any], solana: SolanaWorld
) -> AsyncIterator[tuple[httpx.AsyncClient, PriceServer]]:
    async with PriceServer() as prices:
        prices.llama = {
            "coingecko:solana": Quote(Decimal("100")),
            f"solana:{solana.usdc.address}": Quote(Decimal("1")),
        }
        prices.gecko_ids = {"bitcoin": Quote(Decimal("60000"))}
        prices.rates = {"eur": EUR, "jpy": JPY}
        settings = settings_for(
            database_url,
            **chains,
            defillama_base_url=f"{prices.url}/llama",
            coingecko_base_url=f"{prices.url}/cg",
        )
        async with serve(create_app(settings)) as client:
            yield client, prices


async def test_the_portfolio_in_a_currency_at_its_rate_and_minor_units(
    priced: tuple[httpx.AsyncClient, PriceServer], solana: SolanaWorld
) -> None:
    client, prices = priced
    wallet = await add(client, "solana", solana.rich)
    assert (await client.post(f"/api/v1/wallets/{wallet}/fetch")).status_code == 200
    usd = await client.get("/api/v1/portfolio")
    exact = Decimal("2.500000001") * 100 + Decimal("1.234567")  # SOL and USDC
    assert usd.json()["total_usd"] == "251.23"
    assert (usd.json()["currency"], usd.json()["total_value"]) == ("USD", "251.23")

    euros = await client.get("/api/v1/portfolio", params={"currency": "eur"})
    doc = euros.json()
    assert (doc["currency"], doc["rate"]) == ("EUR", "0.9")
    assert doc["total_value"] == str((exact * EUR).quantize(Decimal("0.01")))  # 226.11
    assert doc["total_usd"] == "251.23"  # the USD fields stay
    assert doc["by_chain"][0]["value"] == doc["total_value"]
    assert {t["token"]["symbol"]: t["value"] for t in doc["by_token"]}["SOL"] == "225.00"
    assert euros.headers["etag"] != usd.headers["etag"]

    yen = (await client.get("/api/v1/portfolio", params={"currency": "JPY"})).json()
    assert yen["total_value"] == str((exact * JPY).quantize(Decimal(1)))  # no minor units
    assert "." not in yen["total_value"]
    # One ask of the rate source served both currencies since, from the cache.
    asked = [q for path, q, _ in prices.requests if path == "/cg/simple/price"]
    assert len(asked) == 1
    assert asked[0]["ids"] == "bitcoin"

    exported = await client.get(
        "/api/v1/portfolio", params={"currency": "EUR"}, headers={"Accept": "text/csv"}
    )
    rows = {r["token_symbol"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    assert (rows["SOL"]["usd_value"], rows["SOL"]["currency"], rows["SOL"]["value"]) == (
        "250.00", "EUR", "225.00",
    )  # fmt: skip

    balances = (await client.get(f"/api/v1/wallets/{wallet}/balances",
                                 params={"currency": "EUR"})).json()  # fmt: skip
    assert balances["total_value"] == doc["total_value"]
    assert {b["token"]["symbol"]: b["value"] for b in balances["balances"]}["USDC"] == "1.11"


async def test_an_unknown_currency_is_a_422_listing_the_known_ones(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/api/v1/portfolio", "/api/v1/portfolio/history",
                 "/api/v1/portfolio/performance"):  # fmt: skip
        response = await client.get(path, params={"currency": "XYZ"})
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "USD, EUR, GBP, JPY, CHF, CAD, AUD, BTC, ETH" in response.json()["detail"]


async def write(url: str, rates: list[tuple[int, str]]) -> None:
    """2 ETH of a wallet from minute 1 at 100, 110 from minute 12; EUR rates as given."""
    engine = create_async_engine(url)
    try:
        series = SqlRateSeries(session_factory(engine), engine.dialect.name)
        for minute, rate in rates:
            await series.record([Rate("EUR", Decimal(rate), at(minute), "test")], at(minute))
        async with engine.connect() as connection:
            wallet = (
                await connection.exec_driver_sql("SELECT id FROM wallets LIMIT 1")
            ).scalar_one()
        await record_amounts(engine, [Amount(UUID(str(wallet)), "native", at(1), 2)])
        await record_prices(engine, [price("ethereum", "native", at(1), "100")])
        await record_prices(engine, [price("ethereum", "native", at(12), "110")])
    finally:
        await engine.dispose()


WINDOW = {"start": BASE.isoformat(), "end": at(30).isoformat(), "interval": "5m"}


async def test_history_in_a_currency_is_each_points_value_at_its_buckets_rate(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await add(client, "ethereum", "0x" + "11" * 20)
    await write(database_url, [(2, "0.9"), (17, "0.8")])
    usd = (await client.get("/api/v1/portfolio/history", params=WINDOW)).json()["points"]
    eur = (await client.get("/api/v1/portfolio/history",
                            params={**WINDOW, "currency": "EUR"})).json()  # fmt: skip
    assert eur["currency"] == "EUR"
    assert eur["rate_missing"] is None
    # USD points 200, 200, 220, 220, 220, 220 at the ends 5..30; EUR 0.9 until minute 17.
    rates = [Decimal("0.9")] * 3 + [Decimal("0.8")] * 3
    assert [p["total_value"] for p in eur["points"]] == [
        str((Decimal(p["total_usd"]) * r).quantize(Decimal("0.01")))
        for p, r in zip(usd, rates, strict=True)
    ]
    assert [p["total_value"] for p in eur["points"]] == [
        "180.00", "180.00", "198.00", "176.00", "176.00", "176.00",
    ]  # fmt: skip
    assert eur["points"][3]["by_chain_value"] == {"ethereum": "176.00"}

    exported = await client.get("/api/v1/portfolio/history",
                                params={**WINDOW, "currency": "EUR"},
                                headers={"Accept": "text/csv"})  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["currency"], r["total_value"]) for r in rows] == [
        ("EUR", p["total_value"]) for p in eur["points"]
    ]

    in_euros = {"time": at(20).isoformat(), "currency": "EUR"}
    moment = (await client.get("/api/v1/portfolio/at", params=in_euros)).json()
    assert (moment["total_value"], moment["rate"]) == ("176.00", "0.8")
    assert moment["balances"][0]["value"] == "176.00"

    performance = (await client.get("/api/v1/portfolio/performance",
                                    params={**WINDOW, "currency": "EUR"})).json()  # fmt: skip
    assert performance["currency"] == "EUR"
    assert (performance["start_value"], performance["end_value"]) == ("180.00", "176.00")
    # The rate's fall is a market effect to a holder in EUR; nothing moved in or out.
    assert (performance["market_effect"], performance["flow_effect"]) == ("-4.00", "0.00")
    assert Decimal(performance["time_weighted_return"]) == (
        (Decimal(176) / Decimal(180) - 1).quantize(Decimal("1E-10"))
    )


async def test_a_missing_rate_is_null_with_the_reason_never_a_guess(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await add(client, "ethereum", "0x" + "11" * 20)
    await write(database_url, [(17, "0.8")])  # nothing before minute 17
    eur = (await client.get("/api/v1/portfolio/history",
                            params={**WINDOW, "currency": "EUR"})).json()  # fmt: skip
    assert [p["total_value"] for p in eur["points"]] == [None] * 3 + ["176.00"] * 3
    assert "No EUR rate" in eur["rate_missing"]
    in_euros = {"time": at(10).isoformat(), "currency": "EUR"}
    early = (await client.get("/api/v1/portfolio/at", params=in_euros)).json()
    assert early["total_value"] is None
    assert early["total_usd"] == "200.00"
    assert "No EUR rate" in early["rate_missing"]
    refused = await client.get("/api/v1/portfolio/performance",
                               params={**WINDOW, "currency": "EUR"})  # fmt: skip
    assert refused.status_code == 422
    assert "No EUR rate" in refused.json()["detail"]
    # No source answers (none listens) and none is configured: the current value is null too.
    now = (await client.get("/api/v1/portfolio", params={"currency": "GBP"})).json()
    assert now["total_value"] is None
    assert "No GBP rate" in now["rate_missing"]


async def test_the_default_currency_and_configured_rates(database_url: str) -> None:
    settings = settings_for(
        database_url,
        default_currency="EUR",
        currency_rates={"EUR": Decimal("0.5")},
        price_sources=["none"],
    )
    async with serve(create_app(settings)) as client:
        plain = await client.get("/api/v1/portfolio")
        assert (plain.json()["currency"], plain.json()["rate"]) == ("EUR", "0.5")
        usd = await client.get("/api/v1/portfolio", params={"currency": "USD"})
        assert usd.json()["currency"] == "USD"
        assert usd.headers["etag"] != plain.headers["etag"]
        again = await client.get(
            "/api/v1/portfolio", headers={"If-None-Match": plain.headers["etag"]}
        )
        assert again.status_code == 304


async def test_values_of_any_magnitude_keep_every_digit_in_any_currency(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A spam-sized holding (a uint256 of a token priced near the largest price stored) in ETH
    needs 121 digits to the wei: shown, not a 500."""
    wallet = await add(client, "ethereum", "0x" + "12" * 20)
    engine = create_async_engine(database_url)
    try:
        series = SqlRateSeries(session_factory(engine), engine.dialect.name)
        await series.record([Rate("ETH", Decimal("0.000333"), at(0), "test")], at(0))
        await record_amounts(engine, [Amount(UUID(wallet), "native", at(1), 2**256 - 1)])
        await record_prices(engine, [price("ethereum", "native", at(1), "1E-18")])
        await record_prices(engine, [price("ethereum", "native", at(12), "9" * 29)])
    finally:
        await engine.dispose()
    moment = {"time": at(20).isoformat(), "currency": "ETH"}
    held = await client.get("/api/v1/portfolio/at", params=moment)
    assert held.status_code == 200, held.text
    whole, fraction = held.json()["total_value"].split(".")
    assert (len(whole), len(fraction)) == (103, 18)
    performance = await client.get(
        "/api/v1/portfolio/performance", params={**WINDOW, "currency": "ETH"}
    )
    assert performance.status_code == 200, performance.text
    doc = performance.json()
    assert Decimal(doc["time_weighted_return"]) > Decimal("1E40")
    with localcontext(ROUNDING_CONTEXT):  # every digit
        assert Decimal(doc["market_effect"]) + Decimal(doc["flow_effect"]) == Decimal(doc["change"])
