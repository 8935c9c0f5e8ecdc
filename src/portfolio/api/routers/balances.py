"""Reading a wallet from its chain, and serving its last stored balances."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from portfolio.api.auth import Caller, caller
from portfolio.api.currency import CurrencyQuery, conversion_at, conversion_now, currency_asked
from portfolio.api.dependencies import Balances, Fetching, services_of
from portfolio.api.problems import problem_responses
from portfolio.api.schemas import BalancesAtOut, BalancesOut
from portfolio.api.times import Rfc3339

router = APIRouter(
    prefix="/wallets/{wallet_id}",
    tags=["balances"],
    dependencies=[Depends(caller)],  # the key, and the rate limit
    responses=problem_responses(401, 403, 429),
)


@router.post(
    "/fetch",
    summary="Read a wallet's balances from its chain now",
    operation_id="balances-fetch",
    responses=problem_responses(404, 413, 422, 503, 504),
)
async def fetch_balances(
    wallet_id: UUID, fetching: Fetching, balances: Balances, principal: Caller
) -> BalancesOut:
    """Reads every balance of the wallet from the chain, stores them with a history entry, and
    returns them. Concurrent fetches of one wallet share one chain read. When the chain cannot
    be read nothing stored changes and the answer is a 503 (504 when every node timed out) with
    `Retry-After`."""
    wallet, snapshot = await fetching.fetch(principal.tenant, wallet_id)
    return BalancesOut.of(await balances.view(wallet, snapshot))


@router.get(
    "/balances",
    summary="The wallet's last stored balances",
    operation_id="balances-get",
    responses=problem_responses(404, 422, 503),
)
async def get_balances(
    wallet_id: UUID,
    balances: Balances,
    principal: Caller,
    request: Request,
    at: Annotated[
        Rfc3339 | None,
        Query(description="RFC 3339 with a zone: the balances as recorded at or before it."),
    ] = None,
    currency: CurrencyQuery = None,
) -> BalancesOut | BalancesAtOut:
    """The balances of the last successful fetch; `stale` when they are older than the
    freshness setting or the last fetch failed. With `at`: every balance at that moment (its
    last recorded change at or before it, with the time of that change) valued at the token's
    price then (the definition of history). Zero balances are left out."""
    services = services_of(request)
    code = currency_asked(services, currency)
    if at is not None:
        wallet = await services.wallets.get(principal.tenant, wallet_id)
        held = await services.history.held_at(principal.tenant, at, wallet_id)
        return BalancesAtOut.of(wallet, at, held, await conversion_at(services, code, at))
    view = await balances.get(principal.tenant, wallet_id)
    return BalancesOut.of(view, await conversion_now(services, code))
