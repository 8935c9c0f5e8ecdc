"""Transfers found in ERC-20 logs, against a real anvil node: only transfers to the watched
wallets, only ERC-20 ones, every one however the node bounds its queries, and at the stated
number of requests once the scanner has learnt the node's bounds."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio.adapters.chains.evm import Web3ChainReader
from portfolio.adapters.chains.evm_logs import (
    TRANSFER_TOPIC,
    LogsRefusedError,
    TransferScanner,
    received,
    refused,
    topic_of,
)
from portfolio.adapters.resilience import CallPolicy, UpstreamError
from portfolio.config import MULTICALL3
from portfolio.domain.errors import ChainUnavailableError
from portfolio.domain.tokens import Received
from tests.chains.anvil import CHAIN_ID, AnvilNode, running_anvil
from tests.rpcproxy import RpcProxy

FAST = CallPolicy(timeout_seconds=5, attempts=2, backoff_seconds=0.01, backoff_max_seconds=0.05)
WATCHED = [f"0x{n:040x}" for n in range(0x1000, 0x1000 + 9)]
STRANGER = "0x" + "ab" * 20
MINT = "mint(address,uint256)"


@dataclass
class Sent:
    node: AnvilNode
    expected: list[Received]  # what was sent to the watched wallets, as the scan must find it
    head: int


@pytest.fixture(scope="module")
async def sent() -> AsyncIterator[Sent]:
    """Two tokens sent to each watched wallet over a few dozen blocks, one also to a stranger;
    a collectible (ERC-721's four-topic Transfer) sent to a watched wallet."""
    async with running_anvil() as node:
        first = await node.deploy("TestToken", ["string", "string", "uint8"], ["A", "A", 18])
        second = await node.deploy("TestToken", ["string", "string", "uint8"], ["B", "B", 6])
        collectible = await node.deploy("CollectibleToken", [], [])
        expected = []
        for n, wallet in enumerate(WATCHED):
            token = first if n % 2 else second
            await node.transact(token, MINT, ["address", "uint256"], [wallet, n + 1])
            block = int(await node.rpc("eth_blockNumber"), 16)
            expected.append(Received(token.lower(), wallet, block))
            await node.rpc("anvil_mine", hex(3))  # blocks with nothing between
        await node.transact(first, MINT, ["address", "uint256"], [STRANGER, 5])
        await node.transact(collectible, MINT, ["address", "uint256"], [WATCHED[0], 7])
        head = int(await node.rpc("eth_blockNumber"), 16)
        yield Sent(node, expected, head)


def reader_of(url: str) -> Web3ChainReader:
    return Web3ChainReader.from_urls([url], {CHAIN_ID: []}, MULTICALL3, FAST)


async def test_transfers_to_the_watched_wallets_are_found(sent: Sent) -> None:
    chain = reader_of(sent.node.url)
    try:
        assert await chain.head() == sent.head
        found = await TransferScanner(chain.transfers).scan(0, sent.head, WATCHED)
        one = await TransferScanner(chain.transfers).scan(0, sent.head, WATCHED[:1])
    finally:
        await chain.close()
    assert found == sent.expected  # not the stranger's, not the collectible
    assert one == sent.expected[:1]


async def test_a_node_that_bounds_its_queries_gets_them_in_parts(sent: Sent) -> None:
    """A node refusing more than 10 blocks or 4 addresses a query: everything is still found,
    and once the scanner has learnt those bounds a scan costs ceil(B / 10) x ceil(N / 4)."""

    def refuse(method: str, params: list[Any]) -> str | None:
        if method != "eth_getLogs":
            return None
        query = params[0]
        blocks = int(query["toBlock"], 16) - int(query["fromBlock"], 16) + 1
        if blocks > 10:
            return "query exceeds max block range 10"
        if len(query["topics"][2]) > 4:
            return "too many topics in filter"
        return None

    async with RpcProxy(sent.node.url) as proxy:
        proxy.refuse = refuse
        chain = reader_of(proxy.url)
        scanner = TransferScanner(chain.transfers, blocks=1_000, addresses=500)
        try:
            found = await scanner.scan(0, sent.head, WATCHED)
            assert found == sent.expected
            assert scanner.blocks <= 10  # halved until answered
            assert scanner.addresses == 4
            proxy.methods.clear()
            again = await scanner.scan(0, sent.head, WATCHED)
        finally:
            await chain.close()
    assert again == sent.expected
    stated = math.ceil((sent.head + 1) / scanner.blocks) * math.ceil(len(WATCHED) / 4)
    assert proxy.methods.count("eth_getLogs") == stated


async def test_a_node_that_refuses_even_one_block_of_one_address_is_an_error(
    sent: Sent,
) -> None:
    async with RpcProxy(sent.node.url) as proxy:
        proxy.refuse = lambda method, _: "Log response size exceeded" if method else None
        chain = reader_of(proxy.url)
        try:
            with pytest.raises(ChainUnavailableError, match="refuses"):
                await TransferScanner(chain.transfers).scan(0, 3, WATCHED[:2])
        finally:
            await chain.close()


@pytest.mark.parametrize(
    "message",
    [
        "query returned more than 10000 results",
        "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block "
        "range and no limit on the response size",
        "block range is too large",
        "eth_getLogs is limited to a 10,000 range",
        "exceed maximum block range: 5000",
        "too many topics",
    ],
)
def test_what_nodes_say_when_a_query_is_too_large_is_a_refusal(message: str) -> None:
    assert refused(message)


@pytest.mark.parametrize("message", ["execution reverted", "rate limit exceeded", "bad request"])
def test_other_errors_are_no_refusal(message: str) -> None:
    assert not refused(message)


def test_only_erc20_transfers_that_stand_are_read_and_a_malformed_log_is_an_error() -> None:
    wallet, token = WATCHED[0], "0x" + "cd" * 20

    def log(*topics: str, removed: bool = False) -> dict[str, Any]:
        return {"address": token, "topics": list(topics), "blockNumber": "0x2a",
                "removed": removed}  # fmt: skip

    zero = topic_of("0x" + "00" * 20)
    logs = [
        log(TRANSFER_TOPIC, zero, topic_of(wallet)),
        log(TRANSFER_TOPIC, zero, topic_of(wallet), removed=True),  # a reorg took it back
        log(TRANSFER_TOPIC, zero, topic_of(wallet), "0x" + "00" * 31 + "07"),  # ERC-721
        log("0x" + "11" * 32, zero, topic_of(wallet)),  # another event
    ]
    assert received(logs) == [Received(token, wallet, 42)]
    with pytest.raises(UpstreamError, match="malformed"):
        received([{"address": token, "topics": [TRANSFER_TOPIC, zero, topic_of(wallet)]}])
    with pytest.raises(UpstreamError, match="no list"):
        received({"logs": []})


@settings(max_examples=200, deadline=None)
@given(
    max_blocks=st.integers(1, 40),
    max_addresses=st.integers(1, 12),
    sent_to=st.lists(st.tuples(st.integers(0, 99), st.integers(0, 29)), max_size=40),
    blocks=st.integers(1, 200),
    addresses=st.integers(1, 50),
)
async def test_any_bounds_give_every_transfer_and_then_the_stated_cost(
    max_blocks: int,
    max_addresses: int,
    sent_to: list[tuple[int, int]],
    blocks: int,
    addresses: int,
) -> None:
    """Whatever a node's bounds and the scanner's first sizes: every transfer to a watched
    wallet is found once, and a second scan costs ceil(B / blocks) x ceil(N / addresses)."""
    wallets = [f"0x{n:040x}" for n in range(1, 31)]
    watched = wallets[:20]
    token = "0x" + "cd" * 20
    placed = {(block, wallets[w]) for block, w in sent_to}
    transfers = [Received(token, wallet, block) for block, wallet in sorted(placed)]
    asked: list[tuple[int, int, int]] = []

    async def send(first: int, last: int, group: Sequence[str]) -> list[Received]:
        asked.append((first, last, len(group)))
        if len(group) > max_addresses:
            raise LogsRefusedError("too many addresses", addresses=True)
        if last - first + 1 > max_blocks:
            raise LogsRefusedError("block range is too large")
        return [t for t in transfers if first <= t.block <= last and t.wallet in group]

    scanner = TransferScanner(send, blocks=blocks, addresses=addresses)
    found = await scanner.scan(0, 99, watched)
    assert found == [t for t in transfers if t.wallet in watched]
    assert scanner.blocks <= max_blocks
    assert scanner.addresses <= max_addresses
    asked.clear()
    assert await scanner.scan(0, 99, watched) == found
    assert len(asked) == math.ceil(100 / scanner.blocks) * math.ceil(20 / scanner.addresses)


async def test_a_node_that_serves_no_logs_fails_the_scan_but_still_reads_balances(
    sent: Sent,
) -> None:
    """Its error is the scan's ChainUnavailableError, and trips no breaker: however many
    scans fail, the node's balance reads go on."""
    async with RpcProxy(sent.node.url) as proxy:
        proxy.refuse = lambda method, _: (
            (-32601, "the method eth_getLogs does not exist") if method == "eth_getLogs" else None
        )
        chain = reader_of(proxy.url)
        try:
            for _ in range(10):  # past any breaker's threshold
                with pytest.raises(ChainUnavailableError, match="eth_getLogs failed"):
                    await chain.received(0, sent.head, WATCHED)
            readings = await chain.read_balances([WATCHED[0]])
        finally:
            await chain.close()
    assert readings[WATCHED[0]].error is None
