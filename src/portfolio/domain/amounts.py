"""Exact token amounts: an integer of base units plus the token's decimals.

Converting to a decimal uses an explicit 80-digit context: the default 28 digits would silently
round a uint256 (78 digits).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal, Inexact, localcontext

from portfolio.domain.errors import InvalidAmountError

UINT256_MAX = 2**256 - 1
MAX_DECIMALS = 255
EXACT = Context(prec=80, traps=[Inexact])
# Wide enough for the difference of any two amounts (78 digits at scales up to 255 apart).
CHANGE = Context(prec=2 * 78 + MAX_DECIMALS + 2, traps=[Inexact])


@dataclass(frozen=True, slots=True)
class Amount:
    raw: int
    decimals: int

    def __post_init__(self) -> None:
        if not 0 <= self.raw <= UINT256_MAX:
            raise InvalidAmountError("A raw balance is an integer between 0 and 2**256 - 1.")
        if not 0 <= self.decimals <= MAX_DECIMALS:
            raise InvalidAmountError("Token decimals are between 0 and 255.")

    @classmethod
    def from_decimal(cls, value: Decimal, decimals: int) -> Amount:
        """The amount of exactly ``value`` tokens; refuses a value finer than one base unit."""
        if not value.is_finite():
            raise InvalidAmountError("An amount is a finite number.")
        with localcontext(EXACT):
            try:
                scaled = value.scaleb(decimals)
                raw = scaled.to_integral_exact()
            except Inexact as exc:
                raise InvalidAmountError(
                    f"{value} is finer than one base unit of a {decimals}-decimal token."
                ) from exc
        return cls(int(raw), decimals)

    @property
    def value(self) -> Decimal:
        """``raw / 10**decimals`` exactly."""
        with localcontext(EXACT):
            return Decimal(self.raw).scaleb(-self.decimals)

    def __str__(self) -> str:
        return format_decimal(self.value)

    def __bool__(self) -> bool:
        return self.raw != 0


def amount_change(new: Amount, old: Amount | None) -> Decimal:
    """``new`` minus ``old`` (None: nothing held) in tokens, exactly."""
    with localcontext(CHANGE):
        return new.value - (Decimal(0) if old is None else old.value)


def format_decimal(value: Decimal) -> str:
    """Plain positional notation without trailing zeros: ``1.5``, ``1000``, ``0.000001``."""
    if value == 0:
        return "0"
    with localcontext(EXACT):
        return format(value.normalize(), "f")
