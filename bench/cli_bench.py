"""The command line's start: `portfolio --help` and `--version` (target: under 0.5 s), beside
the interpreter starting with nothing to do and with the whole service imported, as a command
that runs imports it (the median of several runs of each, in separate processes)."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

RUNS = 7
TARGET_SECONDS = 0.5
CASES = [
    ("python, nothing imported (baseline)", ["-c", "pass"]),
    ("portfolio --version", ["-m", "portfolio.main.cli", "--version"]),
    ("portfolio --help", ["-m", "portfolio.main.cli", "--help"]),
    ("portfolio keys --help", ["-m", "portfolio.main.cli", "keys", "--help"]),
    ("the service imported", ["-c", "import portfolio.main.container"]),
]


async def _seconds(args: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert await process.wait() == 0, args
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def run() -> list[str]:
    lines = [f"command line start (median of {RUNS} runs, each a new process):"]
    baseline = 0.0
    for label, args in CASES:
        seconds = await _seconds(args)
        baseline = baseline or seconds
        verdict = ""
        if label in ("portfolio --help", "portfolio --version"):
            verdict = "  (target < 0.5 s: " + ("met)" if seconds < TARGET_SECONDS else "MISSED)")
        lines.append(
            f"  {label:<38} {seconds * 1000:7.0f} ms  x{seconds / baseline:5.1f} baseline{verdict}"
        )
    return lines
