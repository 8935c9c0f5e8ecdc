"""The chains this service reads."""

from __future__ import annotations

from enum import StrEnum


class Chain(StrEnum):
    ETHEREUM = "ethereum"
    SOLANA = "solana"

    @property
    def native_symbol(self) -> str:
        return _NATIVE[self][0]

    @property
    def native_decimals(self) -> int:
        return _NATIVE[self][1]


_NATIVE: dict[Chain, tuple[str, int]] = {
    Chain.ETHEREUM: ("ETH", 18),
    Chain.SOLANA: ("SOL", 9),
}
