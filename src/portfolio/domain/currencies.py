"""The currencies values are shown in. USD is what prices are in; a value in another currency is
its USD value times that currency's rate (units of it per USD) at the same moment, rounded to
its minor units. A value whose rate is not known is not shown (null, with the reason): never
converted at a guess."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Context, Decimal, localcontext

from portfolio.domain.errors import ValidationError
from portfolio.domain.prices import USD_ROUNDING, VALUE_CONTEXT

# Each currency with its minor units: the places a value in it is rounded to (BTC and ETH are
# units: satoshis and wei).
PLACES = {
    "USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "CHF": 2, "CAD": 2, "AUD": 2, "BTC": 8, "ETH": 18,
}  # fmt: skip
USD = "USD"
# Rounding to a unit needs every digit of the result: a spam token's value (up to 10**107 USD)
# in wei has 126, past the value context's 120.
ROUNDING_CONTEXT = Context(prec=400)
QUANTA = {code: Decimal(1).scaleb(-places) for code, places in PLACES.items()}  # minor units


class UnknownCurrencyError(ValidationError):
    field = "currency"

    def __init__(self, code: str) -> None:
        super().__init__(f"Unknown currency {code[:16]!r}; known: {', '.join(PLACES)}.")


def currency_of(code: str) -> str:
    """The currency's code, upper-cased; an unknown one raises UnknownCurrencyError."""
    upper = code.strip().upper()
    if upper not in PLACES:
        raise UnknownCurrencyError(code)
    return upper


def rounded(value: Decimal, currency: str) -> Decimal:
    """A value rounded to the currency's minor units (half to even, as USD is)."""
    return value.quantize(QUANTA[currency], rounding=USD_ROUNDING, context=ROUNDING_CONTEXT)


def shown(value: Decimal) -> str:
    """Positional, every place kept ("0.00", never "0E-2")."""
    return format(value, "f")


@dataclass(frozen=True, slots=True)
class Rate:
    """Units of ``currency`` for one USD, as seen at ``as_of`` from ``source``."""

    currency: str
    per_usd: Decimal
    as_of: datetime | None
    source: str


@dataclass(frozen=True, slots=True)
class Conversion:
    """USD values into ``currency`` at ``rate``; ``rate`` None: none known (``reason``)."""

    currency: str
    rate: Rate | None
    reason: str | None = None

    @classmethod
    def usd(cls) -> Conversion:
        return cls(USD, Rate(USD, Decimal(1), None, "identity"))

    @classmethod
    def missing(cls, currency: str, reason: str) -> Conversion:
        return cls(currency, None, reason)

    def value(self, usd: Decimal | None) -> str | None:
        """The exact USD value in the currency, rounded to its minor units; None without a
        value or a rate."""
        return converted(usd, None if self.rate is None else self.rate.per_usd, self.currency)


def converted(usd: Decimal | None, rate: Decimal | None, currency: str) -> str | None:
    """``Conversion.value`` at a rate of a moment (a history point's, say)."""
    if usd is None or rate is None:
        return None
    with localcontext(VALUE_CONTEXT):
        return shown(rounded(usd * rate, currency))
