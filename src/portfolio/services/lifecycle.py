"""The process's own part in readiness: from the moment it is asked to stop, it is not ready.

A load balancer (a Kubernetes Service, nginx) keeps sending to a replica until its readiness
probe fails; a replica that closed its listener at the signal would refuse requests still on
their way. So on SIGTERM the launcher marks the process as stopping, readiness turns 503 at
once, and the listener stays open for PORTFOLIO_SHUTDOWN_DRAIN_SECONDS before it closes."""

from __future__ import annotations

from portfolio.domain.errors import NotReadyError


class Stopping:
    """A readiness check (critical) that fails once ``begin`` is called."""

    name = "shutdown"
    instant = True  # asked at every probe: readiness fails at once when stopping

    def __init__(self) -> None:
        self.stopping = False

    def begin(self) -> None:
        self.stopping = True

    async def check(self) -> None:
        if self.stopping:
            raise NotReadyError("shutting down: draining before the listener closes")


# One per process: the launcher's signal handler marks it, the readiness probe reads it.
STOPPING = Stopping()
