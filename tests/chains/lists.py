"""Token lists as the service reads them, written for tests and benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

from portfolio.domain.tokens import Token


def write_list(path: Path, chain_id: int, tokens: list[Token]) -> str:
    """``tokens`` as a token list of ``chain_id`` at ``path``; the path, for a setting."""
    entries = [
        {"chainId": chain_id, "address": t.address, "symbol": t.symbol, "name": t.name,
         "decimals": t.decimals}
        for t in tokens
    ]  # fmt: skip
    path.write_text(json.dumps({"name": "test", "tokens": entries}))
    return str(path)
