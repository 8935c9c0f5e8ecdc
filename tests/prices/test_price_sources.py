"""DefiLlama and CoinGecko adapters, and the price service over them, against a local server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from aiohttp import web
from pydantic import SecretStr

from portfolio.adapters.cache.memory import MemoryCache
from portfolio.adapters.prices.coingecko import CoinGeckoPriceOracle
from portfolio.adapters.prices.defillama import DefiLlamaPriceOracle
from portfolio.adapters.prices.http import Pacer
from portfolio.adapters.resilience import CallPolicy
from portfolio.config import Settings
from portfolio.domain.chains import Chain
from portfolio.domain.errors import PriceUnavailableError
from portfolio.domain.prices import price_key
from portfolio.domain.tokens import Token
from portfolio.main.pricing import price_service
from portfolio.services.prices import PriceService
from tests.netutil import free_port
from tests.prices.price_server import PriceServer, Quote

ETH = Token.native(Chain.ETHEREUM)
SOL = Token.native(Chain.SOLANA)
USDC = Token(
    Chain.ETHEREUM, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "USDC", "USD Coin", 6, True
)
BONK = Token(Chain.SOLANA, "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", "BONK", "Bonk", 5, True)
SPAM = Token(Chain.ETHEREUM, "0x" + "5a" * 20, "USDC", "USD Coin", 6, False)  # a copied symbol
POLICY = CallPolicy(timeout_seconds=1, attempts=2, backoff_seconds=0.01, backoff_max_seconds=0.02)


@pytest.fixture
async def server() -> AsyncIterator[PriceServer]:
    async with PriceServer() as running:
        running.llama = {
            "coingecko:ethereum": Quote(Decimal("3456.78"), Decimal("-1.5")),
            "coingecko:solana": Quote(Decimal("150.25"), Decimal("2.25")),
            f"ethereum:{USDC.address}": Quote(Decimal("0.999912345678901234567"), Decimal("0.01")),
        }
        running.gecko_ids = {
            "ethereum": Quote(Decimal("3400"), Decimal("-1")),
            "solana": Quote(Decimal("149")),
        }
        running.gecko_tokens = {
            "ethereum": {USDC.address or "": Quote(Decimal("1.0001"))},
            "solana": {BONK.address or "": Quote(Decimal("0.0000213"), Decimal("-12.5"))},
        }
        yield running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=2) as http:
        yield http


def llama(
    server: PriceServer, client: httpx.AsyncClient, coins_per_request: int = 150
) -> DefiLlamaPriceOracle:
    return DefiLlamaPriceOracle(
        f"{server.url}/llama", client, POLICY, Pacer("llama", "1000/second"),
        coins_per_request=coins_per_request,
    )  # fmt: skip


def gecko(
    server: PriceServer, client: httpx.AsyncClient, key: str | None = None, base: str = "/cg"
) -> CoinGeckoPriceOracle:
    return CoinGeckoPriceOracle(
        f"{server.url}{base}", client, POLICY, Pacer("cg", "1000/second"), key
    )


async def test_defillama_prices_by_chain_and_address_exactly(
    server: PriceServer, client: httpx.AsyncClient
) -> None:
    prices = await llama(server, client).prices([ETH, SOL, USDC, SPAM])
    assert set(prices) == {price_key(ETH), price_key(SOL), price_key(USDC)}
    usdc = prices[price_key(USDC)]
    assert usdc.usd == Decimal("0.999912345678901234567")
    assert usdc.change_24h == Decimal("0.0001")
    assert prices[price_key(ETH)].change_24h == Decimal("-0.015")
    assert usdc.source == "defillama"


async def test_defillama_asks_in_batches(server: PriceServer, client: httpx.AsyncClient) -> None:
    await llama(server, client, coins_per_request=2).prices([ETH, SOL, USDC])
    assert server.count("/llama/prices/current/") == 2
    assert server.count("/llama/percentage/") == 2


async def test_a_429_is_retried_and_an_outage_is_unavailable(
    server: PriceServer, client: httpx.AsyncClient
) -> None:
    server.next_faults["llama"] = ["429"]
    assert price_key(ETH) in await llama(server, client).prices([ETH])
    server.faults["llama"] = "500"
    with pytest.raises(PriceUnavailableError):
        await llama(server, client).prices([ETH])


async def test_coingecko_prices_natives_by_id_and_tokens_by_address(
    server: PriceServer, client: httpx.AsyncClient
) -> None:
    prices = await gecko(server, client).prices([ETH, SOL, USDC, BONK, SPAM])
    assert {k: p.usd for k, p in prices.items()} == {
        price_key(ETH): Decimal("3400"),
        price_key(SOL): Decimal("149"),
        price_key(USDC): Decimal("1.0001"),
        price_key(BONK): Decimal("0.0000213"),
    }
    assert prices[price_key(BONK)].change_24h == Decimal("-0.125")
    assert prices[price_key(SOL)].change_24h is None


async def test_coingecko_without_a_key_asks_ten_addresses_at_a_time(
    server: PriceServer, client: httpx.AsyncClient
) -> None:
    tokens = [Token(Chain.ETHEREUM, f"0x{n:040x}", None, None, 18, True) for n in range(1, 26)]
    await gecko(server, client).prices(tokens)
    assert server.count("/cg/simple/token_price/ethereum") == 3
    assert all("x-cg-demo-api-key" not in headers for _, _, headers in server.requests)


async def test_coingecko_sends_the_key_in_the_header_of_its_plan(
    server: PriceServer, client: httpx.AsyncClient
) -> None:
    await gecko(server, client, key="demo-123").prices([ETH])
    assert server.requests[-1][2]["x-cg-demo-api-key"] == "demo-123"
    assert CoinGeckoPriceOracle(
        "https://pro-api.coingecko.com/api/v3", client, POLICY, Pacer("p", "1/second"), "k"
    )._headers == {"x-cg-pro-api-key": "k"}


def service(server: PriceServer, client: httpx.AsyncClient, cache: MemoryCache) -> PriceService:
    return PriceService(
        [llama(server, client), gecko(server, client)], cache, timedelta(seconds=60)
    )


async def test_the_second_source_prices_what_the_first_does_not(
    server: PriceServer, client: httpx.AsyncClient
) -> None:
    prices = await service(server, client, MemoryCache()).prices([ETH, BONK, SPAM])
    assert prices[price_key(ETH)].source == "defillama"
    assert prices[price_key(BONK)].source == "coingecko"
    assert price_key(SPAM) not in prices  # no price: null, never zero


async def test_cached_prices_ask_no_source(server: PriceServer, client: httpx.AsyncClient) -> None:
    prices = service(server, client, MemoryCache())
    await prices.prices([ETH, SPAM])
    asked = len(server.requests)
    again = await prices.prices([ETH, SPAM])
    assert len(server.requests) == asked
    assert set(again) == {price_key(ETH)}


async def test_with_every_source_down_the_last_price_serves_stale(
    server: PriceServer, client: httpx.AsyncClient
) -> None:
    cache = MemoryCache()
    prices = PriceService(
        [llama(server, client), gecko(server, client)], cache, timedelta(seconds=0.01)
    )
    fresh = await prices.prices([ETH])
    assert fresh[price_key(ETH)].stale is False
    server.faults = {"llama": "500", "cg": "500"}
    await cache.delete(f"price:{price_key(ETH)}")
    stale = await prices.prices([ETH, BONK])
    assert stale[price_key(ETH)].usd == Decimal("3456.78")
    assert stale[price_key(ETH)].stale is True
    assert price_key(BONK) not in stale


async def test_the_first_source_down_falls_back_to_the_second(
    server: PriceServer, client: httpx.AsyncClient
) -> None:
    server.faults["llama"] = "timeout"
    prices = await service(server, client, MemoryCache()).prices([ETH, USDC])
    assert {p.source for p in prices.values()} == {"coingecko"}


async def test_defillama_prices_stand_when_the_24h_changes_cannot_be_had(
    server: PriceServer, client: httpx.AsyncClient
) -> None:
    oracle = llama(server, client)
    server.missing_paths = {"/llama/percentage"}
    prices = await oracle.prices([ETH, USDC])
    assert prices[price_key(ETH)].usd == Decimal("3456.78")
    assert prices[price_key(ETH)].change_24h is None


async def test_a_redirect_is_not_followed_and_the_key_goes_nowhere_else(
    server: PriceServer,
) -> None:
    """A price source that answers with a redirect to another host: not followed (httpx would
    send the key header on), a failure of that source."""

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"{server.url}{request.path_qs}")

    app = web.Application()
    app.router.add_get("/{tail:.*}", moved)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    settings = Settings(
        _env_file=None, price_sources=["coingecko"], coingecko_api_key=SecretStr("cg-key-7f3a1d"),
        coingecko_base_url=f"http://127.0.0.1:{port}/cg", rpc_attempts=1,
    )  # fmt: skip
    try:
        async with price_service(settings, MemoryCache(), None) as prices:
            assert await prices.prices([ETH]) == {}
    finally:
        await runner.cleanup()
    assert server.requests == []  # the other host was never asked
