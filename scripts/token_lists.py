"""Build the shipped EVM token lists (src/portfolio/data/<chain>-tokens.json) from well-kept,
permissively licensed token-list packages on npm, pinned in tools/token-lists/package.json:

- @eth-optimism/tokenlist (MIT): the Superchain Token List (Ethereum, OP Mainnet, Base);
- @metamask/contract-metadata (ISC): MetaMask's Ethereum ERC-20s;
- @yodlpay/tokenlists (MIT): tokens on every preset chain (Arbitrum, Polygon, BNB Chain too),
  its featured stablecoins first.

Every list is read, its entries checked (an address of 20 bytes, decimals 0..255, a symbol; no
stand-in for the native coin, which is read as the native coin, never as a token)
and merged per chain: the project's own curated Ethereum list first, then the packages in the
order above; an address listed twice keeps its first entry. Run by `make token-lists`; the
result is committed, so nothing is fetched at run or test time. Licences: data/NOTICE-token-lists.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "src" / "portfolio" / "data"
PACKAGES = ROOT / "tools" / "token-lists"
MODULES = PACKAGES / "node_modules"
CHAINS = {"ethereum": 1, "optimism": 10, "bsc": 56, "polygon": 137, "base": 8453,
          "arbitrum": 42161}  # fmt: skip
ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
# Addresses lists use for a chain's native coin: reading them as tokens would count it twice.
NATIVE_STAND_INS = {
    "0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
    "0x0000000000000000000000000000000000000000",
    "0xdeaddeaddeaddeaddeaddeaddeaddeaddead0000",  # OP Mainnet's legacy ETH
    "0x0000000000000000000000000000000000001010",  # Polygon's POL
}
SOURCES = ("@eth-optimism/tokenlist", "@metamask/contract-metadata", "@yodlpay/tokenlists")
CURATED = PACKAGES / "ethereum-curated.json"  # the project's own list, kept first


def _superchain() -> list[dict[str, Any]]:
    """The Superchain list ships as an ES module only: node prints it as JSON."""
    module = MODULES / "@eth-optimism" / "tokenlist" / "dist" / "index.mjs"
    script = f"import list from {json.dumps(str(module))}; console.log(JSON.stringify(list));"
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script], capture_output=True, text=True, check=True
    )
    return list(json.loads(done.stdout)["tokens"])


def _metamask() -> list[dict[str, Any]]:
    path = MODULES / "@metamask" / "contract-metadata" / "contract-map.json"
    entries = json.loads(path.read_text())
    return [
        {"chainId": 1, "address": address, **{k: v[k] for k in ("symbol", "name", "decimals")}}
        for address, v in entries.items()
        if v.get("erc20") and "decimals" in v and "symbol" in v
    ]


def _yodl() -> list[dict[str, Any]]:
    folder = MODULES / "@yodlpay" / "tokenlists" / "dist"
    return [
        token
        for name in ("tokenlist-featured.json", "tokenlist-generated.json")
        for token in json.loads((folder / name).read_text())["tokens"]
    ]


def _version(package: str) -> str:
    return str(json.loads((MODULES / package / "package.json").read_text())["version"])


def _entry(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The entry as shipped, or None when it is not a usable ERC-20 entry."""
    address, decimals, symbol = raw.get("address"), raw.get("decimals"), raw.get("symbol")
    if not isinstance(address, str) or not ADDRESS.match(address):
        return None
    if address.lower() in NATIVE_STAND_INS:
        return None
    if not isinstance(decimals, int) or not 0 <= decimals <= 255:
        return None
    if not isinstance(symbol, str) or not symbol.strip():
        return None
    name = raw.get("name") if isinstance(raw.get("name"), str) else symbol
    return {
        "chainId": int(raw["chainId"]),
        "address": address.lower(),
        "symbol": symbol.strip()[:32],
        "name": str(name).strip()[:128],
        "decimals": decimals,
    }


def build() -> dict[str, list[dict[str, Any]]]:
    sources = [json.loads(CURATED.read_text())["tokens"], _superchain(), _yodl(), _metamask()]
    by_chain: dict[int, dict[str, dict[str, Any]]] = {cid: {} for cid in CHAINS.values()}
    for source in sources:
        for raw in source:
            entry = _entry(raw)
            if entry is not None and entry["chainId"] in by_chain:
                by_chain[entry["chainId"]].setdefault(entry["address"], entry)
    return {name: list(by_chain[cid].values()) for name, cid in CHAINS.items()}


MIT = """Permission is hereby granted, free of charge, to any person obtaining a copy of this
software and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def _notice(versions: dict[str, str]) -> str:
    """Where the shipped lists come from, with each package's licence."""
    parts = [
        "# The shipped EVM token lists\n\n"
        "`<chain>-tokens.json` here are built by `make token-lists` (scripts/token_lists.py) "
        "from these packages, merged per chain after the project's own curated Ethereum list.\n"
    ]
    for package, version in versions.items():
        folder = MODULES / package
        manifest = json.loads((folder / "package.json").read_text())
        licence = folder / "LICENSE"
        if licence.exists():
            text = licence.read_text().strip()
        else:  # the package says MIT in its manifest and ships no licence file
            text = f"MIT License\n\nCopyright (c) {manifest.get('author', package)}\n\n{MIT}"
        parts.append(
            f"## {package} {version}\n\nLicence: {manifest['license']}. "
            f"Source: {manifest.get('homepage') or package}\n\n```\n{text.strip()}\n```\n"
        )
    return "\n".join(parts)


def main() -> None:
    subprocess.run(
        ["npm", "ci", "--prefix", str(PACKAGES), "--no-audit", "--no-fund", "--silent"],
        check=True,
    )  # fmt: skip
    versions = {p: _version(p) for p in SOURCES}
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z")
    for chain, tokens in build().items():
        document = {
            "name": f"portfolio {chain} tokens",
            "timestamp": stamp,
            "version": {"major": 2, "minor": 0, "patch": 0},
            "keywords": ["portfolio", "shipped"],
            "tokens": tokens,
        }
        (DATA / f"{chain}-tokens.json").write_text(json.dumps(document, indent=1) + "\n")
        print(f"{chain}: {len(tokens)} tokens", file=sys.stderr)
    (DATA / "NOTICE-token-lists.md").write_text(_notice(versions))
    print("from " + ", ".join(f"{p} {v}" for p, v in versions.items()), file=sys.stderr)


if __name__ == "__main__":
    main()
