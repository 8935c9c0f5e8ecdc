"""What the routers serve from: the use cases, built by the composition root (portfolio.main)
and put on the lifespan state."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import TypedDict

from portfolio.api.rendered import RenderedDocument
from portfolio.ports.jobs import RefreshQueue
from portfolio.ports.limits import RateLimits
from portfolio.services.auth import Authenticator
from portfolio.services.balances import BalanceService
from portfolio.services.fetching import FetchService
from portfolio.services.health import HealthService
from portfolio.services.history import HistoryService
from portfolio.services.portfolio import PortfolioService
from portfolio.services.rates import RateService
from portfolio.services.scheduling import ScheduledRefresh
from portfolio.services.streams import EventHub, StreamTokens
from portfolio.services.tokens import TokenService
from portfolio.services.wallets import WalletService
from portfolio.services.webhooks import WebhookDispatcher, WebhookService


@dataclass(frozen=True, slots=True)
class Services:
    wallets: WalletService
    balances: BalanceService
    fetching: FetchService
    portfolio: PortfolioService
    history: HistoryService
    health: HealthService
    summary: RenderedDocument  # the rendered GET /portfolio document
    authenticator: Authenticator | None = None  # None: API keys are not required
    rate_limits: RateLimits | None = None  # None: no rate limits
    # Failed authentications per client address (kind "auth"); None: not limited.
    auth_failures: RateLimits | None = None
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()  # whose X-Forwarded-For counts
    scheduled: ScheduledRefresh | None = None  # the scheduled refresh's plans and jobs
    refresh_queue: RefreshQueue | None = None  # where a big refresh goes (202)
    inline_refresh_wallets: int = 1000  # a refresh over more wallets is handed to the queue
    tokens: TokenService | None = None  # marks on tokens
    webhooks: WebhookService | None = None
    dispatcher: WebhookDispatcher | None = None  # sends webhook messages (workers, or in process)
    streams: EventHub | None = None  # the live event stream
    stream_tokens: StreamTokens | None = None
    rates: RateService | None = None  # None: USD only


class State(TypedDict):
    """The lifespan state."""

    services: Services
