"""``Depends`` aliases: routers get their services from the container on the lifespan state."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from portfolio.api.container import Container
from portfolio.services.balances import BalanceService
from portfolio.services.health import HealthService
from portfolio.services.wallets import WalletService


def get_container(request: Request) -> Container:
    return cast(Container, request.state.container)


def get_wallet_service(request: Request) -> WalletService:
    return get_container(request).wallets


def get_health_service(request: Request) -> HealthService:
    return get_container(request).health


def get_balance_service(request: Request) -> BalanceService:
    return get_container(request).balances


AppContainer = Annotated[Container, Depends(get_container)]
Balances = Annotated[BalanceService, Depends(get_balance_service)]
Wallets = Annotated[WalletService, Depends(get_wallet_service)]
Health = Annotated[HealthService, Depends(get_health_service)]
