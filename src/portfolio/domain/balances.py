"""A wallet's stored balances, as served."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from portfolio.domain.tokens import TokenBalance, TokenFailure


@dataclass(frozen=True, slots=True)
class WalletBalances:
    wallet_id: UUID
    balances: list[TokenBalance]
    as_of: datetime | None  # when the chain was last read successfully; None if never
    failures: list[TokenFailure] = field(default_factory=list)
    last_error: str | None = None  # set when the last fetch failed

    def is_stale(self, now: datetime, max_age: timedelta) -> bool:
        if self.as_of is None or self.last_error is not None or self.failures:
            return True
        return now - self.as_of > max_age
