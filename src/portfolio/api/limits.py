"""Rate limits on the API routes: per API key, or per client address when keys are off.

The client address is the peer's, unless the peer is a configured proxy
(PORTFOLIO_TRUSTED_PROXIES): then the nearest address in ``X-Forwarded-For`` that is not a
proxy. A header from anyone else is ignored, so a client cannot pick its own address."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_address

from fastapi import Request

from portfolio.api.services import Services
from portfolio.domain.errors import RateLimitedError
from portfolio.domain.keys import Principal

CHAIN_ROUTES = ("/fetch", "/refresh")  # they spend RPC and price budgets
TRACK_ROUTE = "/tokens"  # POST: a token read from its chain

Networks = tuple[IPv4Network | IPv6Network, ...]


@dataclass(frozen=True, slots=True)
class Quota:
    """What a refusal tells in its RateLimit-* headers (written by ServiceMiddleware)."""

    limit: int
    remaining: int
    reset_seconds: int  # until the window lets one more through


async def rate_limited(request: Request, services: Services, principal: Principal) -> None:
    """Count the request against its caller's limit; RateLimitedError past it."""
    if services.rate_limits is None:
        return
    path = request.scope["path"]
    reads_chain = path.endswith(CHAIN_ROUTES) or (
        request.scope["method"] == "POST" and path.endswith(TRACK_ROUTE)
    )
    kind = "chain" if reads_chain else "api"
    if principal.key_id is not None:
        caller = f"key:{principal.key_id}"
    else:
        caller = f"address:{client_address(request, services.trusted_proxies)}"
    try:
        await services.rate_limits.hit(kind, caller)
    except RateLimitedError as exc:
        if exc.limit is not None:  # the service middleware writes the RateLimit-* headers
            request.state.quota = Quota(exc.limit, 0, exc.retry_after_seconds)
        raise


def client_address(request: Request, proxies: Networks) -> str:
    peer = request.client.host if request.client else "-"
    if not proxies or not _trusted(peer, proxies):
        return peer
    forwarded = [
        part.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for part in header.split(",")
    ]
    for address in reversed(forwarded):  # nearest first
        if not _trusted(address, proxies):
            return address
    return peer


def _trusted(address: str, proxies: Networks) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in proxies)
