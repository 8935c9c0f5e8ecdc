"""Storage ports."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from portfolio.domain.balances import WalletBalances
from portfolio.domain.chains import Chain
from portfolio.domain.prices import Price
from portfolio.domain.tokens import Mark, Token, TokenAccount, WalletReading
from portfolio.domain.wallet import Wallet, WalletCursor, WalletPage


class WalletRepository(Protocol):
    async def add(self, *wallets: Wallet) -> None:
        """Store new wallets, all or none; DuplicateWalletError names a stored one."""

    async def get(self, wallet_id: UUID, tenant: str) -> Wallet | None:
        """The tenant's wallet; None when there is none, or it is another tenant's."""

    async def list(
        self,
        *,
        tenant: str | None,
        chain: Chain | None,
        limit: int,
        after: WalletCursor | None,
    ) -> WalletPage:
        """The tenant's wallets (every tenant's when None) in (created_at, id) order, strictly
        after ``after``."""

    async def count(self, tenant: str) -> int:
        """How many wallets the tenant has."""

    async def delete(self, wallet_id: UUID, tenant: str) -> bool:
        """Remove the tenant's wallet with its balances and history; False when there was none
        (or it is another tenant's)."""

    async def twins(self, wallets: Sequence[Wallet]) -> Sequence[Wallet]:
        """Other wallets (of other tenants) at the addresses of ``wallets`` (one chain)."""

    async def oldest_read(self) -> datetime | None:
        """The earliest of every wallet's last successful read (its creation when it was never
        read), over every tenant; None without wallets."""

    async def get_many(self, wallet_ids: Sequence[UUID]) -> Sequence[Wallet]:
        """The wallets with these ids, whatever their tenant (for the scheduled refresh, never
        for a caller); deleted ones are left out."""


class BalanceRepository(Protocol):
    async def get(self, wallet_id: UUID) -> WalletBalances | None:
        """The wallet's stored balances; None when the wallet does not exist."""

    async def record(
        self, wallet_id: UUID, reading: WalletReading, fetched_at: datetime
    ) -> WalletBalances:
        """Store a successful read in one transaction: the current balances (zero balances
        removed, tokens that failed to read kept as they were) and a change for each token
        whose amount differs from the last one recorded (a token that was held and is gone
        changes to 0); an unchanged balance writes nothing but the wallet's read time. Raises
        WalletNotFoundError when the wallet was deleted meanwhile."""

    async def record_many(
        self, readings: Mapping[UUID, WalletReading], fetched_at: datetime
    ) -> dict[UUID, WalletBalances]:
        """``record`` for many wallets in one transaction; a wallet deleted meanwhile is left
        out of the answer. A reading that lists token accounts replaces the known ones."""

    async def record_failure(self, wallet_ids: Sequence[UUID], reason: str, at: datetime) -> None:
        """Remember why the wallets could not be read (shown, and making them stale, until
        their next successful read); their balances stay as they were."""

    async def everything(self, tenant: str) -> list[tuple[Wallet, WalletBalances]]:
        """Every wallet of the tenant with its stored balances, in the stable wallet order."""

    async def known_accounts(
        self, wallet_ids: Sequence[UUID]
    ) -> dict[UUID, tuple[datetime, list[TokenAccount]]]:
        """The token accounts of the last discovery of each wallet that had one, and when."""


class PriceSeriesRepository(Protocol):
    async def record_prices(self, prices: Sequence[tuple[Token, Price]], at: datetime) -> None:
        """Record the prices as seen at ``at`` in each token's series (shared by every wallet
        and tenant); stale ones (a source's last known price) are not news and are left out."""


class TokenMarkRepository(Protocol):
    async def marks(self, tenant: str) -> dict[tuple[Chain, str], Mark]:
        """The tenant's marks by (chain, token key)."""

    async def set_mark(
        self, tenant: str, chain: Chain, key: str, mark: Mark | None, now: datetime
    ) -> None:
        """Set the tenant's mark on a token, or clear it (None)."""


class TrackedTokenRepository(Protocol):
    async def track(self, tenant: str, token: Token, now: datetime) -> bool:
        """Track the token for the tenant; False when it already was."""

    async def tracked(
        self, tenants: Collection[str], chain: Chain | None = None
    ) -> dict[str, list[Token]]:
        """Each tenant's tracked tokens (of one chain, when given)."""


class PrimaryNameRepository(Protocol):
    """The primary ENS names of the EVM wallets' addresses, as last read."""

    async def due(self, before: datetime, limit: int) -> list[str]:
        """Up to ``limit`` EVM wallet addresses whose name was never read, or last read
        before ``before`` (the longest unread first)."""

    async def record(self, names: Mapping[str, str | None], now: datetime) -> None:
        """Each address's primary name (None: none) on every EVM wallet at it, read ``now``."""


class FoundTokenRepository(Protocol):
    """Tokens on no list that wallets received, found in a chain's Transfer logs."""

    async def cursor(self, chain: Chain) -> int | None:
        """The last block of the chain scanned; None before its first scan."""

    async def contracts(self, chain: Chain, addresses: Collection[str]) -> dict[str, Token | None]:
        """What each of ``addresses`` was found to be (None: no token); those never read are
        left out."""

    async def record(
        self,
        chain: Chain,
        block: int,
        contracts: Mapping[str, Token | None],
        found: Collection[tuple[UUID, str, int]],
        now: datetime,
        backfilled: Mapping[str, int] | None = None,
    ) -> None:
        """In one transaction: the contracts read, the (wallet, token address, block) found
        (a wallet's first find of a token is kept), the addresses scanned back (each with the
        first block scanned) and the chain's cursor at ``block``."""

    async def backfilled(self, chain: Chain, addresses: Collection[str]) -> set[str]:
        """Those of ``addresses`` (lowercase) whose logs on the chain were scanned back."""

    async def found(self, wallet_ids: Collection[UUID]) -> dict[UUID, list[Token]]:
        """Each wallet's found tokens (unverified), in the order found."""

    async def found_by(self, tenant: str) -> set[tuple[Chain, str]]:
        """The (chain, token address) of every token found for any of the tenant's wallets."""
