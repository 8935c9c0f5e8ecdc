"""The locks: requirements-dev.lock (runtime, development and build dependencies) and
requirements.lock (runtime and build only, the subset `make run` and the image install), both
resolved by uv from pyproject.toml in one resolution, every version pinned with its hashes.

    python3 scripts/lock.py UV [--upgrade]   write both locks (make lock)
    python3 scripts/lock.py --check          exit 1 with one line when they no longer match

Requirement files rather than uv.lock: they name no index (`--no-emit-index-url`), so the
locks install from whichever index the machine is set up for, and pip can read them too.
Each lock starts with a digest of the requirements it was made from (the project's
dependencies, its dev extra, its build requirements and its Python range), so a change to
pyproject.toml without `make lock` is found before anything is installed, offline."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("requirements-dev.lock", "requirements.lock")
MARK = "# pyproject.toml requirements sha256: "
COMPILE = ["pip", "compile", "--universal", "--python-version", "3.11", "--generate-hashes",
           "--no-emit-index-url", "--quiet", "--custom-compile-command", "make lock"]  # fmt: skip


def digest() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = {
        "build": project["build-system"]["requires"],
        "dependencies": project["project"]["dependencies"],
        "extras": project["project"].get("optional-dependencies", {}),
        "python": project["project"]["requires-python"],
    }
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()


def check() -> int:
    expected = digest()
    for name in LOCKS:
        path = ROOT / name
        first = path.read_text().splitlines()[0] if path.exists() else ""
        if first != MARK + expected:
            print(
                f"portfolio: {name} does not match pyproject.toml: run `make lock` and commit "
                "the locks",
                file=sys.stderr,
            )
            return 1
    return 0


def write(uv: str, upgrade: bool) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    # The build backend is locked too (read from standard input, "-"): the project installs
    # without build isolation, so nothing unpinned is fetched to build it.
    build = "\n".join(project["build-system"]["requires"]) + "\n"
    inputs = ["pyproject.toml", "-"]
    upgrading = ["--upgrade"] if upgrade else []
    # The full set first (an existing lock's pins are kept unless upgrading), then the runtime
    # subset held to the same versions.
    dev, runtime = LOCKS
    for name, extra in ((dev, [*upgrading, "--extra", "dev"]), (runtime, ["-c", dev])):
        subprocess.run(
            [uv, *COMPILE, *extra, *inputs, "-o", name], input=build, text=True, cwd=ROOT,
            check=True,
        )  # fmt: skip
    mark = MARK + digest()
    for name in LOCKS:
        path = ROOT / name
        text = path.read_text()
        lines = text.splitlines(keepends=True)
        if lines and lines[0].startswith(MARK):
            lines = lines[1:]
        path.write_text(mark + "\n" + "".join(lines))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--check"]:
        return check()
    if not argv:
        print("usage: lock.py UV [--upgrade] | --check", file=sys.stderr)
        return 2
    write(argv[0], "--upgrade" in argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
