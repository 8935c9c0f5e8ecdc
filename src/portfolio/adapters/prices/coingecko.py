"""CoinGecko: native coins by id through ``simple/price``; ERC-20 and SPL tokens by contract or
mint through ``simple/token_price/{platform}``. A key goes in ``x-cg-demo-api-key`` (or
``x-cg-pro-api-key`` for a Pro base URL); without one, at most 10 addresses a request."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Context, Decimal, localcontext
from typing import Any

import httpx

from portfolio.adapters.prices.http import (
    Pacer,
    as_fraction,
    as_price,
    as_time,
    get_json,
    price_pool,
)
from portfolio.adapters.resilience import CallPolicy, Endpoint, UpstreamError
from portfolio.domain.chains import DEFAULT_PRICE_NAMES, Chain, PriceNames
from portfolio.domain.prices import Price, price_key
from portfolio.domain.tokens import Token

RATE_COIN = "bitcoin"
RATE_CONTEXT = Context(prec=28)  # a rate to 28 digits; stored to 18 places
KEYLESS_ADDRESSES = 10
KEYED_ADDRESSES = 100


def api_key_header(base_url: str) -> str:
    return "x-cg-pro-api-key" if "pro-api." in base_url else "x-cg-demo-api-key"


class CoinGeckoPriceOracle:
    name = "coingecko"

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient,
        policy: CallPolicy,
        pacer: Pacer,
        api_key: str | None = None,
        names: Mapping[Chain, PriceNames] = DEFAULT_PRICE_NAMES,
    ) -> None:
        """``names``: CoinGecko's coin id of each chain's native coin, and its platform id."""
        self._names = names
        self._base = base_url.rstrip("/")
        self._pool = price_pool("coingecko", self._base, client, policy)
        self._pacer = pacer
        self._policy = policy
        self._headers = {api_key_header(self._base): api_key} if api_key else {}
        self._batch = KEYED_ADDRESSES if api_key else KEYLESS_ADDRESSES

    async def prices(self, tokens: Sequence[Token]) -> dict[str, Price]:
        found: dict[str, Price] = {}
        natives: dict[str, list[Token]] = {}  # one coin may be several chains' native (ETH)
        by_platform: dict[str, list[Token]] = {}
        for token in tokens:
            names = self._names.get(token.chain)
            if names is None:
                continue
            if token.address is None and names.native_id:
                natives.setdefault(names.native_id, []).append(token)
            elif token.address is not None and names.coingecko_platform:
                by_platform.setdefault(names.coingecko_platform, []).append(token)
        if natives:
            answer = await self._get("/simple/price", {"ids": ",".join(natives)})
            found.update(self._read(answer, natives))
        for platform, listed in by_platform.items():
            for start in range(0, len(listed), self._batch):
                chunk: dict[str, list[Token]] = {}
                for token in listed[start : start + self._batch]:
                    chunk.setdefault(_match_key(token.address or ""), []).append(token)
                params = {
                    "contract_addresses": ",".join(t[0].address or "" for t in chunk.values())
                }
                answer = await self._get(f"/simple/token_price/{platform}", params)
                keyed = {_match_key(key): value for key, value in answer.items()}
                found.update(self._read(keyed, chunk))
        return found

    async def rates(self, currencies: Sequence[str]) -> dict[str, Decimal]:
        """Units of each currency for one USD: one coin's price in each (``vs_currencies``)
        over its price in USD. Asked of Bitcoin, whose price CoinGecko quotes in every
        currency it knows."""
        wanted = [c.lower() for c in currencies if c.upper() != "USD"]
        if not wanted:
            return {}
        query = {"ids": RATE_COIN, "vs_currencies": ",".join(["usd", *wanted])}

        async def ask(endpoint: Endpoint[httpx.AsyncClient]) -> dict[str, Any]:
            await self._pacer.wait(self._policy.timeout_seconds)
            document = await get_json(
                endpoint.client, endpoint.url + "/simple/price", query, self._headers
            )
            if not isinstance(document, dict):
                raise UpstreamError("an answer that is not a JSON object")
            return document

        quoted = (await self._pool.run(ask)).get(RATE_COIN)
        if not isinstance(quoted, dict):
            return {}
        usd = as_price(quoted.get("usd"))
        if usd is None or not usd:
            return {}
        found = {}
        with localcontext(RATE_CONTEXT):
            for code in wanted:
                price = as_price(quoted.get(code))
                if price:
                    found[code.upper()] = price / usd
        return found

    def _read(self, answer: dict[str, Any], wanted: dict[str, list[Token]]) -> dict[str, Price]:
        now = datetime.now(UTC)
        prices = {}
        for key, tokens in wanted.items():
            info = answer.get(key)
            usd = as_price(info.get("usd")) if isinstance(info, dict) else None
            if info is None or usd is None:
                continue
            change = as_fraction(info.get("usd_24h_change"))
            as_of = as_time(info.get("last_updated_at"), now)
            for token in tokens:
                prices[price_key(token)] = Price(usd, change, as_of, self.name)
        return prices

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        query = {
            **params,
            "vs_currencies": "usd",
            "include_24hr_change": "true",
            "include_last_updated_at": "true",
        }

        async def ask(endpoint: Endpoint[httpx.AsyncClient]) -> dict[str, Any]:
            await self._pacer.wait(self._policy.timeout_seconds)
            document = await get_json(endpoint.client, endpoint.url + path, query, self._headers)
            if not isinstance(document, dict):
                raise UpstreamError("an answer that is not a JSON object")
            return document

        return await self._pool.run(ask)


def _match_key(address: str) -> str:
    """CoinGecko answers with lower-cased addresses, Solana mints included; within one
    request two mints differing only in case are not to be expected."""
    return address.lower()
