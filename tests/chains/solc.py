"""Compile the test contracts with solc (the npm package pinned in tools/package.json)."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.databases import ROOT

CONTRACTS = Path(__file__).parent / "contracts"
NODE_MODULES = ROOT / "tools" / "node_modules"
_COMPILE = """
const solc = require('solc');
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => { process.stdout.write(solc.compile(input)); });
"""


@dataclass(frozen=True)
class Artifact:
    abi: list[dict[str, object]]
    bytecode: str  # creation code
    runtime: str  # deployed code, for anvil_setCode


@functools.cache
def compile_contracts() -> dict[str, Artifact]:
    sources = {p.name: {"content": p.read_text()} for p in sorted(CONTRACTS.glob("*.sol"))}
    request = {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": {"enabled": True, "runs": 200},
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
            },
        },
    }
    done = subprocess.run(
        ["node", "-e", _COMPILE],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
        timeout=300,
    )
    output = json.loads(done.stdout)
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise RuntimeError("\n".join(e["formattedMessage"] for e in errors))
    return {
        name: Artifact(
            abi=spec["abi"],
            bytecode="0x" + spec["evm"]["bytecode"]["object"],
            runtime="0x" + spec["evm"]["deployedBytecode"]["object"],
        )
        for contracts in output["contracts"].values()
        for name, spec in contracts.items()
    }
