"""A tenant's marks on tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from portfolio.api.auth import Caller, caller
from portfolio.api.dependencies import Tokens
from portfolio.api.problems import problem_responses
from portfolio.api.schemas import TokenMarkIn, TokenMarkList, TokenMarkOut
from portfolio.domain.chains import Chain

router = APIRouter(
    prefix="/tokens",
    tags=["tokens"],
    dependencies=[Depends(caller)],  # the key, and the rate limit
    responses=problem_responses(401, 403, 429),
)


@router.get("", summary="The tenant's marks on tokens", operation_id="tokens-list",
            responses=problem_responses(503))  # fmt: skip
async def list_marks(tokens: Tokens, principal: Caller) -> TokenMarkList:
    marks = await tokens.marks(principal.tenant)
    return TokenMarkList(
        items=[
            TokenMarkOut(chain=chain, address=key, mark=mark)
            for (chain, key), mark in sorted(marks.items())
        ]
    )


@router.put(
    "/{chain}/{address}",
    summary="Mark a token trusted or spam, or clear its mark",
    operation_id="tokens-mark",
    responses=problem_responses(400, 413, 415, 422, 503),
)
async def mark_token(
    chain: Annotated[Chain, Path(description="The token's chain.")],
    address: Annotated[str, Path(max_length=128, description="The contract or mint address.")],
    body: TokenMarkIn,
    tokens: Tokens,
    principal: Caller,
) -> TokenMarkOut:
    """`trusted` counts the token in net worth though it is on no token list (priced like a
    listed one); `spam` never counts it and leaves it out of the portfolio (listed under
    `spam` with `?include_spam=true`); `null` clears the mark. Per tenant."""
    normalized = await tokens.mark(principal.tenant, chain, address, body.mark)
    return TokenMarkOut(chain=chain, address=normalized, mark=body.mark)
