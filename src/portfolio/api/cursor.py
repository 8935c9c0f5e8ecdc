"""Opaque page cursors: urlsafe base64 of the last item's (created_at, id)."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from uuid import UUID

from portfolio.domain.errors import InvalidCursorError
from portfolio.domain.wallet import WalletCursor


def encode_cursor(cursor: WalletCursor) -> str:
    raw = f"{cursor.created_at.isoformat()}|{cursor.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> WalletCursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        created, wallet_id = raw.split("|")
        at = datetime.fromisoformat(created)
        if at.tzinfo is None:
            raise ValueError("a time without a zone")
        # In UTC, as stored; a forged time whose UTC form leaves the years 1..9999 overflows.
        return WalletCursor(at.astimezone(UTC), UUID(wallet_id))
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidCursorError("Not a cursor this service issued.") from exc
