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
    failures: list[TokenFailure] = field(default_factory=list)  # tokens the last read missed
    last_error: str | None = None  # set when the last fetch failed
    # Balances kept from an earlier read (their token failed since), by token key: when they
    # were read. Every other balance was read at ``as_of``.
    kept_as_of: dict[str, datetime] = field(default_factory=dict)

    def is_stale(self, now: datetime, max_age: timedelta) -> bool:
        """Older than ``max_age``, or the last fetch failed. A token that failed alone does
        not make the wallet stale: it is listed in ``failures`` and its kept balance carries
        its own time."""
        if self.as_of is None or self.last_error is not None:
            return True
        return now - self.as_of > max_age

    def balance_as_of(self, balance: TokenBalance) -> datetime | None:
        return self.kept_as_of.get(balance.token.key, self.as_of)
