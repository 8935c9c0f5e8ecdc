"""Run every benchmark and print its figures."""

from __future__ import annotations

import asyncio
import sys

from loguru import logger

from bench import evm_bench, solana_bench


async def main() -> None:
    logger.remove()
    logger.add(sys.stderr, level="ERROR")
    for bench in (evm_bench, solana_bench):
        for line in await bench.run():
            print(line, flush=True)
        print(flush=True)


if __name__ == "__main__":
    asyncio.run(main())
