"""``portfolio performance``: how the portfolio did over a window, and why, as the API's
``GET /portfolio/performance`` answers it (``--json``, ``--csv``) or as tables."""

from __future__ import annotations

import csv
import sys
from decimal import Decimal
from typing import Annotated
from uuid import UUID

import typer

from portfolio.api.currency import currency_asked, rates_over
from portfolio.api.performance import (
    PERFORMANCE_COLUMNS,
    FiguresOut,
    PerformanceOut,
    performance_rows,
    result_interval,
)
from portfolio.api.services import Services
from portfolio.domain.chains import Chain
from portfolio.domain.currencies import UnknownCurrencyError, currency_of
from portfolio.domain.history import Interval, Window
from portfolio.domain.wallet import DEFAULT_TENANT
from portfolio.main.cli_holdings import (
    JsonOption,
    TenantOption,
    _moment,
    _print_json,
    _run,
)
from portfolio.main.console import Column, Grid, show

FIGURE_COLUMNS = [Column("start", True), Column("end", True), Column("change", True),
                  Column("market", True), Column("flows", True), Column("return", True),
                  Column("drawdown", True)]  # fmt: skip


def performance(
    tenant: TenantOption = DEFAULT_TENANT,
    start: Annotated[
        str | None, typer.Option(help="From (RFC 3339); default 30 days before end.")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Up to (RFC 3339); default now.")] = None,
    interval: Annotated[
        Interval | None, typer.Option(help="Bucket size; default by the window's length.")
    ] = None,
    wallet: Annotated[UUID | None, typer.Option(help="One wallet only.")] = None,
    chain: Annotated[str | None, typer.Option(help="One chain's wallets only.")] = None,
    currency: Annotated[
        str | None, typer.Option(help="USD, EUR, GBP, JPY, CHF, CAD, AUD, BTC or ETH.")
    ] = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV, as the API's text/csv.")] = False,
) -> None:
    """How the portfolio did from START to END: the change, what price moves did (market)
    and what came in or went out (flows), the time-weighted return and the deepest drawdown;
    by chain, token and wallet. The rules are in the README."""
    moments = {"start": _moment("start", start), "end": _moment("end", end)}
    try:
        only_chain = None if chain is None else Chain(chain)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--chain") from None

    try:
        code = None if currency is None else currency_of(currency)
    except UnknownCurrencyError as exc:
        raise typer.BadParameter(str(exc), param_hint="--currency") from None

    async def compute(services: Services) -> PerformanceOut:
        chosen = currency_asked(services, code)

        async def rates(window: Window) -> list[Decimal | None]:
            return await rates_over(services, chosen, window)

        recorded, result = await services.history.performance(
            tenant, moments["start"], moments["end"], interval, wallet_id=wallet,
            chain=only_chain, currency=chosen, rates=rates,
        )  # fmt: skip
        return PerformanceOut.of(
            result_interval(recorded), recorded, result, series=False, currency=chosen
        )

    document = _run(compute)
    if as_json:
        _print_json(document.model_dump(mode="json"))
    elif as_csv:
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(PERFORMANCE_COLUMNS)
        out.writerows(performance_rows(document))
    else:
        _show(document)


def _show(doc: PerformanceOut) -> None:
    lines = [
        f"{doc.start:%Y-%m-%d %H:%M} to {doc.end:%Y-%m-%d %H:%M} UTC, by {doc.interval.value}: "
        f"{doc.start_value} -> {doc.end_value} {doc.currency}",
        f"change {doc.change} = market {doc.market_effect} + flows {doc.flow_effect} "
        f"(in {doc.inflow}, out {doc.outflow})",
        f"time-weighted return {_percent(doc.time_weighted_return)}, "
        f"max drawdown {_percent(doc.max_drawdown)}",
    ]
    if doc.unpriced:
        names = ", ".join(u.symbol or u.token_address or "native" for u in doc.unpriced)
        lines.append(f"left out (never priced): {names}")
    grids = [
        Grid("by chain", [Column("chain"), *FIGURE_COLUMNS],
             [[c.chain.value, *_figures(c)] for c in doc.by_chain]),
        Grid("by token", [Column("token"), Column("chain"), *FIGURE_COLUMNS],
             [[t.symbol or t.token_address or "native", t.chain.value, *_figures(t)]
              for t in doc.by_token]),
        Grid("by wallet", [Column("wallet"), Column("chain"), Column("label"), *FIGURE_COLUMNS],
             [[w.address, w.chain.value, w.label, *_figures(w)] for w in doc.by_wallet]),
    ]  # fmt: skip
    show(grids, lines=lines)


def _figures(group: FiguresOut) -> list[str | None]:
    return [group.start_value, group.end_value, group.change, group.market_effect,
            group.flow_effect, _percent(group.time_weighted_return),
            _percent(group.max_drawdown)]  # fmt: skip


def _percent(fraction: str) -> str:
    """A fraction as a percentage to two places (for reading; --json keeps every place)."""
    return f"{Decimal(fraction) * 100:.2f}%"
