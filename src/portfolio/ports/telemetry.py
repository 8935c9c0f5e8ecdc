"""What the use cases report for the operator's metrics."""

from __future__ import annotations

from typing import Protocol

from portfolio.domain.chains import Chain


class Telemetry(Protocol):
    def cache_lookup(self, kind: str, hits: int, misses: int) -> None:
        """Lookups of one ``kind`` of cached thing (balances, prices, portfolio)."""

    def refreshed(
        self, chain: Chain, trigger: str, seconds: float, refreshed: int, failed: int
    ) -> None:
        """One read-and-record of a chain's wallets (``trigger``: fetch, refresh or job)."""

    def job_done(self, failed: bool) -> None:
        """A scheduled job ran (``failed``: its chain could not be read at all)."""

    def delivery(self, outcome: str, seconds: float) -> None:
        """A webhook delivery try (``delivered``, ``failed``, ``refused``)."""

    def webhook_disabled(self) -> None:
        """A webhook was disabled for failing too long."""

    def oldest_undelivered_age(self, seconds: float | None) -> None:
        """Age of the oldest webhook message still to deliver."""

    def stream_clients(self, transport: str, change: int) -> None:
        """A live stream client connected (+1) or left (-1)."""
