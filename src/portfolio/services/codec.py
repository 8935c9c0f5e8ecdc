"""WalletBalances to and from cache bytes (JSON; raw amounts as digit strings)."""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

from portfolio.domain.balances import WalletBalances
from portfolio.domain.tokens import TokenBalance, TokenFailure, token_fields, token_of


def encode_balances(snapshot: WalletBalances) -> bytes:
    return json.dumps(
        {
            "wallet_id": str(snapshot.wallet_id),
            "as_of": snapshot.as_of.isoformat() if snapshot.as_of else None,
            "balances": [
                {"token": token_fields(b.token), "raw": str(b.raw)} for b in snapshot.balances
            ],
            "failures": [
                {"token": token_fields(f.token), "reason": f.reason} for f in snapshot.failures
            ],
            "last_error": snapshot.last_error,
            "kept_as_of": {key: at.isoformat() for key, at in snapshot.kept_as_of.items()},
        },
        separators=(",", ":"),
    ).encode()


def decode_balances(data: bytes) -> WalletBalances:
    doc = json.loads(data)
    return WalletBalances(
        wallet_id=UUID(doc["wallet_id"]),
        balances=[TokenBalance(token_of(b["token"]), int(b["raw"])) for b in doc["balances"]],
        as_of=datetime.fromisoformat(doc["as_of"]) if doc["as_of"] else None,
        failures=[TokenFailure(token_of(f["token"]), f["reason"]) for f in doc["failures"]],
        last_error=doc.get("last_error"),
        kept_as_of={
            key: datetime.fromisoformat(at) for key, at in doc.get("kept_as_of", {}).items()
        },
    )
