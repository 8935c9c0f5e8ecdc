"""The container's first process: migrate (optionally), then serve, stopping promptly at any
moment. ``python -m portfolio.main.launch [--migrate]``.

PID 1 gets no default signal handling from the kernel: a shell, or Python still importing the
app (web3 takes a second or two), ignores SIGTERM, and a stop then waits for SIGKILL. So the
first thing done here, before any heavy import, is to make SIGTERM and SIGINT end the process;
once uvicorn serves, its own handlers take over and shut down gracefully."""

from __future__ import annotations

import signal
import sys
from types import FrameType


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)  # a stop that was asked for is a clean exit


signal.signal(signal.SIGTERM, _stop)
signal.signal(signal.SIGINT, _stop)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    from portfolio.config import load_settings  # after the handlers: the imports take time

    settings = load_settings()
    if "--migrate" in args:
        _migrate()
    import uvicorn

    uvicorn.run(
        "portfolio.main.app:create_app",
        factory=True,
        host=settings.serve_host,
        port=settings.serve_port,
        access_log=False,
        server_header=False,
        proxy_headers=True,
        forwarded_allow_ips=",".join(settings.forwarded_allow_ips),
        log_config=None,  # the app configures logging (loguru, scrubbed)
    )


def _migrate() -> None:
    from alembic import command
    from alembic.config import Config

    command.upgrade(Config("alembic.ini"), "head")


if __name__ == "__main__":
    main()
