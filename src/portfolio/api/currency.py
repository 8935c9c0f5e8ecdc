"""``?currency=``: which currency a document's values are in, and their conversion."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import Query

from portfolio.api.services import Services
from portfolio.domain.currencies import PLACES, USD, Conversion, currency_of
from portfolio.domain.history import Window

CURRENCY_HELP = (
    f"The currency of the `*value` fields: {', '.join(PLACES)} (BTC and ETH as units). "
    "Default: the service's (PORTFOLIO_DEFAULT_CURRENCY, USD unless set). `*_usd` fields stay "
    "in USD."
)
# The codes in the schema's enum (any case is taken: an enum cannot say so).
CurrencyQuery = Annotated[
    str | None,
    Query(max_length=16, description=CURRENCY_HELP, json_schema_extra={"enum": list(PLACES)}),
]
NO_RATES = "No currency rates are available to this service."


def currency_asked(services: Services, asked: str | None) -> str:
    """The currency asked (422 for an unknown one), else the service's default."""
    if asked is None:
        return services.rates.default if services.rates is not None else USD
    return currency_of(asked)


def _without_rates(currency: str) -> Conversion:
    return Conversion.usd() if currency == USD else Conversion.missing(currency, NO_RATES)


async def conversion_now(services: Services, currency: str) -> Conversion:
    """The currency's current rate."""
    if services.rates is None:
        return _without_rates(currency)
    return await services.rates.conversion(currency)


async def conversion_at(services: Services, currency: str, moment: datetime) -> Conversion:
    """The currency's rate as recorded at or before ``moment``."""
    if services.rates is None:
        return _without_rates(currency)
    return await services.rates.at(currency, moment)


async def rates_over(services: Services, currency: str, window: Window) -> list[Decimal | None]:
    """The currency's rate at each boundary of the window."""
    if services.rates is None:
        return [Decimal(1) if currency == USD else None] * (window.count + 1)
    return await services.rates.series(currency, window)
