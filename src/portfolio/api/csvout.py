"""CSV answers (``Accept: text/csv``) and the rows they share with ``portfolio export``.

Rows are written as they come, a few hundred to a chunk, so an export of a year of 5-minute
history streams in constant memory. Decimals are exact and positional (never exponent form),
times RFC 3339 in UTC, an unknown value an empty cell. Text that others write (labels, and
symbols from chains and token lists) is neutralised against formula injection (OWASP): a cell
that a spreadsheet would take for a formula gets a leading apostrophe."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from fastapi import Request
from fastapi.responses import StreamingResponse

from portfolio.domain.amounts import format_decimal
from portfolio.domain.balances import WalletBalances
from portfolio.domain.chains import Chain
from portfolio.domain.currencies import Conversion, converted
from portfolio.domain.history import HeldAt, HistoryPoint
from portfolio.domain.prices import Price, price_key, round_usd, value_of
from portfolio.domain.text import printable
from portfolio.domain.tokens import address_and_kind
from portfolio.domain.wallet import Wallet

CSV = "text/csv"
CSV_TYPE = "text/csv; charset=utf-8"
ROWS_PER_CHUNK = 500
Cell = str | int | None

HOLDING_COLUMNS = [
    "wallet_id", "chain", "address", "label", "token_symbol", "token_address", "token_kind",
    "decimals", "raw_balance", "balance", "usd_price", "usd_value", "as_of",
]  # fmt: skip
AT_COLUMNS = [*HOLDING_COLUMNS[:-1], "recorded_at"]


def wants_csv(request: Request) -> bool:
    """Whether the client prefers CSV to JSON: the media range of the higher q-value among
    text/csv and application/json (the earlier one on a tie); */* alone means JSON."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(request.headers.get("accept", "").split(",")):
        media, *parameters = (p.strip() for p in part.split(";"))
        if media.lower() not in (CSV, "application/json"):
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and (best is None or (quality, -position) > (best[0], best[1])):
            best = (quality, -position, media.lower())
    return best is not None and best[2] == CSV


def csv_response(
    header: Sequence[str], rows: AsyncIterator[Sequence[Cell]], filename: str
) -> StreamingResponse:
    return StreamingResponse(
        _chunks(header, rows),
        media_type=CSV_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def _chunks(header: Sequence[str], rows: AsyncIterator[Sequence[Cell]]) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    count = 0
    async for row in rows:
        writer.writerow(row)
        count += 1
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str | None) -> str | None:
    """A text cell a spreadsheet shows as text: printable characters only (a symbol stored
    before text from outside was bounded may hold a CR, which would end the row for a reader
    of unquoted CR), and one beginning like a formula is prefixed with an apostrophe."""
    if value is None:
        return None
    value = printable(value)
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _usd(value: Decimal | None) -> str | None:
    return None if value is None else str(round_usd(value))


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def history_header(chains: Sequence[Chain]) -> list[str]:
    return ["timestamp", "total_usd", *(f"{chain}_usd" for chain in chains)]


async def history_rows(
    points: AsyncIterator[HistoryPoint],
    chains: Sequence[Chain],
    currency: str | None = None,
    rates: Sequence[Decimal | None] = (),
) -> AsyncIterator[list[Cell]]:
    """One row per bucket: its start, the total and each chain's value (0 before a chain's
    first record, as in the total); with ``currency``, the currency and the total in it at
    ``rates`` (the rate at each boundary: a point stands at the next one)."""
    index = 0
    async for point in points:
        values = [_usd(point.by_chain.get(chain, Decimal(0))) for chain in chains]
        row: list[Cell] = [_time(point.timestamp), _usd(point.total), *values]
        if currency is not None:
            index += 1
            rate = rates[index] if index < len(rates) else None
            row += [currency, converted(point.total, rate, currency)]
        yield row


def at_rows(held: Sequence[HeldAt], conversion: Conversion | None = None) -> list[list[Cell]]:
    """With ``conversion``: the currency and the value in it after the columns."""
    rows: list[list[Cell]] = [
        [str(item.wallet_id), item.chain.value, item.address, text_cell(item.label),
         text_cell(item.symbol),
         *address_and_kind(item.token_key), item.decimals, str(item.raw),
         str(item.amount), None if item.usd_price is None else format_decimal(item.usd_price),
         _usd(item.usd_value), _time(item.recorded_at)]
        for item in held
    ]  # fmt: skip
    if conversion is not None:
        for row, item in zip(rows, held, strict=True):
            row += [conversion.currency, conversion.value(item.usd_value)]
    return rows


def holding_rows(
    everything: Iterable[tuple[Wallet, WalletBalances]],
    prices: dict[str, Price],
    conversion: Conversion | None = None,
) -> list[list[Cell]]:
    """One row per wallet and held token, from the stored balances (a wallet never read has
    none); with ``conversion``, the currency and the value in it after the columns."""
    rows: list[list[Cell]] = []
    for wallet, snapshot in everything:
        for balance in snapshot.balances:
            if not balance.raw:
                continue
            token, price = balance.token, prices.get(price_key(balance.token))
            rows.append([
                str(wallet.id), wallet.chain.value, wallet.address, text_cell(wallet.label),
                text_cell(token.symbol),
                token.address, token.kind, token.decimals, str(balance.raw), str(balance.amount),
                None if price is None else format_decimal(price.usd),
                _usd(value := value_of(balance.raw, token.decimals, price)),
                _time(snapshot.balance_as_of(balance)),
            ])  # fmt: skip
            if conversion is not None:
                rows[-1] += [conversion.currency, conversion.value(value)]
    return rows


async def each(rows: Iterable[Sequence[Cell]]) -> AsyncIterator[Sequence[Cell]]:
    for row in rows:
        yield row
