"""Tokens on no list found in Transfer logs, on a real anvil node and both databases: an
unlisted token sent to tracked wallets is kept for each of them (every tenant's wallet at the
address), a listed one and a contract that is no token are not, only confirmed blocks are
scanned (a transfer on a block later orphaned is never found), and a deleted wallet takes its
finds with it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.chains.evm import Web3ChainReader
from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.found import SqlFoundTokens
from portfolio.adapters.db.models import FoundContractRow, FoundTokenRow
from portfolio.adapters.db.wallets import SqlWalletRepository
from portfolio.adapters.resilience import CallPolicy
from portfolio.config import MULTICALL3
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Received, Token
from portfolio.domain.wallet import Wallet
from portfolio.services.discovery import LogDiscovery
from tests.chains.anvil import CHAIN_ID, AnvilNode, running_anvil
from tests.fakes import FakeClock

FAST = CallPolicy(timeout_seconds=5, attempts=2, backoff_seconds=0.01, backoff_max_seconds=0.05)
NOW = datetime(2026, 12, 6, tzinfo=UTC)
MINT = "mint(address,uint256)"
ONE, TWO, STRANGER = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20
DEPTH = 10  # confirmations: more than the blocks a step of the test mines


@pytest.fixture
async def node() -> AsyncIterator[AnvilNode]:
    async with running_anvil() as running:
        yield running


async def mint(node: AnvilNode, token: str, to: str, amount: int = 1) -> None:
    await node.transact(token, MINT, ["address", "uint256"], [to, amount])


async def test_unlisted_tokens_sent_to_wallets_are_found_once_confirmed(
    node: AnvilNode, db_engine: AsyncEngine
) -> None:
    listed = await node.deploy("TestToken", ["string", "string", "uint8"], ["Listed", "LST", 18])
    unlisted = await node.deploy("TestToken", ["string", "string", "uint8"], ["Newer", "NEW", 6])
    no_token = await node.deploy("NoDecimalsToken", [], [])
    sessions = session_factory(db_engine)
    wallets = SqlWalletRepository(sessions)
    one = Wallet.create(Chain.ETHEREUM, ONE, None, NOW)
    ones = Wallet.create(Chain.ETHEREUM, ONE, None, NOW, tenant="another")
    two = Wallet.create(Chain.ETHEREUM, TWO, None, NOW)
    await wallets.add(one, ones, two)
    found = SqlFoundTokens(sessions, db_engine.dialect.name)
    listed_token = Token(Chain.ETHEREUM, listed, "LST", "Listed", 18, True)
    chain = Web3ChainReader.from_urls([node.url], {CHAIN_ID: [listed_token]}, MULTICALL3, FAST)
    discovery = LogDiscovery(
        [chain], wallets, found, FakeClock(NOW),
        confirmations={Chain.ETHEREUM: DEPTH}, backfill=10_000,
    )  # fmt: skip
    try:
        for token, to in [(unlisted, ONE), (unlisted, TWO), (listed, TWO), (no_token, ONE),
                          (unlisted, STRANGER)]:  # fmt: skip
            await mint(node, token, to)
        await discovery.scan()
        assert await found.found([one.id, ones.id, two.id]) == {}, "not yet confirmed"
        await node.rpc("anvil_mine", hex(DEPTH))
        await discovery.scan()
        newer = Token(Chain.ETHEREUM, unlisted, "NEW", "Newer", 6, False)
        assert await found.found([one.id, ones.id, two.id]) == {
            one.id: [newer], ones.id: [newer], two.id: [newer]
        }  # fmt: skip
        assert await found.found_by("default") == {(Chain.ETHEREUM, unlisted)}  # once
        assert await found.found_by("another") == {(Chain.ETHEREUM, unlisted)}
        assert await found.found_by("nobody") == set()
        head = int(await node.rpc("eth_blockNumber"), 16)
        assert await found.cursor(Chain.ETHEREUM) == head - DEPTH
        async with sessions() as session:
            kinds = dict((await session.execute(
                select(FoundContractRow.address, FoundContractRow.decimals)
            )).all())  # fmt: skip
        assert kinds == {unlisted: 6, no_token: None}  # no token, remembered as such

        # A transfer on a block that is orphaned before it is confirmed is never found.
        snapshot = await node.rpc("evm_snapshot")
        other = await node.deploy("TestToken", ["string", "string", "uint8"], ["Gone", "GON", 9])
        await mint(node, other, TWO)
        await discovery.scan()
        assert await node.rpc("evm_revert", snapshot)
        await node.rpc("anvil_mine", hex(DEPTH + 3))
        await discovery.scan()
        assert await found.found([two.id]) == {two.id: [newer]}
        assert await found.cursor(Chain.ETHEREUM) == head + 3

        # A wallet deleted takes its finds with it.
        assert await wallets.delete(two.id, two.tenant)
        async with sessions() as session:
            rows = await session.scalar(select(func.count()).select_from(FoundTokenRow))
        assert rows == 2
    finally:
        await chain.close()


async def test_a_chains_first_scan_without_backfill_starts_at_its_head(
    node: AnvilNode, db_engine: AsyncEngine
) -> None:
    """Without a backfill, what was sent before the first scan is not looked for (the
    wallets' listed tokens were read by balance anyway); what is sent after is."""
    unlisted = await node.deploy("TestToken", ["string", "string", "uint8"], ["Newer", "NEW", 6])
    sessions = session_factory(db_engine)
    wallets = SqlWalletRepository(sessions)
    one = Wallet.create(Chain.ETHEREUM, ONE, None, NOW)
    await wallets.add(one)
    found = SqlFoundTokens(sessions, db_engine.dialect.name)
    chain = Web3ChainReader.from_urls([node.url], {CHAIN_ID: []}, MULTICALL3, FAST)
    discovery = LogDiscovery([chain], wallets, found, FakeClock(NOW), confirmations={})
    try:
        await mint(node, unlisted, ONE)
        await node.rpc("anvil_mine", hex(20))
        await discovery.scan()
        assert await found.found([one.id]) == {}
        await mint(node, unlisted, ONE)
        await node.rpc("anvil_mine", hex(12))  # the default confirmations
        await discovery.scan()
        assert [t.address for t in (await found.found([one.id]))[one.id]] == [unlisted]
    finally:
        await chain.close()


class Counted:
    """A reader, with the log queries it is asked for written down."""

    chain = Chain.ETHEREUM

    def __init__(self, reader: Web3ChainReader) -> None:
        self.reader = reader
        self.asked: list[tuple[int, int, list[str]]] = []

    async def head(self) -> int:
        return await self.reader.head()

    async def received(self, start: int, end: int, addresses: Sequence[str]) -> list[Received]:
        self.asked.append((start, end, list(addresses)))
        return await self.reader.received(start, end, addresses)

    async def token(self, address: str) -> Token:
        return await self.reader.token(address)

    def is_listed(self, address: str) -> bool:
        return self.reader.is_listed(address)


async def test_a_wallet_added_later_is_scanned_back_once_within_the_bound(
    node: AnvilNode, db_engine: AsyncEngine
) -> None:
    """With a backfill of 30 blocks, a wallet added after the chain's first scan is scanned
    back once over the 30 blocks before the cursor: a token sent to it 25 blocks before is
    found, one sent 40 blocks before is not, and it is not scanned back again."""
    old, recent = [
        await node.deploy("TestToken", ["string", "string", "uint8"], [name, name[:3], 6])
        for name in ("Older", "Recent")
    ]
    sessions = session_factory(db_engine)
    wallets = SqlWalletRepository(sessions)
    await wallets.add(Wallet.create(Chain.ETHEREUM, ONE, None, NOW))
    found = SqlFoundTokens(sessions, db_engine.dialect.name)
    chain = Web3ChainReader.from_urls([node.url], {CHAIN_ID: []}, MULTICALL3, FAST)
    counted = Counted(chain)
    asked = counted.asked
    discovery = LogDiscovery(
        [counted], wallets, found, FakeClock(NOW), confirmations={Chain.ETHEREUM: 0},
        backfill=30,
    )  # fmt: skip
    try:
        await discovery.scan()  # the chain's first scan: ONE is scanned back with it
        assert await found.backfilled(Chain.ETHEREUM, [ONE, TWO]) == {ONE}
        await mint(node, old, TWO)  # 40 blocks before the cursor, once mined
        await node.rpc("anvil_mine", hex(14))
        await mint(node, recent, TWO)  # 25 blocks before
        await node.rpc("anvil_mine", hex(24))
        await discovery.scan()
        cursor = await found.cursor(Chain.ETHEREUM)
        assert cursor is not None
        two = Wallet.create(Chain.ETHEREUM, TWO, None, NOW)
        await wallets.add(two)
        asked.clear()
        await discovery.scan()
        assert asked == [(cursor - 29, cursor, [TWO])]
        assert await found.cursor(Chain.ETHEREUM) == cursor  # no new block: the cursor stays
        assert [t.address for t in (await found.found([two.id]))[two.id]] == [recent]
        assert await found.backfilled(Chain.ETHEREUM, [ONE, TWO]) == {ONE, TWO}
        async with sessions() as session:
            rows = await session.scalar(select(func.count()).select_from(FoundTokenRow))
        assert rows == 1
        asked.clear()
        await discovery.scan()  # scanned back once only: no new block, nothing asked
        assert asked == []
    finally:
        await chain.close()
