"""Tokens that wallets received, found in ERC-20 ``Transfer`` logs.

One ``eth_getLogs`` asks for the logs whose topic0 is ``Transfer`` and whose topic2 (the
receiver) is any of a list of watched addresses, over a range of blocks. Nodes bound both: the
blocks of a range, the results of an answer, and sometimes the addresses of a topic list, and
they say so in an error whose code differs from node to node (its message does not much). So a
refused query is asked again in halves (of its addresses when the node says they were too many,
else of its blocks while it spans more than one), and the sizes that worked are the next
queries' sizes: once learnt, N addresses over B blocks cost ceil(B / blocks) x
ceil(N / addresses) requests.

Written here rather than taken from web3's ``get_logs``: that sends one query and raises on a
refusal; the splitting and the sizes learnt across scans are what this module is for.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from eth_utils.crypto import keccak

from portfolio.adapters.chains.jsonrpc import chunked
from portfolio.adapters.resilience import UpstreamError
from portfolio.domain.errors import ChainUnavailableError
from portfolio.domain.tokens import Received

TRANSFER_TOPIC = "0x" + keccak(b"Transfer(address,address,uint256)").hex()
FIRST_ADDRESSES = 500  # watched addresses in one query until a node refuses as many
FIRST_BLOCKS = 2_000  # blocks in one query until a node refuses as many

# What nodes answer for a query they will not run: geth's "query returned more than 10000
# results", Infura's and Alchemy's "block range is too large" / "Log response size exceeded",
# QuickNode's "eth_getLogs is limited to a 10,000 range"; and for too long a list of addresses,
# "too many topics" or "too many addresses".
REFUSALS = re.compile(
    r"more than \d+ results|too many (results|logs)|range (is )?too (large|wide)"
    r"|(block )?range .*(limit|exceed|maximum|max)|(response|result) size|limited to"
    r"|exceed(s|ed)? .*(range|results|limit)",
    re.IGNORECASE,
)
TOO_MANY_ADDRESSES = re.compile(r"too many (topics|addresses)|(topics|addresses) .*(limit|exceed)",
                                re.IGNORECASE)  # fmt: skip


class LogsRefusedError(Exception):
    """The node would not answer the query as asked: too many blocks or results, or (with
    ``addresses``) too many addresses."""

    def __init__(self, message: str, *, addresses: bool = False) -> None:
        super().__init__(message)
        self.addresses = addresses


def refused(message: str) -> bool:
    """Whether a node's error message refuses a log query for its size."""
    return REFUSALS.search(message) is not None or too_many_addresses(message)


def too_many_addresses(message: str) -> bool:
    """Whether it refuses the query for its list of addresses."""
    return TOO_MANY_ADDRESSES.search(message) is not None


def topic_of(address: str) -> str:
    """An address as a 32-byte topic (left-padded)."""
    return "0x" + address.lower().removeprefix("0x").rjust(64, "0")


def transfer_query(start: int, end: int, addresses: Sequence[str]) -> dict[str, Any]:
    """The ``eth_getLogs`` filter: transfers to any of ``addresses`` in blocks start..end."""
    return {
        "fromBlock": hex(start),
        "toBlock": hex(end),
        "topics": [TRANSFER_TOPIC, None, [topic_of(address) for address in addresses]],
    }


def received(logs: Any) -> list[Received]:
    """The ERC-20 transfers of an ``eth_getLogs`` answer. A log with another number of topics
    is not an ERC-20 transfer (ERC-721 indexes its token id too) and is left out; an answer
    that is not a list of logs is the node's fault."""
    if not isinstance(logs, list):
        raise UpstreamError(f"eth_getLogs answered no list: {str(logs)[:80]}")
    found = []
    for log in logs:
        try:
            topics, token, block = log["topics"], log["address"], log["blockNumber"]
            if log.get("removed") or len(topics) != 3 or topics[0].lower() != TRANSFER_TOPIC:
                continue
            wallet = "0x" + topics[2][-40:].lower()
            found.append(Received(token.lower(), wallet, int(block, 16)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UpstreamError(f"eth_getLogs answered a malformed log: {str(log)[:80]}") from exc
    return found


Send = Callable[[int, int, Sequence[str]], Awaitable[list[Received]]]


class TransferScanner:
    """Scans block ranges for transfers to watched addresses with ``send`` (one query: first
    block, last block, addresses; LogsRefusedError when the node will not answer it), at the
    largest sizes that worked so far."""

    def __init__(
        self, send: Send, *, blocks: int = FIRST_BLOCKS, addresses: int = FIRST_ADDRESSES
    ) -> None:
        self._send = send
        self.blocks = blocks
        self.addresses = addresses

    async def scan(self, start: int, end: int, wallets: Sequence[str]) -> list[Received]:
        """Every transfer to ``wallets`` in blocks ``start`` to ``end`` (both included), in
        block order."""
        found: list[Received] = []
        watched = sorted({wallet.lower() for wallet in wallets})
        first = start
        while first <= end and watched:
            last = min(end, first + self.blocks - 1)
            done = 0
            while done < len(watched):
                group = watched[done : done + self.addresses]
                found += await self._range(first, last, group)
                done += len(group)
            first = last + 1
        return sorted(found, key=lambda r: (r.block, r.token, r.wallet))

    async def _range(self, first: int, last: int, group: list[str]) -> list[Received]:
        """One query, or (refused) the same in parts of half its size: of its addresses when
        the node says they were too many (or the query spans one block), else of its blocks;
        the smaller size is kept for the queries after it."""
        try:
            return await self._send(first, last, group)
        except LogsRefusedError as refusal:
            found: list[Received] = []
            if (refusal.addresses or last == first) and len(group) > 1:
                self.addresses = min(self.addresses, len(group) // 2)
                for part in list(chunked(group, self.addresses)):
                    found += await self._range(first, last, part)
                return found
            if last > first:
                size = self.blocks = min(self.blocks, (last - first + 1) // 2)
                for start in range(first, last + 1, size):  # (a part may shrink it further)
                    found += await self._range(start, min(last, start + size - 1), group)
                return found
            raise ChainUnavailableError(
                f"the node refuses the logs of one address in block {first}"
            ) from None
