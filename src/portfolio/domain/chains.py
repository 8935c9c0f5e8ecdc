"""Chains, by name. Which chains exist is configuration, not code: Solana, and every EVM chain
the settings give RPC URLs (Ethereum, the presets, any chain of a chains file). A name is
lowercase letters, digits and dashes; ``solana`` is the one chain that is not an EVM chain."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

CHAIN_NAME = r"^[a-z][a-z0-9-]{0,31}$"
_CHAIN_NAME = re.compile(CHAIN_NAME)
SOLANA_NAME = "solana"


class Chain(str):
    """A chain's name. A ``str``, so it is stored, compared, logged and serialized as one."""

    __slots__ = ()
    ETHEREUM: ClassVar[Chain]
    SOLANA: ClassVar[Chain]

    def __new__(cls, name: str) -> Chain:
        if not _CHAIN_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a chain name (lowercase letters, digits, dashes)")
        return super().__new__(cls, name)

    @property
    def value(self) -> str:
        return str.__str__(self)

    @property
    def is_evm(self) -> bool:
        return self != SOLANA_NAME

    def __repr__(self) -> str:
        return f"Chain({self.value!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls,
            core_schema.str_schema(pattern=CHAIN_NAME),
            serialization=core_schema.to_string_ser_schema(),
        )


Chain.ETHEREUM = Chain("ethereum")
Chain.SOLANA = Chain(SOLANA_NAME)


@dataclass(frozen=True, slots=True)
class NativeCoin:
    symbol: str
    name: str
    decimals: int


@dataclass(frozen=True, slots=True)
class PriceNames:
    """How the price sources name a chain and its native coin (None: they do not know it)."""

    native_id: str | None  # CoinGecko's coin id ("ethereum"), DefiLlama's "coingecko:<id>"
    defillama_chain: str | None  # DefiLlama's chain slug ("base")
    coingecko_platform: str | None  # CoinGecko's asset platform id ("arbitrum-one")


SOLANA_NATIVE = NativeCoin("SOL", "Solana", 9)
ETHER = NativeCoin("ETH", "Ether", 18)
KNOWN_NATIVE = {Chain.ETHEREUM: ETHER, Chain.SOLANA: SOLANA_NATIVE}
SOLANA_PRICES = PriceNames("solana", "solana", "solana")
ETHEREUM_PRICES = PriceNames("ethereum", "ethereum", "ethereum")
# Ethereum and Solana: what a price source knows unless told of more chains.
DEFAULT_PRICE_NAMES = {Chain.ETHEREUM: ETHEREUM_PRICES, Chain.SOLANA: SOLANA_PRICES}
