"""DefiLlama's coins API: ``prices/current`` and ``percentage``, no key, ~150 coins a call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from portfolio.domain.chains import DEFAULT_PRICE_NAMES, Chain, PriceNames
from portfolio.domain.errors import PriceUnavailableError
from portfolio.domain.prices import Price, price_key
from portfolio.domain.tokens import Token


def coin_id(token: Token, names: Mapping[Chain, PriceNames] = DEFAULT_PRICE_NAMES) -> str | None:
    """DefiLlama's name of the token's coin ("base:0x...", "coingecko:ethereum"), or None
    when it knows no name for the token's chain."""
    chain = names.get(token.chain)
    if chain is None:
        return None
    if token.address is None:
        return f"coingecko:{chain.native_id}" if chain.native_id else None
    return f"{chain.defillama_chain}:{token.address}" if chain.defillama_chain else None


def _match_key(coin: str) -> str:
    """EVM addresses come back in any case; Solana mints are case-sensitive."""
    return coin if coin.startswith("solana:") else coin.lower()


class DefiLlamaPriceOracle:
    name = "defillama"

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient,
        policy: CallPolicy,
        pacer: Pacer,
        coins_per_request: int = 150,
        names: Mapping[Chain, PriceNames] = DEFAULT_PRICE_NAMES,
    ) -> None:
        """``names``: DefiLlama's chain slugs, and CoinGecko's ids of the native coins."""
        self._names = names
        self._base = base_url.rstrip("/")
        # Prices and 24-hour changes are asked apart, each behind its own circuit breaker: a
        # change that cannot be had leaves the prices standing, without a change.
        self._pool = price_pool("defillama", self._base, client, policy)
        self._changes = price_pool("defillama-change", self._base, client, policy)
        self._pacer = pacer
        self._batch = coins_per_request
        self._policy = policy

    async def prices(self, tokens: Sequence[Token]) -> dict[str, Price]:
        by_coin: dict[str, list[Token]] = {}  # one coin may be several chains' native (ETH)
        coins: list[str] = []
        for token in tokens:
            coin = coin_id(token, self._names)
            if coin is not None:
                by_coin.setdefault(_match_key(coin), []).append(token)
                coins.append(coin)
        coins = list(dict.fromkeys(coins))
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
                matched = by_coin.get(_match_key(coin), [])
                usd = as_price(info.get("price")) if isinstance(info, dict) else None
                if not matched or usd is None:
                    continue
                change = as_fraction(_case_insensitive(changes, coin))
                as_of = as_time(info.get("timestamp"), now)
                for token in matched:
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
