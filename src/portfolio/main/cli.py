"""``portfolio``: the command line for people who run the service, on the same ``PORTFOLIO_*``
settings (environment or .env) as the service.

    portfolio serve [--host H] [--port P] [--migrate]   (the server, as make run starts it)
    portfolio migrate                                   (the database schema, to the latest)
    portfolio wallets add CHAIN ADDRESS [--label L] | list [--chain C] | remove ID | fetch ID
    portfolio portfolio                                 (the summary as tables)
    portfolio export > holdings.csv                     (stored balances, one row per token)
    portfolio webhooks add URL --events balances.changed,... [--description D] | list | remove ID
    portfolio keys create --tenant NAME [--read-only] [--json]
    portfolio keys list [--json]
    portfolio keys revoke ID
    portfolio worker        (runs scheduled refresh jobs; needs PORTFOLIO_REDIS_URL)
    portfolio scheduler     (kicks a refresh cycle every PORTFOLIO_REFRESH_INTERVAL_SECONDS)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar
from uuid import UUID

import typer

from portfolio.adapters.cache.announcements import NoRevocations, redis_revocations
from portfolio.adapters.cache.redis_client import create_redis
from portfolio.adapters.db.engine import create_engine, session_factory
from portfolio.adapters.db.keys import SqlApiKeyRepository
from portfolio.config import load_settings
from portfolio.domain.errors import ServiceUnavailableError
from portfolio.domain.keys import ApiKey
from portfolio.main import cli_holdings, cli_performance, cli_webhooks
from portfolio.main.container import SystemClock
from portfolio.ports.keys import Revocations
from portfolio.services.auth import KeyService

T = TypeVar("T")

app = typer.Typer(help="Run and use a portfolio service.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: each belongs to a tenant.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(cli_holdings.wallets_app, name="wallets")
app.add_typer(cli_webhooks.webhooks_app, name="webhooks")
app.command("portfolio")(cli_holdings.portfolio)
app.command("export")(cli_holdings.export)
app.command("performance")(cli_performance.performance)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@asynccontextmanager
async def _key_service() -> AsyncIterator[KeyService]:
    settings = load_settings()
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    revocations: Revocations = NoRevocations()
    redis = None
    if settings.redis_url:  # revocations are announced to every process through it
        redis = create_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
        revocations = redis_revocations(redis)
    try:
        keys = SqlApiKeyRepository(session_factory(engine))
        yield KeyService(keys, revocations, SystemClock())
    finally:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


def _run(work: Callable[[KeyService], Awaitable[T]]) -> T:
    async def main() -> T:
        async with _key_service() as service:
            return await work(service)

    try:
        return asyncio.run(main())
    except ServiceUnavailableError as exc:
        typer.echo(f"portfolio: {exc}", err=True)
        raise typer.Exit(3) from None


def _document(key: ApiKey) -> dict[str, Any]:
    return {
        "id": str(key.id),
        "tenant": key.tenant,
        "read_only": key.read_only,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }


@keys_app.command("create")
def create(
    tenant: Annotated[str, typer.Option(help="The tenant the key acts for.")],
    read_only: Annotated[bool, typer.Option("--read-only", help="Reads only.")] = False,
    first: Annotated[
        bool,
        typer.Option(
            "--first",
            help="Only if no key is active yet (a deployment's one-shot): else make none, "
            "say so and exit 0.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Make a key. Its text is shown this once; only a hash of it is kept."""

    async def make(service: KeyService) -> tuple[ApiKey, str] | None:
        if first and any(k.revoked_at is None for k in await service.list()):
            return None
        return await service.create(tenant, read_only=read_only)

    try:
        made = _run(make)
    except ValueError as exc:
        typer.echo(f"portfolio: {exc}", err=True)
        raise typer.Exit(2) from None
    if made is None:
        typer.echo("portfolio: an API key is active already; none made", err=True)
        return
    key, text = made
    if as_json:
        document = {k: v for k, v in _document(key).items() if k in ("id", "tenant", "read_only")}
        typer.echo(json.dumps({**document, "key": text}))
        return
    typer.echo(f"id:     {key.id}\ntenant: {key.tenant}{' (read-only)' if read_only else ''}")
    typer.echo(f"key:    {text}\nStore the key now: it cannot be shown again.")


@keys_app.command("list")
def list_keys(as_json: JsonOption = False) -> None:
    """Every key, revoked ones included (never their text)."""
    keys = _run(lambda service: service.list())
    if as_json:
        typer.echo(json.dumps([_document(k) for k in keys]))
        return
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        access = "read-only" if key.read_only else "read-write"
        typer.echo(f"{key.id}  {key.tenant:<20} {access:<10} {state}")


@keys_app.command("revoke")
def revoke(key_id: Annotated[UUID, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key: every process refuses it from now on."""
    if not _run(lambda service: service.revoke(key_id)):
        typer.echo(f"portfolio: no key {key_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Instead of PORTFOLIO_SERVE_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Instead of PORTFOLIO_SERVE_PORT.")] = None,
    migrate: Annotated[bool, typer.Option("--migrate", help="Migrate first.")] = False,
) -> None:
    """Serve the API (docs at /docs). On SIGTERM it drains: not ready at once, connections
    taken for PORTFOLIO_SHUTDOWN_DRAIN_SECONDS, then requests in flight finish."""
    # Imported here: the launcher makes SIGTERM end the process while it starts (see there).
    from portfolio.main import launch

    launch.serve(migrate_first=migrate, host=host, port=port)


@app.command("migrate")
def migrate() -> None:
    """Bring the database schema to the latest version (safe to run again)."""
    from portfolio.main.launch import migrate as upgrade

    upgrade()
    typer.echo("migrated")


@app.command("worker")
def worker() -> None:
    """Run scheduled refresh jobs from the queue in Redis; run as many as you like."""
    from portfolio.main.worker import run_worker  # the service's imports: only when asked

    asyncio.run(run_worker(load_settings()))


@app.command("scheduler")
def scheduler() -> None:
    """Queue a refresh of every wallet every interval; run exactly one."""
    from portfolio.main.worker import run_schedule

    asyncio.run(run_schedule(load_settings()))


if __name__ == "__main__":
    app()
