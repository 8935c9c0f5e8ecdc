"""Wallet endpoints: add, list, get, remove."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status

from portfolio.api.auth import Caller, caller
from portfolio.api.cursor import decode_cursor, encode_cursor
from portfolio.api.dependencies import Wallets
from portfolio.api.openapi import LOCATION
from portfolio.api.problems import problem_responses
from portfolio.api.schemas import WalletCreate, WalletList, WalletOut, WalletsCreated
from portfolio.domain.chains import Chain

router = APIRouter(
    prefix="/wallets",
    tags=["wallets"],
    dependencies=[Depends(caller)],  # the key, and the rate limit
    responses=problem_responses(401, 403, 429),
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Track a wallet",
    operation_id="wallets-create",
    responses={201: {"headers": LOCATION}, **problem_responses(400, 409, 413, 415, 422, 503)},
)
async def add_wallet(
    body: WalletCreate, wallets: Wallets, principal: Caller, request: Request, response: Response
) -> WalletOut | WalletsCreated:
    """Add a wallet. The address is normalized (EIP-55 for EVM); adding one twice is a 409 that
    names the wallet already tracked. With `chains`, one wallet per chain is created, all or
    none (one already tracked is a 409 and creates nothing), answered as `{"items": [...]}`;
    `Location` names the first."""
    added = await wallets.add_on_chains(principal.tenant, body.chain_list, body.address, body.label)
    response.headers["Location"] = str(request.url_for("get_wallet", wallet_id=added[0].id).path)
    if body.chain is not None:
        return WalletOut.of(added[0])
    return WalletsCreated(items=[WalletOut.of(wallet) for wallet in added])


@router.get(
    "",
    summary="List wallets",
    operation_id="wallets-list",
    responses=problem_responses(422, 503),
)
async def list_wallets(
    wallets: Wallets,
    principal: Caller,
    chain: Annotated[Chain | None, Query(description="Only wallets on this chain.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size.")] = 50,
    cursor: Annotated[
        str | None, Query(max_length=256, description="`next_cursor` of the previous page.")
    ] = None,
) -> WalletList:
    """Wallets in a stable order (creation time, then id), a page at a time."""
    after = decode_cursor(cursor) if cursor else None
    page = await wallets.list(principal.tenant, chain=chain, limit=limit, after=after)
    return WalletList(
        items=[WalletOut.of(w) for w in page.items],
        next_cursor=encode_cursor(page.next_cursor) if page.next_cursor else None,
    )


@router.get(
    "/{wallet_id}",
    summary="Get a wallet",
    operation_id="wallets-get",
    responses=problem_responses(404, 422, 503),
)
async def get_wallet(wallet_id: UUID, wallets: Wallets, principal: Caller) -> WalletOut:
    return WalletOut.of(await wallets.get(principal.tenant, wallet_id))


@router.delete(
    "/{wallet_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop tracking a wallet",
    operation_id="wallets-delete",
    responses=problem_responses(404, 422, 503),
)
async def delete_wallet(wallet_id: UUID, wallets: Wallets, principal: Caller) -> Response:
    """Remove the wallet together with its stored balances and history."""
    await wallets.remove(principal.tenant, wallet_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
