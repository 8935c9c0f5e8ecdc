"""``Depends`` aliases: routers get their services from the lifespan state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from portfolio.api.services import Services
from portfolio.domain.errors import ServiceUnavailableError
from portfolio.services.balances import BalanceService
from portfolio.services.fetching import FetchService
from portfolio.services.health import HealthService
from portfolio.services.history import HistoryService
from portfolio.services.tokens import TokenService
from portfolio.services.wallets import WalletService
from portfolio.services.webhooks import WebhookService

# Dependencies are coroutines on purpose: FastAPI runs a plain ``def`` dependency in its thread
# pool, which costs a request far more than what these do.


def services_of(request: Request) -> Services:
    services = request.state.services
    if not isinstance(services, Services):  # narrows the type; no cast
        raise TypeError("the app's lifespan did not put Services on its state")
    return services


async def get_services(request: Request) -> Services:
    return services_of(request)


AppServices = Annotated[Services, Depends(get_services)]


async def _wallets(services: AppServices) -> WalletService:
    return services.wallets


async def _balances(services: AppServices) -> BalanceService:
    return services.balances


async def _fetching(services: AppServices) -> FetchService:
    return services.fetching


async def _history(services: AppServices) -> HistoryService:
    return services.history


async def _tokens(services: AppServices) -> TokenService:
    if services.tokens is None:
        raise ServiceUnavailableError("Token marks are not available here.")
    return services.tokens


async def _webhooks(services: AppServices) -> WebhookService:
    if services.webhooks is None:
        raise ServiceUnavailableError("Webhooks are not available here.")
    return services.webhooks


async def _health(services: AppServices) -> HealthService:
    return services.health


Wallets = Annotated[WalletService, Depends(_wallets)]
Balances = Annotated[BalanceService, Depends(_balances)]
Fetching = Annotated[FetchService, Depends(_fetching)]
History = Annotated[HistoryService, Depends(_history)]
Tokens = Annotated[TokenService, Depends(_tokens)]
Health = Annotated[HealthService, Depends(_health)]
Webhooks = Annotated[WebhookService, Depends(_webhooks)]
