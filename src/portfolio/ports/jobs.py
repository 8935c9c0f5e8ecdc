"""Scheduled refresh work, as the job queue sees it: plan a cycle, run one job."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from portfolio.domain.jobs import JobReport, RefreshJob


class RefreshWork(Protocol):
    async def plan(self) -> Sequence[RefreshJob]:
        """The jobs of one cycle: every wallet of every tenant."""

    async def run(self, job: RefreshJob) -> JobReport:
        """Read and record the job's wallets (retrying a chain that cannot be read)."""
