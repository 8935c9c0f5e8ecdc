"""DefiLlama's coins API: ``prices/current`` and ``percentage``, no key, ~150 coins a call."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from loguru import logger

from portfolio.adapters.prices.http import (
    Pacer,
    as_fraction,
    as_price,
    as_time,
    get_json,
    price_pool,
)
from portfolio.adapters.resilience import CallPolicy, Endpoint, EndpointPool, UpstreamError
from portfolio.domain.chains import Chain
from portfolio.domain.errors import PriceUnavailableError
from portfolio.domain.prices import Price, price_key
from portfolio.domain.tokens import Token

CHAINS = {Chain.ETHEREUM: "ethereum", Chain.SOLANA: "solana"}
NATIVE = {Chain.ETHEREUM: "coingecko:ethereum", Chain.SOLANA: "coingecko:solana"}


def coin_id(token: Token) -> str:
    if token.address is None:
        return NATIVE[token.chain]
    return f"{CHAINS[token.chain]}:{token.address}"


def _match_key(coin: str) -> str:
    """EVM addresses come back in any case; Solana mints are case-sensitive."""
    return coin.lower() if coin.startswith("ethereum:") else coin


class DefiLlamaPriceOracle:
    name = "defillama"

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient,
        policy: CallPolicy,
        pacer: Pacer,
        coins_per_request: int = 150,
    ) -> None:
        self._base = base_url.rstrip("/")
        # Prices and 24-hour changes are asked apart, each behind its own circuit breaker: a
        # change that cannot be had leaves the prices standing, without a change.
        self._pool = price_pool("defillama", self._base, client, policy)
        self._changes = price_pool("defillama-change", self._base, client, policy)
        self._pacer = pacer
        self._batch = coins_per_request
        self._policy = policy

    async def prices(self, tokens: Sequence[Token]) -> dict[str, Price]:
        by_coin = {_match_key(coin_id(t)): t for t in tokens}
        coins = list(dict.fromkeys(coin_id(t) for t in tokens))
        found: dict[str, Price] = {}
        for start in range(0, len(coins), self._batch):
            chunk = ",".join(coins[start : start + self._batch])
            current = await self._get(self._pool, f"/prices/current/{chunk}", {"searchWidth": "4h"})
            try:
                changes = await self._get(self._changes, f"/percentage/{chunk}", {"period": "24h"})
            except PriceUnavailableError as exc:
                logger.warning("defillama 24-hour changes unavailable: {}", exc)
                changes = {}
            now = datetime.now(UTC)
            for coin, info in current.items():
                token = by_coin.get(_match_key(coin))
                usd = as_price(info.get("price")) if isinstance(info, dict) else None
                if token is None or usd is None:
                    continue
                change = as_fraction(_case_insensitive(changes, coin))
                as_of = as_time(info.get("timestamp"), now)
                found[price_key(token)] = Price(usd, change, as_of, self.name)
        return found

    async def _get(
        self, pool: EndpointPool[httpx.AsyncClient], path: str, params: dict[str, str]
    ) -> dict[str, Any]:
        async def ask(endpoint: Endpoint[httpx.AsyncClient]) -> dict[str, Any]:
            await self._pacer.wait(self._policy.timeout_seconds)
            document = await get_json(endpoint.client, endpoint.url + path, params)
            coins = document.get("coins") if isinstance(document, dict) else None
            if not isinstance(coins, dict):
                raise UpstreamError("an answer without a 'coins' object")
            return coins

        return await pool.run(ask)


def _case_insensitive(values: dict[str, Any], coin: str) -> Any:
    if coin in values:
        return values[coin]
    wanted = _match_key(coin)
    return next((v for k, v in values.items() if _match_key(k) == wanted), None)
