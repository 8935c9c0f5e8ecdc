"""The server's first process (the image's, ``portfolio serve``'s, ``make run``'s): migrate
(optionally), then serve, stopping promptly at any moment and gracefully once serving.
``python -m portfolio.main.launch [--migrate] [--host H] [--port P]``.

PID 1 gets no default signal handling from the kernel: a shell, or Python still importing the
app (a second or two), ignores SIGTERM, and a stop then waits for SIGKILL. So the
first thing done here, before any heavy import, is to make SIGTERM and SIGINT end the process.

Once serving, a SIGTERM drains: readiness turns 503 at once, the listener keeps taking
connections for PORTFOLIO_SHUTDOWN_DRAIN_SECONDS (a load balancer stops sending when the probe
fails, not when the signal comes), then closes; requests in flight get
PORTFOLIO_SHUTDOWN_TIMEOUT_SECONDS to finish; then the app shuts down (pools and clients
closed). A second signal skips the rest of the drain; Ctrl-C (SIGINT: a person at a terminal,
no load balancer) does not wait for one."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import uvicorn


def _stop(_signum: int, _frame: FrameType | None) -> None:
    """A stop that was asked for is a clean exit, at once: raising SystemExit instead would
    unwind through whatever runs (an event loop of the migrations half torn down, say) and
    leave noise behind. Nothing is lost: a migration's transaction is rolled back by the
    database when the connection goes, and nothing serves yet."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


signal.signal(signal.SIGTERM, _stop)
signal.signal(signal.SIGINT, _stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m portfolio.main.launch")
    parser.add_argument("--migrate", action="store_true", help="migrate the database first")
    parser.add_argument("--host", help="instead of PORTFOLIO_SERVE_HOST")
    parser.add_argument("--port", type=int, help="instead of PORTFOLIO_SERVE_PORT")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    serve(migrate_first=args.migrate, host=args.host, port=args.port)


def serve(*, migrate_first: bool = False, host: str | None = None, port: int | None = None) -> None:
    from portfolio.config import load_settings  # after the handlers: the imports take time

    settings = load_settings()
    if migrate_first:
        migrate()
    import uvicorn

    config = uvicorn.Config(
        "portfolio.main.app:create_app",
        factory=True,
        host=host or settings.serve_host,
        port=port or settings.serve_port,
        access_log=False,
        server_header=False,
        proxy_headers=True,
        forwarded_allow_ips=",".join(settings.forwarded_allow_ips),
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        log_config=None,  # the app configures logging (loguru, scrubbed)
    )
    _draining_server(config, settings.shutdown_drain_seconds).run()


def _draining_server(config: uvicorn.Config, drain_seconds: float) -> uvicorn.Server:
    import uvicorn
    from loguru import logger

    from portfolio.services.lifecycle import STOPPING

    class DrainingServer(uvicorn.Server):
        """uvicorn's server, with the drain before its own graceful shutdown. uvicorn closes its
        listener the moment the signal comes and offers no delay, hence this subclass."""

        closes_at: float | None = None

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if (
                sig != signal.SIGTERM  # Ctrl-C: a person at a terminal, no load balancer
                or not self.started
                or self.closes_at is not None  # a second signal
                or drain_seconds <= 0
            ):
                super().handle_exit(sig, frame)
                return
            STOPPING.begin()
            self.closes_at = time.monotonic() + drain_seconds
            logger.info(
                "{}: not ready from now on; new connections taken for {} s more",
                signal.Signals(sig).name, drain_seconds,
            )  # fmt: skip

        async def on_tick(self, counter: int) -> bool:
            if self.closes_at is not None and time.monotonic() >= self.closes_at:
                self.should_exit = True
            return await super().on_tick(counter)

    return DrainingServer(config)


def migrate() -> None:
    """The schema to the latest revision, on PORTFOLIO_DATABASE_URL."""
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config(str(_alembic_ini())), "head")


def _alembic_ini() -> Path:
    """The checkout's (an editable install, wherever the command runs), else the working
    directory's (the image's /app, beside its migrations)."""
    checkout = Path(__file__).resolve().parents[3] / "alembic.ini"
    return checkout if checkout.is_file() else Path("alembic.ini")


if __name__ == "__main__":
    main()
