"""The log discovery over fakes: what a node answers beyond what was asked is left out."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

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

    async def cursor(self, chain: Chain) -> int | None:
        return self.block

    async def contracts(self, chain: Chain, addresses: Collection[str]) -> dict[str, Token | None]:
        return {}

    async def record(
        self,
        chain: Chain,
        block: int,
        contracts: Mapping[str, Token | None],
        found: Collection[tuple[UUID, str, int]],
        now: datetime,
    ) -> None:
        self.block = block
        self.kept += found

    async def found(self, wallet_ids: Collection[UUID]) -> dict[UUID, list[Token]]:
        return {}

    async def found_by(self, tenant: str) -> set[tuple[Chain, str]]:
        return set()


async def test_a_transfer_to_an_address_not_asked_about_is_left_out() -> None:
    wallets = FakeWalletRepository()
    wallet = Wallet.create(Chain.ETHEREUM, WATCHED, None, NOW)
    await wallets.add(wallet)
    found = Found()
    found.block = 10
    await LogDiscovery([Node()], wallets, found, FakeClock(NOW), confirmations={}).scan()
    assert found.kept == [(wallet.id, normalize_evm_address(TOKEN), 60)]
    assert found.block == 88  # the head less the default 12 confirmations
