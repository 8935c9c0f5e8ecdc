"""The performance document and its CSV rows.

Money is shown rounded half-to-even to the currency's minor units, and the figures are rounded
so that they add up as shown: the change is the end value less the start value, the flow effect
the inflow less the outflow, and the market effect the change less the flow effect (so it may
differ from the exact market effect by a cent or two). Returns are fractions (0.05 is 5 %) to
ten places; ``change_pct`` is a percentage to four."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any, TypeVar, cast
from uuid import UUID

from pydantic import BaseModel, Field

from portfolio.api.csvout import Cell, text_cell
from portfolio.domain.chains import Chain
from portfolio.domain.currencies import ROUNDING_CONTEXT, USD, rounded, shown
from portfolio.domain.history import Interval
from portfolio.domain.performance import Figures, Performance, Recorded, Tracked
from portfolio.domain.prices import USD_ROUNDING, VALUE_CONTEXT

RETURN_PLACES = Decimal("1E-10")
PERCENT_PLACES = Decimal("1E-4")
Money = str
K = TypeVar("K", bound=Hashable)
F = TypeVar("F", bound=Figures)


def _ratio(value: Decimal, places: Decimal = RETURN_PLACES) -> str:
    # (ROUNDING_CONTEXT: a return of 10**140 keeps its ten places)
    return shown(value.quantize(places, rounding=USD_ROUNDING, context=ROUNDING_CONTEXT))


class FiguresOut(BaseModel):
    start_value: Money = Field(examples=["1000.00"], description="At `start`.")
    end_value: Money = Field(examples=["1100.00"], description="At `end`.")
    change: Money = Field(examples=["100.00"], description="end_value - start_value.")
    change_pct: str | None = Field(
        examples=["10.0000"], description="change / start_value in percent; null from 0."
    )
    market_effect: Money = Field(
        examples=["60.00"], description="What price moves did to what was held: change less flows."
    )
    flow_effect: Money = Field(examples=["40.00"], description="inflow - outflow.")
    inflow: Money = Field(examples=["40.00"], description="Amounts that came in, at their price.")
    outflow: Money = Field(examples=["0.00"], description="Amounts that went out, at their price.")
    time_weighted_return: str = Field(
        examples=["0.0583"], description="The return with flows neutralised, as a fraction."
    )
    max_drawdown: str = Field(
        examples=["-0.1"], description="The deepest fall of that return from a peak (0 or less)."
    )
    peak_at: datetime | None = Field(default=None, description="The peak before the deepest fall.")
    trough_at: datetime | None = Field(default=None, description="The bottom of that fall.")

    @staticmethod
    def figures(outcome: Figures, boundaries: Sequence[datetime], currency: str) -> dict[str, Any]:
        start, end = rounded(outcome.start_value, currency), rounded(outcome.end_value, currency)
        inflow, outflow = rounded(outcome.inflow, currency), rounded(outcome.outflow, currency)
        with localcontext(ROUNDING_CONTEXT):  # exact, whatever the digits
            change, flow = end - start, inflow - outflow
            market = change - flow
            pct = _ratio(change * 100 / start, PERCENT_PLACES) if start else None
        return {
            "start_value": shown(start), "end_value": shown(end),
            "change": shown(change), "change_pct": pct,
            "market_effect": shown(market), "flow_effect": shown(flow),
            "inflow": shown(inflow), "outflow": shown(outflow),
            "time_weighted_return": _ratio(outcome.time_weighted_return),
            "max_drawdown": _ratio(outcome.max_drawdown),
            "peak_at": None if outcome.peak is None else boundaries[outcome.peak],
            "trough_at": None if outcome.trough is None else boundaries[outcome.trough],
        }  # fmt: skip


class ChainPerformanceOut(FiguresOut):
    chain: Chain


class TokenPerformanceOut(FiguresOut):
    chain: Chain
    token_address: str | None = Field(description="The contract or mint; null for the native coin.")
    symbol: str | None


class WalletPerformanceOut(FiguresOut):
    wallet_id: UUID
    chain: Chain
    address: str
    label: str | None


class UnpricedOut(BaseModel):
    chain: Chain
    token_address: str | None
    symbol: str | None


class PerformancePointOut(BaseModel):
    timestamp: datetime = Field(description="The bucket's start; the figures stand at its end.")
    value: Money
    net_flow: Money = Field(description="What came in less what went out in the bucket.")
    cumulative_return: str = Field(description="The time-weighted return from start to here.")


class PerformanceOut(FiguresOut):
    """How the portfolio did from ``start`` to ``end``, and why: price moves (market effect)
    or money moved in and out (flows); the same figures by chain, token and wallet, each list
    sorted by market effect, largest first."""

    currency: str = "USD"
    interval: Interval
    start: datetime = Field(
        description="Where the figures start: the asked start aligned to the interval, or the "
        "first record when the window starts before it."
    )
    end: datetime = Field(description="The asked end, rounded up to the interval.")
    by_chain: list[ChainPerformanceOut]
    by_token: list[TokenPerformanceOut]
    by_wallet: list[WalletPerformanceOut]
    unpriced: list[UnpricedOut] = Field(description="Held in the window, never priced in it.")
    series: list[PerformancePointOut] | None = Field(
        default=None, description="One point a bucket (with `series=true`)."
    )

    @classmethod
    def of(
        cls, interval: Interval, recorded: Recorded | Tracked, result: Performance, *, series: bool,
        currency: str = USD,
    ) -> PerformanceOut:  # fmt: skip
        at = result.boundaries

        def figures(outcome: Figures) -> dict[str, Any]:
            return FiguresOut.figures(outcome, at, currency)

        # The groups' documents are built as their fields are to be (model_construct: no
        # check of what was just computed, which for a hundred wallets costs a millisecond).
        tokens = [
            TokenPerformanceOut.model_construct(chain=chain, token_address=_address(key),
                                symbol=recorded.symbols.get((chain, key)), **figures(o))
            for (chain, key), o in _by_market(result.by_token)
        ]  # fmt: skip
        wallets = []
        for wallet, outcome in _by_market(result.by_wallet):
            seen = recorded.wallets[wallet]
            wallets.append(
                WalletPerformanceOut.model_construct(wallet_id=cast(UUID, wallet), chain=seen.chain,
                                     address=seen.address, label=seen.label, **figures(outcome))
            )  # fmt: skip
        return cls(
            currency=currency,
            interval=interval,
            start=result.start,
            end=result.end,
            by_chain=[
                ChainPerformanceOut.model_construct(chain=c, **figures(o))
                for c, o in _by_market(result.by_chain)
            ],
            by_token=tokens,
            by_wallet=wallets,
            unpriced=[
                UnpricedOut(
                    chain=chain,
                    token_address=_address(key),
                    symbol=recorded.symbols.get((chain, key)),
                )
                for chain, key in result.unpriced
            ],
            series=_series(result, currency) if series else None,
            **figures(result.total),
        )


def result_interval(recorded: Recorded | Tracked) -> Interval:
    """The interval a window was computed at."""
    return Interval(next(i for i in Interval if i.step == recorded.window.step))


def _address(key: str) -> str | None:
    return None if key == "native" else key


def _by_market(groups: dict[K, F]) -> list[tuple[K, F]]:
    """Largest market effect first; ties in the groups' order."""
    return sorted(groups.items(), key=lambda item: -item[1].market_effect)


def _series(result: Performance, currency: str) -> list[PerformancePointOut]:
    total = result.total
    points = []
    with localcontext(VALUE_CONTEXT):
        for k in range(1, len(total.values)):
            flow = total.inflows.get(k, Decimal(0)) - total.outflows.get(k, Decimal(0))
            points.append(
                PerformancePointOut.model_construct(  # (every field as it is to be: no check)
                    timestamp=result.boundaries[k - 1],
                    value=shown(rounded(total.values[k], currency)),
                    net_flow=shown(rounded(flow, currency)),
                    cumulative_return=_ratio(total.returns[k]),
                )
            )
    return points


FIGURES = [
    "start_value", "end_value", "change", "change_pct", "market_effect", "flow_effect",
    "inflow", "outflow", "time_weighted_return", "max_drawdown", "peak_at", "trough_at",
]  # fmt: skip
PERFORMANCE_COLUMNS = ["scope", "chain", "token_address", "symbol", "wallet_id", "address",
                       "label", "currency", *FIGURES]  # fmt: skip
SERIES_COLUMNS = ["timestamp", "value", "net_flow", "cumulative_return"]


def performance_rows(document: PerformanceOut) -> list[list[Cell]]:
    """One row for the portfolio, then one a chain, a token and a wallet."""
    unit = document.currency
    rows = [_row("portfolio", [None] * 6, unit, document)]
    rows += [_row("chain", [c.chain.value, None, None, None, None, None], unit, c)
             for c in document.by_chain]  # fmt: skip
    rows += [
        _row("token", [t.chain.value, t.token_address, text_cell(t.symbol), None, None, None],
             unit, t)
        for t in document.by_token
    ]  # fmt: skip
    rows += [
        _row("wallet", [w.chain.value, None, None, str(w.wallet_id), w.address,
                        text_cell(w.label)], unit, w)
        for w in document.by_wallet
    ]  # fmt: skip
    return rows


def _row(scope: str, names: list[Cell], currency: str, figures: FiguresOut) -> list[Cell]:
    shown = figures.model_dump(mode="json", include=set(FIGURES))
    return [scope, *names, currency, *(shown[name] for name in FIGURES)]


def series_rows(document: PerformanceOut) -> list[list[Cell]]:
    points = (point.model_dump(mode="json") for point in document.series or [])
    return [[point[name] for name in SERIES_COLUMNS] for point in points]
