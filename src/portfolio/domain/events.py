"""What the service tells a tenant's receivers (webhooks and live streams) happened.

An event is written to the outbox in the transaction of the change that caused it, so there is
none for a change rolled back and none lost when a process dies after the commit. Its ``id`` is
unique and stays the same on every delivery of it (a receiver drops what it has seen); its
``data`` is JSON as sent, amounts as strings (exact)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import uuid4

from portfolio.domain.amounts import Amount
from portfolio.domain.tokens import Token


class EventType(StrEnum):
    BALANCES_CHANGED = "balances.changed"
    PORTFOLIO_CHANGED = "portfolio.changed"
    WALLET_READ_FAILED = "wallet.read_failed"
    REFRESH_COMPLETED = "refresh.completed"


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: EventType
    tenant: str
    at: datetime
    data: dict[str, Any]

    @classmethod
    def new(cls, kind: EventType, tenant: str, at: datetime, data: dict[str, Any]) -> Event:
        return cls(new_event_id(), kind, tenant, at, data)


def new_event_id() -> str:
    return f"evt_{uuid4().hex}"


def token_data(token: Token) -> dict[str, Any]:
    """A token as events show it (as the API's token object does)."""
    return {
        "chain": token.chain.value,
        "address": token.address,
        "symbol": token.symbol,
        "name": token.name,
        "decimals": token.decimals,
    }


def amount_data(amount: Amount) -> dict[str, str]:
    """An amount as raw base units and as tokens, both exact strings."""
    return {"raw": str(amount.raw), "amount": str(amount)}


def balance_change(token: Token, before: Amount, after: Amount) -> dict[str, Any]:
    """One token of a ``balances.changed`` event: 0 before a first sight, 0 after it went."""
    return {"token": token_data(token), "before": amount_data(before), "after": amount_data(after)}


def read_failed(
    wallet_id: object, chain: str, address: str, label: str | None, failures: int, reason: str
) -> dict[str, Any]:
    """A ``wallet.read_failed`` event's data. The reason is told only as a kind (``timeout``,
    ``rate_limited``, ``unavailable``): a node's own words may carry its URL or key."""
    said = reason.lower()
    kind = "unavailable"
    if "timed out" in said or "timeout" in said:
        kind = "timeout"
    elif "429" in said or "rate limit" in said or "too many requests" in said:
        kind = "rate_limited"
    return {"wallet_id": str(wallet_id), "chain": chain, "address": address, "label": label,
            "failures": failures, "reason": kind}  # fmt: skip
