"""``portfolio``: the command line for people who run the service, on the same ``PORTFOLIO_*``
settings (environment or .env) as the service.

    portfolio serve [--host H] [--port P] [--migrate]   (the server, as make run starts it)
    portfolio migrate                                   (the database schema, to the latest)
    portfolio doctor                                    (settings, database, Redis, nodes)
    portfolio wallets add CHAIN ADDRESS [--label L] | list [--chain C] | remove ID | fetch ID
    portfolio portfolio                                 (the summary as tables)
    portfolio export > holdings.csv                     (stored balances, one row per token)
    portfolio performance                               (how the portfolio did, and why)
    portfolio webhooks add URL --events balances.changed,... [--description D] | list | remove ID
    portfolio keys create --tenant NAME [--read-only] [--json] | list [--json] | revoke ID
    portfolio worker        (runs scheduled refresh jobs; needs PORTFOLIO_REDIS_URL)
    portfolio scheduler     (kicks a refresh cycle every PORTFOLIO_REFRESH_INTERVAL_SECONDS)
    portfolio --version

Nothing heavy is imported to start: a command's modules (the web framework, the chains'
libraries, the database drivers) are imported when it runs, so ``--help`` and ``--version``
answer at once. The subcommands of other modules are listed by name and summary here and
imported only when one of them is asked for (``LazyGroup``).

Exit codes: 0 done, 1 not found or already there, 2 bad input or settings, 3 a dependency (the
database, Redis, a chain's nodes) unavailable: said in one line, never a traceback.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

# name: (module, attribute: a Typer app or a command function, summary for the help).
LAZY: dict[str, tuple[str, str, str]] = {
    "wallets": ("portfolio.main.cli_holdings", "wallets_app",
                "Wallets: one address on one chain each."),
    "portfolio": ("portfolio.main.cli_holdings", "portfolio",
                  "The portfolio's totals by chain, token and wallet."),
    "export": ("portfolio.main.cli_holdings", "export",
               "Stored balances (or history) as CSV, one row per wallet and token."),
    "performance": ("portfolio.main.cli_performance", "performance",
                    "How the portfolio did over a window, and why."),
    "webhooks": ("portfolio.main.cli_webhooks", "webhooks_app",
                 "Webhooks: events POSTed to a receiver."),
    "keys": ("portfolio.main.cli_keys", "keys_app", "API keys: each belongs to a tenant."),
}  # fmt: skip


class LazyGroup(TyperGroup):
    """The root group: the commands of LAZY are shown in the help by their summaries and
    imported only when one is run (or its own help asked for)."""

    def list_commands(self, ctx: Any) -> list[str]:  # (the click that typer carries)
        return [*super().list_commands(ctx), *LAZY]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in LAZY:  # for the help's list: a stand-in with the summary
            return TyperCommand(cmd_name, help=LAZY[cmd_name][2])
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: Any) -> Any:
        with dependency_failures():  # every command's
            return super().invoke(ctx)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name, command, rest = super().resolve_command(ctx, args)
        if name in LAZY:
            command = _load(name)
        return name, command, rest


def _load(name: str) -> Any:
    """The command of LAZY's ``name``, imported now."""
    module, attribute, _ = LAZY[name]
    target = getattr(importlib.import_module(module), attribute)
    if not isinstance(target, typer.Typer):  # a function: a command of its own
        target, function = typer.Typer(), target
        target.command(name)(function)
    command = typer.main.get_command(target)
    command.name = name
    return command


def _version(asked: bool) -> None:
    if asked:
        try:
            typer.echo(f"portfolio {version('portfolio')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("portfolio (not installed)")
        raise typer.Exit()


app = typer.Typer(
    cls=LazyGroup,
    help="Run and use a portfolio service.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.callback()
def main(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Run and use a portfolio service."""


@contextmanager
def dependency_failures() -> Iterator[None]:
    """A dependency that cannot be reached (the database, Redis, a node) ends the command
    with one line and exit code 3; the database's own refusals likewise, named by kind."""
    _quiet_closed_loop_threads()
    try:
        yield
    except Exception as exc:
        reason = _unavailable(exc)
        if reason is None:
            raise
        typer.echo(f"portfolio: {reason}", err=True)
        raise typer.Exit(3) from None


def _unavailable(exc: BaseException) -> str | None:
    """What to say of a dependency that failed, with its root cause, or None when ``exc`` is
    no such failure."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from portfolio.adapters.db.errors import outage_reason, wrapped_errors
    from portfolio.adapters.resilience import describe
    from portfolio.domain.errors import ServiceUnavailableError

    root = wrapped_errors(exc)[-1]  # the driver's or the socket's own error
    cause = "" if isinstance(root, ServiceUnavailableError) else f" ({describe(root)[:200]})"
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return f"Redis is not answering{cause}."
    reason = str(exc) if isinstance(exc, ServiceUnavailableError) else outage_reason(exc)
    return None if reason is None else f"{reason.rstrip('.')}{cause}."


def _quiet_closed_loop_threads() -> None:
    """A database driver's worker thread (aiosqlite's) may still answer a connection that
    failed after ``asyncio.run`` closed its loop, and print "Event loop is closed" with a
    traceback after the one line said: that, and only that, is not printed."""

    def closed_loop(error: BaseException | None) -> bool:
        while error is not None:
            if isinstance(error, RuntimeError) and str(error) == "Event loop is closed":
                return True
            error = error.__context__
        return False

    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if not closed_loop(args.exc_value):
            previous(args)

    threading.excepthook = hook


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


@app.command("doctor")
def doctor() -> None:
    """Check the settings, the database and its schema, Redis and every node of every chain;
    print what is wrong. Exit 0 when all is well, 2 on bad settings, 3 when something does
    not answer."""
    from portfolio.config import load_settings
    from portfolio.main.cli_doctor import diagnose, report

    findings = asyncio.run(diagnose(load_settings()))
    report(findings)
    if any(not finding.ok for finding in findings):
        raise typer.Exit(3)


@app.command("worker")
def worker() -> None:
    """Run scheduled refresh jobs from the queue in Redis; run as many as you like."""
    from portfolio.config import load_settings
    from portfolio.main.worker import run_worker

    asyncio.run(run_worker(load_settings()))


@app.command("scheduler")
def scheduler() -> None:
    """Queue a refresh of every wallet every interval; run exactly one."""
    from portfolio.config import load_settings
    from portfolio.main.worker import run_schedule

    asyncio.run(run_schedule(load_settings()))


if __name__ == "__main__":
    app(prog_name="portfolio", args=sys.argv[1:])
