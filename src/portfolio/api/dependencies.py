"""``Depends`` aliases: routers get their services from the container on the lifespan state."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from portfolio.api.container import Container
from portfolio.services.balances import BalanceService
from portfolio.services.health import HealthService
from portfolio.services.wallets import WalletService

# Dependencies are coroutines on purpose: FastAPI runs a plain ``def`` dependency in its thread
# pool, which costs a request far more than what these do.


async def get_container(request: Request) -> Container:
    return cast(Container, request.state.container)


async def get_wallet_service(request: Request) -> WalletService:
    return cast(Container, request.state.container).wallets


async def get_health_service(request: Request) -> HealthService:
    return cast(Container, request.state.container).health


async def get_balance_service(request: Request) -> BalanceService:
    return cast(Container, request.state.container).balances


AppContainer = Annotated[Container, Depends(get_container)]
Balances = Annotated[BalanceService, Depends(get_balance_service)]
Wallets = Annotated[WalletService, Depends(get_wallet_service)]
Health = Annotated[HealthService, Depends(get_health_service)]
