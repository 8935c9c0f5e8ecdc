"""API keys. A key is shown once, when it is made; only a hash of its secret is kept.

A key reads ``pf_<id>_<secret>``: the id finds the stored key without searching by the secret,
and the secret's hash is then compared in constant time. The secret carries 256 random bits, so
a fast hash (SHA-256) is enough: there is nothing to guess that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

_PRESENTED = re.compile(r"pf_([0-9a-f]{32})_([A-Za-z0-9_-]{43})")
_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: UUID
    tenant: str
    read_only: bool
    secret_hash: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def opens_with(self, secret: str) -> bool:
        """Whether ``secret`` is this key's, compared in constant time."""
        return hmac.compare_digest(self.secret_hash, hash_secret(secret))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for."""

    tenant: str
    read_only: bool = False
    key_id: UUID | None = None  # None when keys are not required


def new_key(tenant: str, read_only: bool, now: datetime) -> tuple[ApiKey, str]:
    """A new key and its text, which is shown once and never stored."""
    if not _TENANT.fullmatch(tenant):
        raise ValueError(
            "A tenant is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    key_id, secret = uuid4(), secrets.token_urlsafe(32)
    return ApiKey(key_id, tenant, read_only, hash_secret(secret), now), f"pf_{key_id.hex}_{secret}"


def parse_presented(text: str) -> tuple[UUID, str] | None:
    """(key id, secret) of a presented key; None when it is not shaped like one."""
    match = _PRESENTED.fullmatch(text)
    if match is None:
        return None
    return UUID(hex=match.group(1)), match.group(2)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
