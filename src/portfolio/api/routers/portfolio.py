"""The portfolio summary."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from portfolio.api.auth import Caller, caller
from portfolio.api.csvout import (
    AT_COLUMNS,
    HOLDING_COLUMNS,
    at_rows,
    csv_response,
    each,
    history_header,
    history_rows,
    holding_rows,
    wants_csv,
)
from portfolio.api.currency import (
    CURRENCY_HELP,
    CurrencyQuery,
    conversion_at,
    conversion_now,
    currency_asked,
    rates_over,
)
from portfolio.api.dependencies import Fetching, History, services_of
from portfolio.api.openapi import CSV_CONTENT, ETAG, LOCATION
from portfolio.api.performance import (
    PERFORMANCE_COLUMNS,
    SERIES_COLUMNS,
    PerformanceOut,
    performance_rows,
    result_interval,
    series_rows,
)
from portfolio.api.problems import problem_responses
from portfolio.api.rendered import etag_of
from portfolio.api.schemas import (
    HistoryOut,
    PortfolioAtOut,
    RefreshBatchOut,
    RefreshOut,
    SummaryOut,
)
from portfolio.api.times import Rfc3339
from portfolio.domain.chains import Chain
from portfolio.domain.currencies import PLACES, USD
from portfolio.domain.errors import RefreshBatchNotFoundError, ValidationError
from portfolio.domain.history import MAX_POINTS, Interval, Window
from portfolio.domain.keys import Principal

router = APIRouter(
    prefix="/portfolio",
    tags=["portfolio"],
    dependencies=[Depends(caller)],  # the key, and the rate limit
    responses=problem_responses(401, 403, 429),
)
JSON = "application/json"


@router.get(
    "",
    summary="The portfolio over every wallet",
    operation_id="portfolio-get",
    response_model=SummaryOut,
    # Read by the route itself (the hot path resolves no parameter), documented here.
    openapi_extra={
        "parameters": [
            {
                "name": "include_spam",
                "in": "query",
                "required": False,
                "description": "List the tokens marked spam under `spam` (never counted).",
                "schema": {"type": "boolean", "default": False},
            },
            {
                "name": "currency",
                "in": "query",
                "required": False,
                "description": CURRENCY_HELP,
                "schema": {"type": "string", "enum": list(PLACES)},
            },
        ]
    },
    responses={
        200: {"headers": ETAG, "content": CSV_CONTENT},
        304: {"description": "Not modified (If-None-Match)", "headers": ETAG},
        **problem_responses(422, 503),
    },
)
async def get_portfolio(request: Request) -> Response:
    """Totals by chain, by token (one token merged across wallets) and by wallet, with shares
    of the total; tokens without a price, and unverified ones, under `unpriced`; tokens found on
    chain that no source prices yet under `unverified`. The document is
    cached until a wallet changes or the balance/price freshness runs out, and carries an
    `ETag`: send it back in `If-None-Match` for a 304. With `Accept: text/csv`: one row per
    wallet and held token (the columns are in the README)."""

    # The hot path of the service: no dependency of its own (the router's, which checks the
    # key and the rate limit, leaves the caller on the request), the services and the header
    # read directly: each dependency FastAPI resolves costs a request measurably (make bench).
    services = services_of(request)
    principal: Principal = request.state.principal
    asked = request.query_params.get("currency") if request.scope["query_string"] else None
    currency = currency_asked(services, asked)
    default = currency_asked(services, None)
    spam = bool(request.scope["query_string"]) and _include_spam(request)
    if "csv" in request.headers.get("accept", "") and wants_csv(request):
        everything, prices = await services.portfolio.holdings(principal.tenant)
        if currency == USD:
            rows = holding_rows(everything, prices)
            return csv_response(HOLDING_COLUMNS, each(rows), "portfolio.csv")
        rows = holding_rows(everything, prices, await conversion_now(services, currency))
        return csv_response([*HOLDING_COLUMNS, "currency", "value"], each(rows), "portfolio.csv")
    if spam or currency != default:  # rendered for this request only, not held
        summary = await services.portfolio.summary(principal.tenant, include_spam=spam)
        conversion = await conversion_now(services, currency)
        body = SummaryOut.of(summary, conversion).model_dump_json().encode()
        etag = etag_of(principal.tenant, body)
        return Response(body, media_type=JSON, headers={"ETag": etag, "Cache-Control": "no-cache"})

    async def render() -> bytes:
        summary = await services.portfolio.summary(principal.tenant)
        conversion = await conversion_now(services, default)
        return SummaryOut.of(summary, conversion).model_dump_json().encode()

    if_none_match = request.headers.get("if-none-match")
    rendered = await services.summary.get(principal.tenant, render, _single(if_none_match))
    headers = {"ETag": rendered.etag, "Cache-Control": "no-cache"}
    if rendered.body is None or _matches(if_none_match, rendered.etag):
        return Response(status_code=304, headers=headers)
    return Response(rendered.body, media_type=JSON, headers=headers)


def _include_spam(request: Request) -> bool:
    value = request.query_params.get("include_spam", "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise ValidationError("include_spam is true or false.", field="include_spam")
    return value in ("true", "1")


def _single(if_none_match: str | None) -> str | None:
    """The one ETag of a plain If-None-Match, for the fast path."""
    if not if_none_match or "," in if_none_match:
        return None
    return if_none_match.strip().removeprefix("W/")


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in candidates


@router.get(
    "/history",
    summary="The portfolio's value over time",
    operation_id="portfolio-history",
    response_model=HistoryOut,
    responses={200: {"content": CSV_CONTENT}, **problem_responses(422, 503)},
)
async def get_history(
    history: History,
    principal: Caller,
    request: Request,
    start: Annotated[
        Rfc3339 | None, Query(description="RFC 3339 with a zone. Default: 7 days before end.")
    ] = None,
    end: Annotated[Rfc3339 | None, Query(description="RFC 3339 with a zone. Default: now.")] = None,
    interval: Annotated[
        Interval,
        Query(description=f"Bucket size. At most {MAX_POINTS:,} buckets from start to end."),
    ] = Interval.HOUR,
    currency: CurrencyQuery = None,
) -> HistoryOut | Response:
    """One point per bucket (`5m`, `1h` or `1d`, aligned to the interval from the Unix epoch)
    from the bucket holding `start` up to `end`. A point's value is marked to market: for each
    wallet and token, the amount held at the bucket's end (its last recorded change at or before
    it) times the token's USD price then (its last price at or before it), so there are no gaps
    when a wallet was not read; an unpriced token counts 0, a wallet nothing before its first
    record. At most 10,000 points a request. With
    `Accept: text/csv`: one row per bucket (`timestamp`, `total_usd`, `<chain>_usd` for each
    chain of the tenant's wallets), streamed, up to 1,100,000 rows (ten years of 5-minute
    points)."""
    services = services_of(request)
    code = currency_asked(services, currency)
    if wants_csv(request):
        window, chains, points = await history.stream(principal.tenant, start, end, interval)
        if code == USD:
            rows = history_rows(points, chains)
            return csv_response(history_header(chains), rows, "history.csv")
        rates = await rates_over(services, code, window)
        header = [*history_header(chains), "currency", "total_value"]
        rows = history_rows(points, chains, code, rates)
        return csv_response(header, rows, "history.csv")
    window, computed = await history.history(principal.tenant, start, end, interval)
    rates = await rates_over(services, code, window)
    return HistoryOut.of(interval, window, computed, code, rates)


@router.get(
    "/performance",
    summary="How the portfolio did, and why",
    operation_id="portfolio-performance",
    response_model=PerformanceOut,
    responses={200: {"content": CSV_CONTENT}, **problem_responses(404, 422, 503)},
)
async def get_performance(
    history: History,
    principal: Caller,
    request: Request,
    start: Annotated[
        Rfc3339 | None, Query(description="RFC 3339 with a zone. Default: 30 days before end.")
    ] = None,
    end: Annotated[Rfc3339 | None, Query(description="RFC 3339 with a zone. Default: now.")] = None,
    interval: Annotated[
        Interval | None,
        Query(
            description="Bucket size for returns and drawdown. Default: 5m up to 2 days, 1h up "
            f"to 90 days, 1d beyond. At most {MAX_POINTS:,} buckets."
        ),
    ] = None,
    wallet_id: Annotated[UUID | None, Query(description="One wallet only.")] = None,
    chain: Annotated[Chain | None, Query(description="One chain's wallets only.")] = None,
    series: Annotated[
        bool, Query(description="Add the cumulative return and value of each bucket.")
    ] = False,
    currency: CurrencyQuery = None,
) -> PerformanceOut | Response:
    """From `start` to `end`: the start and end values, the change, and why it happened: the
    market effect (what price moves did to what was held) and the flows (amounts that came in
    or went out, each valued at its token's price at the end of the bucket where it shows);
    market effect plus flows equals the change. The time-weighted return chains each bucket's
    market effect over its starting value, so flows do not count as gains; the maximum
    drawdown is its deepest fall from a peak. The same figures by chain, token and wallet,
    sorted by market effect; tokens never priced in the window are left out and listed under
    `unpriced`. A transfer between two of the tenant's wallets is no flow of the portfolio
    when both sides show in one bucket. With `Accept: text/csv`: one row for the portfolio
    and one a chain, token and wallet (with `series=true`: one row a bucket). The rules are
    in the README."""
    services = services_of(request)
    code = currency_asked(services, currency)

    async def rates(window: Window) -> list[Decimal | None]:
        return await rates_over(services, code, window)

    recorded, result = await history.performance(
        principal.tenant, start, end, interval, wallet_id=wallet_id, chain=chain,
        currency=code, rates=rates,
    )  # fmt: skip
    document = PerformanceOut.of(interval or result_interval(recorded), recorded, result,
                                 series=series, currency=code)  # fmt: skip
    if wants_csv(request):
        if series:
            return csv_response(SERIES_COLUMNS, each(series_rows(document)), "performance.csv")
        return csv_response(
            PERFORMANCE_COLUMNS, each(performance_rows(document)), "performance.csv"
        )
    return document


@router.get(
    "/at",
    summary="The portfolio at a moment",
    operation_id="portfolio-at",
    response_model=PortfolioAtOut,
    responses={200: {"content": CSV_CONTENT}, **problem_responses(422, 503)},
)
async def get_portfolio_at(
    history: History,
    principal: Caller,
    request: Request,
    time: Annotated[Rfc3339, Query(description="RFC 3339 with a zone.")],
    currency: CurrencyQuery = None,
) -> PortfolioAtOut | Response:
    """Every (wallet, token) balance at `time` (its last recorded change at or before it, with
    the time of that change) valued at the token's price then, and the totals: by the same
    definition as history, so at a bucket's end they are that point's. Zero balances are left
    out. With `Accept: text/csv`: one row per wallet and token (the columns are in the
    README)."""
    services = services_of(request)
    code = currency_asked(services, currency)
    held = await history.held_at(principal.tenant, time)
    conversion = await conversion_at(services, code, time)
    if wants_csv(request):
        if code == USD:
            return csv_response(AT_COLUMNS, each(at_rows(held)), "portfolio-at.csv")
        rows = at_rows(held, conversion)
        return csv_response([*AT_COLUMNS, "currency", "value"], each(rows), "portfolio-at.csv")
    return PortfolioAtOut.of(time, held, conversion)


@router.post(
    "/refresh",
    summary="Read every wallet from its chain now",
    operation_id="portfolio-refresh",
    response_model=RefreshOut,
    responses={
        202: {"model": RefreshBatchOut, "headers": LOCATION, "description": "Too many wallets "
              "to answer at once: handed to the workers; poll the Location"},
        **problem_responses(413, 503),
    },
)  # fmt: skip
async def refresh_portfolio(
    fetching: Fetching, principal: Caller, request: Request
) -> RefreshOut | JSONResponse:
    """Reads every wallet, batched across wallets per chain (one multicall carries many
    wallets), stores what was read and lists each wallet's outcome. A chain that cannot be
    read leaves its wallets' stored balances as they were (`failed`, with the reason) and the
    other chains' wallets refreshed. Over more wallets than the service answers at once
    (PORTFOLIO_REFRESH_INLINE_WALLETS), the refresh is handed to the workers: 202, with the
    URL to poll in `Location`."""
    services = services_of(request)
    queue, scheduled = services.refresh_queue, services.scheduled
    if queue is not None and scheduled is not None:
        jobs = await scheduled.plan_for(principal.tenant)
        if sum(len(job.wallet_ids) for job in jobs) > services.inline_refresh_wallets:
            batch = await queue.submit(principal.tenant, jobs)
            location = request.url_for("get_refresh", batch_id=batch.batch_id).path
            body = RefreshBatchOut.of(batch).model_dump(mode="json")
            return JSONResponse(body, status_code=202, headers={"Location": location})
    return RefreshOut.of(await fetching.refresh_all(principal.tenant))


@router.get(
    "/refresh/{batch_id}",
    summary="A refresh handed to the workers",
    operation_id="portfolio-refresh-get",
    response_model=RefreshBatchOut,
    responses=problem_responses(404),
)
async def get_refresh(
    batch_id: Annotated[str, Path(max_length=64, pattern="^[0-9a-f]+$")],
    principal: Caller,
    request: Request,
) -> RefreshBatchOut:
    """How far a refresh answered with 202 has come; `done` once every job has run."""
    queue = services_of(request).refresh_queue
    batch = None if queue is None else await queue.progress(principal.tenant, batch_id)
    if batch is None:
        raise RefreshBatchNotFoundError(batch_id)
    return RefreshBatchOut.of(batch)
