"""Address normalization at the edge: EIP-55 for EVM, 32-byte base58 keys for Solana.

A wallet is unique by (chain, normalized address), so every address is normalized here before it
is compared or stored.
"""

from __future__ import annotations

import re

import base58
from eth_utils.address import to_checksum_address

from portfolio.domain.chains import Chain
from portfolio.domain.errors import InvalidAddressError

EVM_HEX = r"0x[0-9a-fA-F]{40}"
BASE58_KEY = r"[1-9A-HJ-NP-Za-km-z]{32,44}"  # the lengths a 32-byte key may take in base58
_EVM_HEX = re.compile(EVM_HEX)
_BASE58 = re.compile(BASE58_KEY)
SOLANA_KEY_BYTES = 32


def normalize_evm_address(raw: str) -> str:
    """Return the EIP-55 checksum form.

    All-lowercase or all-uppercase hex carries no checksum and is accepted; mixed case is a
    checksum and must be the right one.
    """
    if not _EVM_HEX.fullmatch(raw):
        raise InvalidAddressError("An EVM address is 0x followed by 40 hexadecimal digits.")
    digits = raw[2:]
    checksummed = to_checksum_address(raw)
    if digits not in (digits.lower(), digits.upper()) and raw != checksummed:
        raise InvalidAddressError(
            "Mixed-case EVM address with a wrong EIP-55 checksum (mistyped?)."
        )
    return checksummed


def normalize_solana_address(raw: str) -> str:
    """Return the key as given once it is base58 that decodes to exactly 32 bytes."""
    if not _BASE58.fullmatch(raw):
        raise InvalidAddressError("A Solana address is 32 to 44 base58 characters.")
    decoded = base58.b58decode(raw)
    if len(decoded) != SOLANA_KEY_BYTES:
        raise InvalidAddressError(
            f"A Solana address decodes to 32 bytes; this one decodes to {len(decoded)}."
        )
    return raw


def normalize_address(chain: Chain, raw: str) -> str:
    raw = raw.strip()
    if not chain.is_evm:
        return normalize_solana_address(raw)
    return normalize_evm_address(raw)
