"""A tenant's marks on tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from portfolio.api.auth import Caller, caller
from portfolio.api.dependencies import Tokens
from portfolio.api.problems import problem_responses
from portfolio.api.schemas import (
    ADDRESS_PATTERN,
    ADDRESS_RULES,
    TokenEntryOut,
    TokenList,
    TokenMarkIn,
    TokenMarkOut,
    TokenOut,
    TokenTrack,
)
from portfolio.domain.chains import Chain

router = APIRouter(
    prefix="/tokens",
    tags=["tokens"],
    dependencies=[Depends(caller)],  # the key, and the rate limit
    responses=problem_responses(401, 403, 429),
)


@router.get("", summary="The tenant's tokens: tracked and marked", operation_id="tokens-list",
            responses=problem_responses(503))  # fmt: skip
async def list_tokens(tokens: Tokens, principal: Caller) -> TokenList:
    marks = await tokens.marks(principal.tenant)
    entries = {
        (t.chain, t.key): TokenEntryOut(
            chain=t.chain, address=t.key, symbol=t.symbol, name=t.name, decimals=t.decimals,
            tracked=True, mark=marks.get((t.chain, t.key)),
        )
        for t in await tokens.tracked(principal.tenant)
    }  # fmt: skip
    for (chain, key), mark in marks.items():
        entries.setdefault(
            (chain, key), TokenEntryOut(chain=chain, address=key, tracked=False, mark=mark)
        )
    return TokenList(items=[entries[key] for key in sorted(entries)])


@router.post(
    "",
    summary="Track a token by its address",
    operation_id="tokens-track",
    status_code=201,
    responses={200: {"model": TokenOut, "description": "Tracked already"},
               **problem_responses(400, 413, 415, 422, 503, 504)},
)  # fmt: skip
async def track_token(
    body: TokenTrack, tokens: Tokens, principal: Caller, response: Response
) -> TokenOut:
    """Its decimals, symbol and name are read from the chain (ERC-20 `decimals()`, `symbol()`,
    `name()`, an old token's bytes32 symbol included; an SPL mint's decimals, its symbol from
    the token list where it is listed); an address holding no token is a 422. From then on its
    balance is read for the tenant's wallets on that chain (Solana reads every token account
    anyway). It is counted in net worth once marked trusted. 200 when tracked already."""
    token, added = await tokens.track(principal.tenant, body.chain, body.address)
    if not added:
        response.status_code = 200
    return TokenOut.of(token)


@router.put(
    "/{chain}/{address}",
    summary="Mark a token trusted or spam, or clear its mark",
    operation_id="tokens-mark",
    responses=problem_responses(400, 413, 415, 422, 503),
)
async def mark_token(
    chain: Annotated[Chain, Path(description="The token's chain.")],
    address: Annotated[
        str,
        Path(
            max_length=128,
            pattern=ADDRESS_PATTERN,
            description=f"The contract or mint address. {ADDRESS_RULES}",
        ),
    ],
    body: TokenMarkIn,
    tokens: Tokens,
    principal: Caller,
) -> TokenMarkOut:
    """`trusted` counts the token in net worth though it is on no token list (priced like a
    listed one); `spam` never counts it and leaves it out of the portfolio (listed under
    `spam` with `?include_spam=true`); `null` clears the mark. Per tenant."""
    normalized = await tokens.mark(principal.tenant, chain, address, body.mark)
    return TokenMarkOut(chain=chain, address=normalized, mark=body.mark)
