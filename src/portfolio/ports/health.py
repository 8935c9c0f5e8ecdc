from __future__ import annotations

from typing import Protocol


class HealthCheck(Protocol):
    """One dependency readiness depends on."""

    @property
    def name(self) -> str: ...

    async def check(self) -> None:
        """Return when the dependency answers; raise otherwise."""
