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
from portfolio.domain.text import outside_text
from portfolio.domain.tokens import Token

# The lists shipped in portfolio.data, by chain name: built by `make token-lists` from
# token-list packages (see scripts/token_lists.py and data/NOTICE-token-lists.md).
SHIPPED = {
    name: f"{name}-tokens.json"
    for name in ("ethereum", "base", "arbitrum", "optimism", "polygon", "bsc", "solana")
}
SHIPPED_WORD = "shipped"  # in a list of sources: the chain's shipped list


class TokenListError(ValueError):
    """A token list that cannot be read or is not in the token-list format."""


TokenList = dict[int, list[Token]]  # chainId -> its tokens


async def load_token_list(
    chain: Chain,
    sources: str | None,
    *,
    http_timeout: float = 10.0,
    unread: list[str] | None = None,
) -> TokenList:
    """The tokens of ``sources``, by chainId: comma-separated paths, http(s) URLs and the word
    ``shipped`` (the chain's shipped list; none for a chain without one), merged in order (an
    address listed twice within one chainId keeps its first entry). None: the shipped list.

    TokenListError when one cannot be read or is not a token list; with ``unread``, a URL that
    fails so is left out and added to it instead (a list server that is away, or answers an
    error page, is not a mistake in the settings as a wrong path is)."""
    merged: dict[int, dict[str, Token]] = {}
    for source in list_sources(sources):
        if source == SHIPPED_WORD and chain not in SHIPPED:
            continue
        try:
            document = await _read(chain, None if source == SHIPPED_WORD else source, http_timeout)
            parsed = parse_token_list(chain, document)
        except TokenListError:
            if unread is None or not _is_url(source):
                raise
            unread.append(source)
            continue
        for chain_id, tokens in parsed.items():
            known = merged.setdefault(chain_id, {})
            for token in tokens:
                known.setdefault(token.key, token)
    return {chain_id: list(tokens.values()) for chain_id, tokens in merged.items()}


def list_sources(sources: str | None) -> list[str]:
    """The sources of a token-list setting, in order (unset: the shipped list)."""
    return [s.strip() for s in (sources or SHIPPED_WORD).split(",") if s.strip()]


def list_urls(sources: str | None) -> list[str]:
    """The http(s) URLs among them: a list's URL may carry a key, scrubbed from the logs."""
    return [s for s in list_sources(sources) if _is_url(s)]


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def parse_token_list(chain: Chain, document: Any) -> TokenList:
    if not isinstance(document, dict) or not isinstance(document.get("tokens"), list):
        raise TokenListError("A token list is a JSON object with a 'tokens' array.")
    by_chain: dict[int, dict[str, Token]] = {}
    for entry in document["tokens"]:
        chain_id, token = _token(chain, entry)
        by_chain.setdefault(chain_id, {}).setdefault(token.key, token)
    return {chain_id: list(tokens.values()) for chain_id, tokens in by_chain.items()}


def every_token(tokens: TokenList) -> list[Token]:
    return [token for chain_tokens in tokens.values() for token in chain_tokens]


def _token(chain: Chain, entry: Any) -> tuple[int, Token]:
    try:
        chain_id = int(entry["chainId"])
        decimals = int(entry["decimals"])
        address = normalize_address(chain, str(entry["address"]))
    except (KeyError, TypeError, ValueError, InvalidAddressError) as exc:
        raise TokenListError(f"Bad token list entry {entry!r}: {exc}") from exc
    if not 0 <= decimals <= 255:
        raise TokenListError(f"Bad decimals in token list entry {entry!r}")
    symbol, name = outside_text(entry.get("symbol")), outside_text(entry.get("name"))
    return chain_id, Token(chain, address, symbol, name, decimals, True)


async def _read(chain: Chain, source: str | None, http_timeout: float) -> Any:
    try:
        if source is not None and _is_url(source):
            async with httpx.AsyncClient(timeout=http_timeout) as client:
                response = await client.get(source)
                response.raise_for_status()
                text = response.text
        else:
            text = await asyncio.to_thread(_read_file, chain, source)
        return json.loads(text)
    except (OSError, httpx.HTTPError, json.JSONDecodeError) as exc:
        where = SHIPPED_WORD if source is None else repr(source)
        raise TokenListError(f"Cannot read the {chain} token list {where}: {exc}") from exc


def _read_file(chain: Chain, source: str | None) -> str:
    if source is None:
        return resources.files("portfolio.data").joinpath(SHIPPED[chain]).read_text("utf-8")
    return Path(source).read_text("utf-8")
