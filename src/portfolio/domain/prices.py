"""USD prices and values. Prices are looked up by (chain, address), never by symbol."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from portfolio.domain.amounts import Amount
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import NATIVE_KEY, Token

CENT = Decimal("0.01")
# The one rounding rule: USD values are computed exactly and rounded half-to-even to the cent
# only where they are shown; totals are sums of exact values, rounded once.
USD_ROUNDING = ROUND_HALF_EVEN
SHARE_PLACES = Decimal("0.000001")
# A uint256 amount (78 digits) times a price of up to 40 significant digits stays exact.
VALUE_CONTEXT = Context(prec=120)


@dataclass(frozen=True, slots=True)
class Price:
    usd: Decimal
    change_24h: Decimal | None  # a fraction: -0.0123 is 1.23 % down over 24 hours
    as_of: datetime
    source: str
    stale: bool = False


def price_key(token: Token) -> str:
    return contract_price_key(token.chain, token.address or NATIVE_KEY)


def contract_price_key(chain: Chain, address: str) -> str:
    """The price key of the token at ``address`` on ``chain``."""
    return f"{chain.value}:{address}"


def value_of(raw: int, decimals: int, price: Price | None) -> Decimal | None:
    """The USD value of ``raw`` base units of a token of ``decimals`` at ``price``: exact for
    any uint256 amount and any price of up to 40 digits; None without a price. Every USD value
    the service shows or stores is computed here."""
    if price is None:
        return None
    with localcontext(VALUE_CONTEXT):
        return Amount(raw, decimals).value * price.usd


def round_usd(value: Decimal) -> Decimal:
    """To the cent, in the value context: the default 28 digits refuse (InvalidOperation) a
    value of 10**26 USD or more, which a spam token's amount times a price can reach."""
    with localcontext(VALUE_CONTEXT):
        return value.quantize(CENT, rounding=USD_ROUNDING)


def share(part: Decimal, total: Decimal) -> Decimal:
    """``part / total`` to six places (0 when the total is 0)."""
    if not total:
        return Decimal(0)
    with localcontext(VALUE_CONTEXT):
        return (part / total).quantize(SHARE_PLACES, rounding=USD_ROUNDING)


STORED_PLACES = Decimal("1E-18")
STORED_LIMIT = Decimal(10) ** 30  # NUMERIC(48, 18) holds 30 integer digits


def stored_usd(value: Decimal | None) -> Decimal | None:
    """A price or value as stored: 18 decimal places; beyond 10**30 USD (spam arithmetic)
    it is not stored at all."""
    if value is None or abs(value) >= STORED_LIMIT:
        return None
    with localcontext(VALUE_CONTEXT):
        return value.quantize(STORED_PLACES, rounding=USD_ROUNDING)


def valued(
    balance_raw: int, decimals: int, price: Price | None
) -> tuple[Decimal | None, Decimal | None]:
    """(stored price, stored value) of a balance."""
    if price is None:
        return None, None
    return stored_usd(price.usd), stored_usd(value_of(balance_raw, decimals, price))
