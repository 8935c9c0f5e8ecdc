"""WalletBalances to and from cache bytes (JSON; raw amounts as digit strings)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from portfolio.domain.balances import WalletBalances
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Token, TokenBalance, TokenFailure


def encode_balances(snapshot: WalletBalances) -> bytes:
    return json.dumps(
        {
            "wallet_id": str(snapshot.wallet_id),
            "as_of": snapshot.as_of.isoformat() if snapshot.as_of else None,
            "balances": [{"token": _token(b.token), "raw": str(b.raw)} for b in snapshot.balances],
            "failures": [{"token": _token(f.token), "reason": f.reason} for f in snapshot.failures],
        },
        separators=(",", ":"),
    ).encode()


def decode_balances(data: bytes) -> WalletBalances:
    doc = json.loads(data)
    return WalletBalances(
        wallet_id=UUID(doc["wallet_id"]),
        balances=[TokenBalance(_untoken(b["token"]), int(b["raw"])) for b in doc["balances"]],
        as_of=datetime.fromisoformat(doc["as_of"]) if doc["as_of"] else None,
        failures=[TokenFailure(_untoken(f["token"]), f["reason"]) for f in doc["failures"]],
    )


def _token(token: Token) -> list[Any]:
    return [token.chain.value, token.address, token.symbol, token.name, token.decimals,
            token.verified]  # fmt: skip


def _untoken(fields: list[Any]) -> Token:
    chain, address, symbol, name, decimals, verified = fields
    return Token(Chain(chain), address, symbol, name, int(decimals), bool(verified))
