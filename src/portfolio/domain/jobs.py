"""Refresh jobs: every wallet of every tenant, read on a schedule in jobs of a bounded number
of wallets of one chain, which workers share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from portfolio.domain.chains import Chain
from portfolio.domain.wallet import Wallet

# A job runs for at most its time bound; its wallets stay claimed, and its queued message
# unclaimed by others, for this many times the bound: a job silent that long lost its worker.
TAKEOVER_AFTER = 1.25


@dataclass(frozen=True, slots=True)
class RefreshJob:
    chain: Chain
    wallet_ids: tuple[UUID, ...]


@dataclass(frozen=True, slots=True)
class JobReport:
    """What one job did: wallets refreshed and failed (per wallet, or the chain as a whole),
    and those left to the worker that was reading them already."""

    chain: Chain
    refreshed: int
    failed: int
    skipped: int
    seconds: float


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """A refresh handed to the workers (``POST /portfolio/refresh`` over many wallets): how far
    its jobs have come."""

    batch_id: str
    tenant: str
    jobs: int
    done: int = 0
    refreshed: int = 0
    failed: int = 0

    @property
    def finished(self) -> bool:
        return self.done >= self.jobs


def plan_jobs(wallets: Iterable[Wallet], job_size: int) -> list[RefreshJob]:
    """Jobs of at most ``job_size`` wallets, one chain each. An address tracked by several
    tenants is planned once: reading it reads and records every tenant's wallet at it."""
    if job_size < 1:
        raise ValueError("a job holds at least one wallet")
    by_chain: dict[Chain, dict[str, UUID]] = {}
    for wallet in wallets:
        by_chain.setdefault(wallet.chain, {}).setdefault(wallet.address, wallet.id)
    jobs = []
    for chain in sorted(by_chain, key=lambda c: c.value):
        ids = list(by_chain[chain].values())
        jobs += [
            RefreshJob(chain, tuple(ids[start : start + job_size]))
            for start in range(0, len(ids), job_size)
        ]
    return jobs
