"""Scheduled refresh work, as the job queue sees it: plan a cycle, run one job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from portfolio.domain.jobs import BatchProgress, JobReport, RefreshJob


class RefreshWork(Protocol):
    async def plan(self) -> Sequence[RefreshJob]:
        """The jobs of one cycle: every wallet of every tenant."""

    async def run(self, job: RefreshJob) -> JobReport:
        """Read and record the job's wallets (retrying a chain that cannot be read)."""

    async def batch_finished(self, batch: BatchProgress) -> None:
        """A tenant's batch has run its last job (its ``refresh.completed`` event)."""

    async def upkeep(self) -> None:
        """Once a cycle, after planning it: history kept within its retention, in bounded
        rounds (never raises)."""


class RefreshQueue(Protocol):
    """Where a refresh too big to answer at once goes: the workers' queue, or this process."""

    async def submit(self, tenant: str, jobs: Sequence[RefreshJob]) -> BatchProgress:
        """Queue the jobs as one batch of the tenant's."""

    async def progress(self, tenant: str, batch_id: str) -> BatchProgress | None:
        """The tenant's batch; None when there is none (or it is another tenant's)."""
