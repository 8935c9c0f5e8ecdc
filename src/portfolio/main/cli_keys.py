"""``portfolio keys``: API keys, each acting for one tenant, on the service's settings."""

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
from portfolio.main.container import SystemClock
from portfolio.ports.keys import Revocations
from portfolio.services.auth import KeyService

T = TypeVar("T")

keys_app = typer.Typer(help="API keys: each belongs to a tenant.", no_args_is_help=True)
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
