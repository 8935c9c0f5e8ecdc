"""``portfolio webhooks add|list|remove``: a tenant's webhooks from the command line, through
the service's own use case (the same URL rules as the API). The secret is printed once, by
``add``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer

from portfolio.api.schemas import WebhookCreated, WebhookOut
from portfolio.api.services import Services
from portfolio.domain.errors import ServiceUnavailableError
from portfolio.domain.events import EventType
from portfolio.domain.wallet import DEFAULT_TENANT
from portfolio.main.cli_holdings import JsonOption, TenantOption, _print_json, _run
from portfolio.main.console import Column, Grid, show
from portfolio.services.webhooks import WebhookService

webhooks_app = typer.Typer(help="Webhooks: events POSTed to a receiver.", no_args_is_help=True)


def _events(names: str) -> list[EventType]:
    try:
        return [EventType(name.strip()) for name in names.split(",") if name.strip()]
    except ValueError:
        known = ", ".join(e.value for e in EventType)
        raise typer.BadParameter(f"event types are {known}") from None


def _grid(title: str, webhooks: list[WebhookOut]) -> Grid:
    columns = [Column("id"), Column("url"), Column("events"), Column("state")]
    rows: list[list[str | None]] = [
        [str(w.id), w.url, ",".join(w.events),
         "enabled" if w.enabled else f"disabled: {w.disabled_reason}"]
        for w in webhooks
    ]  # fmt: skip
    return Grid(title, columns, rows)


@webhooks_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Where events are POSTed (https, public).")],
    events: Annotated[
        str,
        typer.Option(help="Comma-separated event types.", show_default=True),
    ] = ",".join(e.value for e in EventType),
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    tenant: TenantOption = DEFAULT_TENANT,
    as_json: JsonOption = False,
) -> None:
    """Add a webhook; its signing secret is printed this once."""
    kinds = _events(events)
    webhook, secret = _run(lambda s: _service(s).create(tenant, url, kinds, description))
    made = WebhookCreated(**WebhookOut.of(webhook).model_dump(), secret=secret)
    if as_json:
        _print_json(made.model_dump(mode="json"))
        return
    show([_grid("added", [WebhookOut.of(webhook)])])
    typer.echo(f"secret: {secret}\nStore the secret now: it cannot be shown again.")


@webhooks_app.command("list")
def list_webhooks(tenant: TenantOption = DEFAULT_TENANT, as_json: JsonOption = False) -> None:
    """The tenant's webhooks, oldest first (never their secrets)."""
    webhooks = [WebhookOut.of(w) for w in _run(lambda s: _service(s).every(tenant))]
    if as_json:
        _print_json([w.model_dump(mode="json") for w in webhooks])
        return
    show([_grid("webhooks", webhooks)])


@webhooks_app.command("remove")
def remove(
    webhook_id: Annotated[UUID, typer.Argument(help="The webhook's id.")],
    tenant: TenantOption = DEFAULT_TENANT,
) -> None:
    """Remove a webhook, with what was still to be sent to it."""
    _run(lambda s: _service(s).remove(tenant, webhook_id))
    typer.echo(f"removed {webhook_id}")


def _service(services: Services) -> WebhookService:
    if services.webhooks is None:
        raise ServiceUnavailableError("Webhooks are not available here.")
    return services.webhooks
