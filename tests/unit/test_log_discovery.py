"""The log discovery over fakes: what a node answers beyond what was asked is left out."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

import pytest

from portfolio.domain.addresses import normalize_evm_address
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Received, Token
from portfolio.domain.wallet import Wallet
from portfolio.services.discovery import LogDiscovery
from tests.fakes import FakeClock, FakeWalletRepository

NOW = datetime(2026, 12, 6, tzinfo=UTC)
WATCHED, STRANGER = "0x" + "11" * 20, "0x" + "22" * 20
TOKEN = "0x" + "ab" * 20


class Node:
    """A node that answers a transfer to an address nobody asked about, beside the one asked."""

    chain = Chain.ETHEREUM

    async def head(self) -> int:
        return 100

    async def received(self, start: int, end: int, addresses: Sequence[str]) -> list[Received]:
        return [Received(TOKEN, STRANGER, 50), Received(TOKEN, WATCHED, 60)]

    async def token(self, address: str) -> Token:
        return Token(Chain.ETHEREUM, address, "T", "Token", 18, False)

    def is_listed(self, address: str) -> bool:
        return False


class Found:
    def __init__(self) -> None:
        self.kept: list[tuple[UUID, str, int]] = []
        self.block: int | None = None
        self.read: dict[str, Token | None] = {}
        self.back: dict[str, int] = {}

    async def cursor(self, chain: Chain) -> int | None:
        return self.block

    async def contracts(self, chain: Chain, addresses: Collection[str]) -> dict[str, Token | None]:
        return {a: self.read[a] for a in addresses if a in self.read}

    async def record(
        self,
        chain: Chain,
        block: int,
        contracts: Mapping[str, Token | None],
        found: Collection[tuple[UUID, str, int]],
        now: datetime,
        backfilled: Mapping[str, int] | None = None,
    ) -> None:
        assert not set(contracts) & set(self.read), "a contract read twice"
        self.back |= dict(backfilled or {})
        self.read |= contracts
        self.block = block
        self.kept += found

    async def found(self, wallet_ids: Collection[UUID]) -> dict[UUID, list[Token]]:
        return {}

    async def found_by(self, tenant: str) -> set[tuple[Chain, str]]:
        return set()

    async def backfilled(self, chain: Chain, addresses: Collection[str]) -> set[str]:
        return set(self.back) & set(addresses)


async def test_a_transfer_to_an_address_not_asked_about_is_left_out() -> None:
    wallets = FakeWalletRepository()
    wallet = Wallet.create(Chain.ETHEREUM, WATCHED, None, NOW)
    await wallets.add(wallet)
    found = Found()
    found.block = 10
    await LogDiscovery([Node()], wallets, found, FakeClock(NOW), confirmations={}).scan()
    assert found.kept == [(wallet.id, normalize_evm_address(TOKEN), 60)]
    assert found.block == 88  # the head less the default 12 confirmations


class Storm:
    """A node whose logs hold an airdrop storm: ``transfers`` (token, block) to WATCHED."""

    chain = Chain.ETHEREUM

    def __init__(self, transfers: list[tuple[str, int]], head: int = 1000) -> None:
        self.transfers = transfers
        self.at = head
        self.reads = 0

    async def head(self) -> int:
        return self.at

    async def received(self, start: int, end: int, addresses: Sequence[str]) -> list[Received]:
        return [Received(t, WATCHED, b) for t, b in self.transfers if start <= b <= end]

    async def token(self, address: str) -> Token:
        self.reads += 1
        return Token(Chain.ETHEREUM, address, "T", "Token", 18, False)

    def is_listed(self, address: str) -> bool:
        return False


def contract(n: int) -> str:
    return normalize_evm_address(f"0x{n:040x}")


@pytest.mark.parametrize(("per_block", "bound"), [(10, 100), (7, 100), (1, 3), (150, 100), (3, 1)])
async def test_an_airdrop_storm_is_read_a_bounded_number_of_contracts_a_cycle(
    per_block: int, bound: int
) -> None:
    """450 new contracts sent to a wallet over blocks from 101 on (``per_block`` in each,
    each sent twice): a cycle reads at most ``bound`` of them, or the whole of its first
    block, and ends before the block of the first left unread; cycles go on until every one
    is found, each read once, and none lost."""
    wallets = FakeWalletRepository()
    wallet = Wallet.create(Chain.ETHEREUM, WATCHED, None, NOW)
    await wallets.add(wallet)
    tokens = [contract(n) for n in range(1, 451)]
    transfers = [(t, 101 + i // per_block) for i, t in enumerate(tokens)]
    node = Storm(transfers + transfers)
    found = Found()
    found.block = 100
    discovery = LogDiscovery(
        [node], wallets, found, FakeClock(NOW), confirmations={}, new_contracts=bound
    )
    cycles = 0
    while found.block < 1000 - 12:
        before, read = found.block, node.reads
        await discovery.scan()
        cycles += 1
        fresh = node.reads - read
        assert fresh <= max(bound, per_block)
        assert found.block > before, "every cycle moves on"
        assert {a for _, a, _ in found.kept} == {t for t, b in transfers if b <= found.block}
    assert node.reads == 450
    assert len(found.kept) == 900
    assert cycles == -(-450 // max(per_block * (bound // per_block), per_block))
