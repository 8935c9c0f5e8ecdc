"""Run every benchmark and print its figures."""

from __future__ import annotations

import asyncio
import sys

from loguru import logger

from bench import (
    api_bench,
    cli_bench,
    discovery_bench,
    events_bench,
    evm_bench,
    history_bench,
    performance_bench,
    scale_bench,
    solana_bench,
)

BENCHES = {
    "evm": evm_bench,
    "discovery": discovery_bench,
    "solana": solana_bench,
    "api": api_bench,
    "history": history_bench,
    "scale": scale_bench,
    "events": events_bench,
    "performance": performance_bench,
    "cli": cli_bench,
}


async def main() -> None:
    """`python -m bench [evm] [discovery] [solana] [api] [history] [scale] [events]
    [performance] [cli]`: the named ones, or all."""
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    chosen = [BENCHES[name] for name in sys.argv[1:]] or list(BENCHES.values())
    for bench in chosen:
        for line in await bench.run():
            print(line, flush=True)
        print(flush=True)


if __name__ == "__main__":
    asyncio.run(main())
