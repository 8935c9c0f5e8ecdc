"""The command line's holdings commands: wallets, the portfolio, and a CSV export. They run the
service's own use cases on the same settings (so the same validation, chain reads, storage and
cache invalidation as the API), for one tenant (``--tenant``, the default tenant unless given).

Output: tables (rich on a terminal, plain when piped) or ``--json`` in the API's own shapes.
Exit codes: 1 not found or already tracked, 2 bad input, 3 a dependency unavailable."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

import typer

from portfolio.api.csvout import (
    AT_COLUMNS,
    HOLDING_COLUMNS,
    Cell,
    at_rows,
    each,
    history_header,
    history_rows,
    holding_rows,
)
from portfolio.api.schemas import BalancesOut, SummaryOut, WalletOut
from portfolio.api.services import Services
from portfolio.api.times import parse_rfc3339
from portfolio.config import load_settings
from portfolio.domain.chains import Chain
from portfolio.domain.errors import (
    DomainError,
    DuplicateWalletError,
    ServiceUnavailableError,
    ValidationError,
    WalletNotFoundError,
    WebhookNotFoundError,
)
from portfolio.domain.history import Interval
from portfolio.domain.wallet import DEFAULT_TENANT
from portfolio.main.console import Column, Grid, show

T = TypeVar("T")

wallets_app = typer.Typer(help="Wallets: one address on one chain each.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (the API's shapes).")]
TenantOption = Annotated[str, typer.Option(help="The tenant whose wallets these are.")]
EXIT_CODES: list[tuple[type[DomainError], int]] = [
    (WalletNotFoundError, 1),
    (WebhookNotFoundError, 1),
    (DuplicateWalletError, 1),
    (ValidationError, 2),
    (ServiceUnavailableError, 3),
]


@asynccontextmanager
async def _services() -> AsyncIterator[Services]:
    settings = load_settings()
    # The service's imports only when a command needs them.
    from portfolio.main.app import settings_redactor
    from portfolio.main.container import build_services
    from portfolio.main.logs import configure_logging

    # Warnings and errors to stderr, scrubbed; stdout is the command's answer alone.
    configure_logging(json=False, level="WARNING", redactor=settings_redactor(settings))
    async with build_services(settings) as services:
        yield services


def _run(work: Callable[[Services], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _services() as services:
            return await work(services)

    try:
        return asyncio.run(main())
    except DomainError as exc:
        code = next((c for cls, c in EXIT_CODES if isinstance(exc, cls)), 1)
        typer.echo(f"portfolio: {exc}", err=True)
        raise typer.Exit(code) from None


def _print_json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2))


def _wallet_grid(title: str, wallets: list[WalletOut]) -> Grid:
    columns = [Column("id"), Column("chain"), Column("address"), Column("label")]
    rows: list[list[str | None]] = [[str(w.id), w.chain.value, w.address, w.label] for w in wallets]
    return Grid(title, columns, rows)


def _chain(name: str) -> Chain:
    try:
        return Chain(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@wallets_app.command("add")
def add(
    chains: Annotated[
        str, typer.Argument(help="The wallet's chain, or several: ethereum,base,arbitrum.")
    ],
    address: Annotated[str, typer.Argument(help="The address (EVM 0x..., Solana base58).")],
    label: Annotated[str | None, typer.Option(help="A name for it.")] = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Track a wallet (the address is normalized; one already tracked is an error). Several
    chains, comma-separated: one wallet per chain, all added or none."""
    names = [_chain(name.strip()) for name in chains.split(",") if name.strip()]
    added = _run(lambda s: s.wallets.add_on_chains(tenant, names, address, label))
    wallets = [WalletOut.of(wallet) for wallet in added]
    if as_json:
        documents = [wallet.model_dump(mode="json") for wallet in wallets]
        _print_json(documents[0] if len(documents) == 1 else documents)
        return
    show([_wallet_grid("added", wallets)])


@wallets_app.command("list")
def list_wallets(
    chain: Annotated[
        Chain | None, typer.Option(help="Only wallets on this chain.", parser=_chain)
    ] = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Every wallet, oldest first."""

    wallets = [WalletOut.of(w) for w in _run(lambda s: s.wallets.every(tenant, chain=chain))]
    if as_json:
        _print_json([w.model_dump(mode="json") for w in wallets])
        return
    show([_wallet_grid(f"{len(wallets)} wallet(s)", wallets)])


@wallets_app.command("remove")
def remove(
    wallet_id: Annotated[UUID, typer.Argument(help="The wallet's id.")],
    tenant: TenantOption = DEFAULT_TENANT,
) -> None:
    """Stop tracking a wallet; its stored balances and history go with it."""
    _run(lambda s: s.wallets.remove(tenant, wallet_id))
    typer.echo(f"removed {wallet_id}")


@wallets_app.command("fetch")
def fetch(
    wallet_id: Annotated[UUID, typer.Argument(help="The wallet's id.")],
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Read the wallet's balances from its chain now, store and show them."""

    async def read(services: Services) -> BalancesOut:
        wallet, snapshot = await services.fetching.fetch(tenant, wallet_id)
        return BalancesOut.of(await services.balances.view(wallet, snapshot))

    balances = _run(read)
    if as_json:
        _print_json(balances.model_dump(mode="json"))
        return
    columns = [Column("token"), Column("balance", True), Column("usd price", True),
               Column("usd value", True)]  # fmt: skip
    rows: list[list[str | None]] = [
        [b.token.symbol or b.token.address, b.balance, b.usd_price, b.usd_value]
        for b in balances.balances
    ]
    stale = " (stale)" if balances.stale else ""
    lines = [f"{balances.chain.value} {balances.address}: {balances.total_usd or '-'} USD{stale}"]
    lines += [f"not read: {e.token.symbol or e.token.address}: {e.reason}" for e in balances.errors]
    show([Grid(f"as of {balances.as_of:%Y-%m-%d %H:%M:%S %Z}", columns, rows)], lines=lines)


def portfolio(tenant: TenantOption = DEFAULT_TENANT, as_json: JsonOption = False) -> None:
    """The portfolio: the total, and by chain, by token and by wallet, amounts aligned."""
    summary = SummaryOut.of(_run(lambda s: s.portfolio.summary(tenant)))
    if as_json:
        _print_json(summary.model_dump(mode="json"))
        return
    as_of = f"{summary.as_of:%Y-%m-%d %H:%M:%S %Z}" if summary.as_of else "never read"
    stale = ", stale" if summary.stale else ""
    lines = [f"total {summary.total_usd} USD over {summary.wallet_count} wallet(s), "
             f"as of {as_of}{stale}"]  # fmt: skip
    if summary.change_24h_usd is not None:
        lines.append(f"24h change {summary.change_24h_usd} USD")
    token_columns = [Column("token"), Column("chain"), Column("balance", True),
                     Column("usd price", True), Column("usd value", True),
                     Column("share", True)]  # fmt: skip
    grids = [
        Grid("by chain", [Column("chain"), Column("usd value", True), Column("share", True)],
             [[c.chain.value, c.usd_value, c.share] for c in summary.by_chain]),
        Grid("by token", token_columns, [
            [t.token.symbol or t.token.address, t.token.chain.value, t.balance, t.usd_price,
             t.usd_value, t.share] for t in summary.by_token]),
        Grid("by wallet", [Column("wallet"), Column("chain"), Column("label"),
                           Column("usd value", True), Column("share", True)],
             [[w.address, w.chain.value, w.label, w.usd_value, w.share]
              for w in summary.by_wallet]),
    ]  # fmt: skip
    if summary.unpriced:
        grids.append(Grid("not in the total (no price, or not on a token list)", token_columns, [
            [t.token.symbol or t.token.address, t.token.chain.value, t.balance, None, None, None]
            for t in summary.unpriced]))  # fmt: skip
    show(grids, lines=lines)


def export(
    tenant: TenantOption = DEFAULT_TENANT,
    at: Annotated[
        str | None, typer.Option(help="Balances as recorded at or before this RFC 3339 time.")
    ] = None,
    history: Annotated[
        bool, typer.Option("--history", help="The value over time, one row per bucket.")
    ] = False,
    start: Annotated[str | None, typer.Option(help="History from (RFC 3339).")] = None,
    end: Annotated[str | None, typer.Option(help="History up to (RFC 3339); default now.")] = None,
    interval: Annotated[Interval, typer.Option(help="History bucket size.")] = Interval.DAY,
) -> None:
    """CSV on stdout, as the API answers it with Accept: text/csv. By default the stored
    balances, one row per wallet and held token (columns: wallet_id, chain, address, label,
    token_symbol, token_address, token_kind, decimals, raw_balance, balance, usd_price,
    usd_value, as_of);
    --at TIME, what was recorded at or before TIME (recorded_at for as_of); --history, one row
    per bucket (timestamp, total_usd, <chain>_usd ...), streamed. Exact decimals."""
    moments = {name: _moment(name, value) for name, value in
               (("at", at), ("start", start), ("end", end))}  # fmt: skip

    async def write(services: Services) -> None:
        if history:
            _, chains, points = await services.history.stream(
                tenant, moments["start"], moments["end"], interval
            )
            await _write_csv(history_header(chains), history_rows(points, chains))
        elif moments["at"] is not None:
            held = await services.history.held_at(tenant, moments["at"])
            await _write_csv(AT_COLUMNS, each(at_rows(held)))
        else:
            everything, prices = await services.portfolio.holdings(tenant)
            await _write_csv(HOLDING_COLUMNS, each(holding_rows(everything, prices)))

    _run(write)


def _moment(name: str, value: str | None) -> datetime | None:
    try:
        return None if value is None else parse_rfc3339(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"--{name}") from None


async def _write_csv(header: Sequence[str], rows: AsyncIterator[Sequence[Cell]]) -> None:
    out = csv.writer(sys.stdout, lineterminator="\n")
    out.writerow(header)
    async for row in rows:
        out.writerow(row)
