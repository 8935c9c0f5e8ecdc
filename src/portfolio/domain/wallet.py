"""The Wallet aggregate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from portfolio.domain.addresses import normalize_address
from portfolio.domain.chains import Chain
from portfolio.domain.errors import InvalidLabelError

LABEL_MAX_LENGTH = 100
DEFAULT_TENANT = "default"  # the tenant of a service without API keys, and of older rows


def normalize_label(label: str | None) -> str | None:
    """Trim a label; an empty one is no label. At most 100 characters, no control characters."""
    if label is None:
        return None
    label = label.strip()
    if not label:
        return None
    if len(label) > LABEL_MAX_LENGTH:
        raise InvalidLabelError(f"A label is at most {LABEL_MAX_LENGTH} characters.")
    if any(not ch.isprintable() for ch in label):
        raise InvalidLabelError("A label may not contain control characters.")
    return label


@dataclass(frozen=True, slots=True)
class Wallet:
    id: UUID
    chain: Chain
    address: str
    label: str | None
    created_at: datetime
    updated_at: datetime
    tenant: str = DEFAULT_TENANT  # whose wallet it is; no other tenant ever sees it
    name: str | None = None  # the ENS name it was added by (normalised), if it was
    ens_name: str | None = None  # its address's primary ENS name, verified forward

    @classmethod
    def create(
        cls,
        chain: Chain,
        address: str,
        label: str | None,
        now: datetime,
        tenant: str = DEFAULT_TENANT,
        name: str | None = None,
    ) -> Wallet:
        return cls(
            id=uuid4(),
            chain=chain,
            address=normalize_address(chain, address),
            label=normalize_label(label),
            created_at=now,
            updated_at=now,
            tenant=tenant,
            name=name,
        )


@dataclass(frozen=True, slots=True)
class WalletCursor:
    """A position in the stable wallet order (creation time, then id)."""

    created_at: datetime
    id: UUID

    @classmethod
    def after(cls, wallet: Wallet) -> WalletCursor:
        return cls(wallet.created_at, wallet.id)


@dataclass(frozen=True, slots=True)
class WalletPage:
    items: list[Wallet]
    next_cursor: WalletCursor | None
