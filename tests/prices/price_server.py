"""A local stand-in for DefiLlama's coins API and CoinGecko's simple API, with fault switches.

DefiLlama lives under /llama, CoinGecko under /cg. Numbers are written as JSON numbers, EVM
addresses come back lower-cased, as the real services do."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import web

from tests.netutil import free_port


@dataclass
class Quote:
    usd: Decimal
    change_percent: Decimal | None = None
    timestamp: int = 1_790_000_000


@dataclass
class PriceServer:
    llama: dict[str, Quote] = field(default_factory=dict)  # "ethereum:0x..", "coingecko:solana"
    gecko_ids: dict[str, Quote] = field(default_factory=dict)  # "ethereum", "solana"
    gecko_tokens: dict[str, dict[str, Quote]] = field(default_factory=dict)  # platform -> address
    faults: dict[str, str] = field(default_factory=dict)  # "llama"/"cg" -> "429"/"500"/"timeout"
    next_faults: dict[str, list[str]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    missing_paths: set[str] = field(default_factory=set)  # path prefixes answered with 404
    # Units of a currency for one USD ("eur" -> 0.9): CoinGecko's vs_currencies other than usd.
    rates: dict[str, Decimal] = field(default_factory=dict)
    url: str = ""
    _runner: web.AppRunner | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> PriceServer:
        app = web.Application()
        app.router.add_get("/llama/prices/current/{coins}", self._llama_prices)
        app.router.add_get("/llama/percentage/{coins}", self._llama_percentage)
        app.router.add_get("/cg/simple/price", self._gecko_price)
        app.router.add_get("/cg/simple/token_price/{platform}", self._gecko_token_price)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        self._released.set()
        assert self._runner is not None
        await self._runner.cleanup()

    def count(self, prefix: str) -> int:
        return sum(1 for path, _, _ in self.requests if path.startswith(prefix))

    async def _fault(self, service: str, request: web.Request) -> web.Response | None:
        self.requests.append((request.path, dict(request.query), dict(request.headers)))
        if any(request.path.startswith(prefix) for prefix in self.missing_paths):
            return web.Response(status=404, text="no such route")
        queued = self.next_faults.get(service)
        fault = queued.pop(0) if queued else self.faults.get(service)
        if fault == "timeout":
            await self._released.wait()
        if fault in ("429", "500", "timeout"):
            return web.Response(status=504 if fault == "timeout" else int(fault), text="injected")
        if fault == "malformed":
            return web.Response(text="{not json", content_type="application/json")
        return None

    async def _llama_prices(self, request: web.Request) -> web.Response:
        if (failed := await self._fault("llama", request)) is not None:
            return failed
        coins = {}
        for coin in request.match_info["coins"].split(","):
            quote = self.llama.get(coin) or self.llama.get(coin.lower())
            if quote is not None:
                coins[_lower_evm(coin)] = {
                    "price": _number(quote.usd), "symbol": "X", "timestamp": quote.timestamp,
                    "confidence": 0.99,
                }  # fmt: skip
        return _json({"coins": coins})

    async def _llama_percentage(self, request: web.Request) -> web.Response:
        if (failed := await self._fault("llama", request)) is not None:
            return failed
        coins = {}
        for coin in request.match_info["coins"].split(","):
            quote = self.llama.get(coin) or self.llama.get(coin.lower())
            if quote is not None and quote.change_percent is not None:
                coins[_lower_evm(coin)] = _number(quote.change_percent)
        return _json({"coins": coins})

    async def _gecko_price(self, request: web.Request) -> web.Response:
        if (failed := await self._fault("cg", request)) is not None:
            return failed
        answer = {
            coin_id: _gecko_quote(self.gecko_ids[coin_id])
            for coin_id in request.query["ids"].split(",")
            if coin_id in self.gecko_ids
        }
        for coin_id, quote in answer.items():
            for currency in request.query.get("vs_currencies", "usd").split(","):
                if currency in self.rates:
                    quote[currency] = self.gecko_ids[coin_id].usd * self.rates[currency]
        return _json(answer)

    async def _gecko_token_price(self, request: web.Request) -> web.Response:
        if (failed := await self._fault("cg", request)) is not None:
            return failed
        known = self.gecko_tokens.get(request.match_info["platform"], {})
        lowered = {address.lower(): quote for address, quote in known.items()}
        answer = {}
        for address in request.query["contract_addresses"].split(","):
            quote = known.get(address) or lowered.get(address.lower())
            if quote is not None:
                answer[address.lower()] = _gecko_quote(quote)
        return _json(answer)


def _gecko_quote(quote: Quote) -> dict[str, Any]:
    answer: dict[str, Any] = {"usd": _number(quote.usd), "last_updated_at": quote.timestamp}
    if quote.change_percent is not None:
        answer["usd_24h_change"] = _number(quote.change_percent)
    return answer


def _number(value: Decimal) -> Decimal:
    return value  # written by _dumps with every digit, as a JSON number


def _json(document: Any) -> web.Response:
    return web.Response(text=_dumps(document), content_type="application/json")


def _dumps(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f'"{k}":{_dumps(v)}' for k, v in value.items()) + "}"
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _lower_evm(coin: str) -> str:
    return coin.lower() if coin.startswith("ethereum:") else coin
