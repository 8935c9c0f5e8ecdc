"""Token lists in the Uniswap token-list format: which ERC-20s to read, and mint metadata."""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from portfolio.domain.addresses import normalize_address
from portfolio.domain.chains import Chain
from portfolio.domain.errors import InvalidAddressError
from portfolio.domain.tokens import Token

SHIPPED = {Chain.ETHEREUM: "ethereum-tokens.json", Chain.SOLANA: "solana-tokens.json"}


class TokenListError(ValueError):
    """A token list that cannot be read or is not in the token-list format."""


async def load_token_list(
    chain: Chain, source: str | None, *, chain_id: int | None = None, http_timeout: float = 10.0
) -> list[Token]:
    """The tokens of ``source`` (a path or an http(s) URL; the shipped list when None) for
    ``chain`` and, when given, its ``chainId``. Duplicates keep their first entry."""
    return parse_token_list(chain, await _read(chain, source, http_timeout), chain_id=chain_id)


def parse_token_list(chain: Chain, document: Any, *, chain_id: int | None = None) -> list[Token]:
    if not isinstance(document, dict) or not isinstance(document.get("tokens"), list):
        raise TokenListError("A token list is a JSON object with a 'tokens' array.")
    tokens: dict[str, Token] = {}
    for entry in document["tokens"]:
        token = _token(chain, entry, chain_id)
        if token is not None and token.key not in tokens:
            tokens[token.key] = token
    return list(tokens.values())


def _token(chain: Chain, entry: Any, chain_id: int | None) -> Token | None:
    try:
        if chain_id is not None and int(entry["chainId"]) != chain_id:
            return None
        decimals = int(entry["decimals"])
        address = normalize_address(chain, str(entry["address"]))
    except (KeyError, TypeError, ValueError, InvalidAddressError) as exc:
        raise TokenListError(f"Bad token list entry {entry!r}: {exc}") from exc
    if not 0 <= decimals <= 255:
        raise TokenListError(f"Bad decimals in token list entry {entry!r}")
    return Token(chain, address, entry.get("symbol"), entry.get("name"), decimals, True)


async def _read(chain: Chain, source: str | None, http_timeout: float) -> Any:
    try:
        if source is not None and source.startswith(("http://", "https://")):
            async with httpx.AsyncClient(timeout=http_timeout) as client:
                response = await client.get(source)
                response.raise_for_status()
                text = response.text
        else:
            text = await asyncio.to_thread(_read_file, chain, source)
        return json.loads(text)
    except (OSError, httpx.HTTPError, json.JSONDecodeError) as exc:
        raise TokenListError(f"Cannot read the {chain} token list {source!r}: {exc}") from exc


def _read_file(chain: Chain, source: str | None) -> str:
    if source is None:
        return resources.files("portfolio.data").joinpath(SHIPPED[chain]).read_text("utf-8")
    return Path(source).read_text("utf-8")
