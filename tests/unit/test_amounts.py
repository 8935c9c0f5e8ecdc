from __future__ import annotations

from decimal import Decimal, getcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portfolio.domain.amounts import MAX_DECIMALS, UINT256_MAX, Amount, format_decimal
from portfolio.domain.errors import InvalidAmountError

raws = st.integers(min_value=0, max_value=UINT256_MAX)
decimals = st.integers(min_value=0, max_value=MAX_DECIMALS)


@given(raws, decimals)
def test_value_scaled_back_is_the_raw_amount(raw: int, places: int) -> None:
    value = Amount(raw, places).value
    assert Amount.from_decimal(value, places).raw == raw


@given(raws, decimals)
def test_the_display_string_parses_back_to_the_same_amount(raw: int, places: int) -> None:
    text = str(Amount(raw, places))
    assert "E" not in text
    assert Amount.from_decimal(Decimal(text), places) == Amount(raw, places)


def test_uint256_max_keeps_every_digit() -> None:
    amount = Amount(UINT256_MAX, 18)
    digits = str(UINT256_MAX)
    assert str(amount) == f"{digits[:-18]}.{digits[-18:]}"
    # The default 28-digit context would have rounded it: that is why the context is explicit.
    assert getcontext().prec == 28
    assert Decimal(UINT256_MAX).scaleb(-18) != amount.value


@pytest.mark.parametrize(
    ("raw", "places", "text"),
    [
        (0, 18, "0"),
        (1, 18, "0.000000000000000001"),
        (1_500_000, 6, "1.5"),
        (10**30, 24, "1000000"),
        (123, 0, "123"),
        (10**30 + 1, 6, "1000000000000000000000000.000001"),
    ],
)
def test_display_strings(raw: int, places: int, text: str) -> None:
    assert str(Amount(raw, places)) == text


def test_an_amount_finer_than_one_base_unit_is_refused() -> None:
    with pytest.raises(InvalidAmountError, match="finer than one base unit"):
        Amount.from_decimal(Decimal("0.0000001"), 6)


@pytest.mark.parametrize(
    ("raw", "places"), [(-1, 0), (UINT256_MAX + 1, 0), (1, -1), (1, MAX_DECIMALS + 1)]
)
def test_out_of_range_amounts_are_refused(raw: int, places: int) -> None:
    with pytest.raises(InvalidAmountError):
        Amount(raw, places)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-1")])
def test_non_finite_or_negative_values_are_refused(value: Decimal) -> None:
    with pytest.raises(InvalidAmountError):
        Amount.from_decimal(value, 6)


def test_format_decimal_has_no_exponent_and_no_trailing_zeros() -> None:
    assert format_decimal(Decimal("1E+3")) == "1000"
    assert format_decimal(Decimal("1.2300")) == "1.23"
    assert format_decimal(Decimal("0E-18")) == "0"
