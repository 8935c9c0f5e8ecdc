from __future__ import annotations

import base58
import pytest

from portfolio.domain.addresses import normalize_address, normalize_evm_address
from portfolio.domain.chains import Chain
from portfolio.domain.errors import InvalidAddressError

# The test vectors of EIP-55 itself.
EIP55_VECTORS = [
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
]
# The vectors with letters of both cases.
MIXED = EIP55_VECTORS[4:]


@pytest.mark.parametrize("vector", EIP55_VECTORS)
def test_eip55_vectors_are_their_own_checksum_form(vector: str) -> None:
    assert normalize_evm_address(vector) == vector


@pytest.mark.parametrize("checksummed", MIXED)
def test_lowercase_and_uppercase_input_normalize_to_the_checksum(checksummed: str) -> None:
    digits = checksummed[2:]
    assert normalize_evm_address("0x" + digits.lower()) == checksummed
    assert normalize_evm_address("0x" + digits.upper()) == checksummed


@pytest.mark.parametrize("checksummed", MIXED)
def test_mixed_case_with_one_letter_flipped_is_rejected(checksummed: str) -> None:
    index = next(i for i, ch in enumerate(checksummed) if i > 1 and ch.isalpha())
    flipped = checksummed[:index] + checksummed[index].swapcase() + checksummed[index + 1 :]
    with pytest.raises(InvalidAddressError, match="checksum"):
        normalize_evm_address(flipped)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "0x",
        "5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAe",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAedd",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg",
        "0X5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",
    ],
)
def test_malformed_evm_addresses_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidAddressError):
        normalize_address(Chain.ETHEREUM, bad)


def test_surrounding_whitespace_is_ignored() -> None:
    assert normalize_address(Chain.ETHEREUM, f"  {MIXED[0].lower()}\n") == MIXED[0]


@pytest.mark.parametrize(
    "key",
    [
        "11111111111111111111111111111111",  # the system program: 32 zero bytes
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
        "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",
        "So11111111111111111111111111111111111111112",
        "vines1vzrYbzLMRdu58ou5XTby4qAqVRLmqo36NKPTg",
    ],
)
def test_solana_keys_of_32_bytes_are_kept_as_given(key: str) -> None:
    assert normalize_address(Chain.SOLANA, key) == key


@pytest.mark.parametrize("size", [31, 33, 1, 64])
def test_solana_keys_of_other_sizes_are_rejected(size: int) -> None:
    key = base58.b58encode(bytes(range(1, size + 1))).decode()
    with pytest.raises(InvalidAddressError):
        normalize_address(Chain.SOLANA, key)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "0OIl0OIl0OIl0OIl0OIl0OIl0OIl0OIl",  # not in the base58 alphabet
        "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5D!",
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    ],
)
def test_non_base58_solana_keys_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidAddressError):
        normalize_address(Chain.SOLANA, bad)
