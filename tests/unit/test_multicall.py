"""The hand-laid aggregate3 coder against eth_abi, the generic one it stands in for."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from hypothesis import given
from hypothesis import strategies as st

from portfolio.adapters.chains.multicall import (
    AGGREGATE3,
    address_word,
    decode_aggregate3,
    encode_aggregate3,
)

addresses = st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex())
calls = st.lists(st.tuples(addresses, st.binary(max_size=100)), max_size=20)
results = st.lists(st.tuples(st.booleans(), st.binary(max_size=100)), max_size=20)


@given(calls)
def test_calldata_is_what_eth_abi_encodes(pairs: list[tuple[str, bytes]]) -> None:
    ours = encode_aggregate3([(address_word(a), data) for a, data in pairs])
    theirs = AGGREGATE3 + encode(["(address,bool,bytes)[]"], [[(a, True, d) for a, d in pairs]])
    assert ours == theirs


@given(results)
def test_an_answer_decodes_as_eth_abi_encoded_it(answers: list[tuple[bool, bytes]]) -> None:
    assert decode_aggregate3(encode(["(bool,bytes)[]"], [answers])) == answers


@given(st.lists(st.tuples(st.booleans(), st.binary(min_size=1, max_size=64)), min_size=1,
                max_size=8), st.data())  # fmt: skip
def test_a_cut_answer_is_refused_or_read_the_same_never_read_wrong(
    answers: list[tuple[bool, bytes]], data: st.DataObject
) -> None:
    whole = encode(["(bool,bytes)[]"], [answers])
    cut = whole[: data.draw(st.integers(0, len(whole) - 1))]
    try:
        decoded = decode_aggregate3(cut)
    except ValueError:
        return
    assert decoded == answers  # only zero padding was cut


@given(st.binary(max_size=300))
def test_any_bytes_are_an_answer_or_a_value_error(noise: bytes) -> None:
    try:
        decoded = decode_aggregate3(noise)
    except ValueError:
        return
    assert all(isinstance(ok, bool) and isinstance(d, bytes) for ok, d in decoded)


def test_a_huge_count_or_offset_is_refused_at_once() -> None:
    huge = (2**255).to_bytes(32, "big")
    with pytest.raises(ValueError, match="cannot fit"):
        decode_aggregate3((32).to_bytes(32, "big") + huge)
    with pytest.raises(ValueError, match="ends before"):
        decode_aggregate3(huge + bytes(32))


def test_an_address_is_twenty_bytes() -> None:
    with pytest.raises(ValueError, match="20-byte"):
        address_word("0x1234")
