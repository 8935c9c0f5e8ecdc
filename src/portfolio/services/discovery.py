"""Tokens on no list that tracked wallets received, found in each EVM chain's ERC-20 Transfer
logs, a cycle at a time.

Each chain is scanned from its cursor to ``confirmations`` blocks behind its head: a block
that may still be orphaned is scanned later, once it is that deep, and a token found is only a
candidate either way (a wallet's read of its balance is the truth: a transfer orphaned after
all leaves a balance of 0). A contract found is read once (an ERC-20's decimals, symbol and
name; one answering no ``decimals()`` is remembered as no token and never read again), and the
tokens found are kept for their wallets, to be read with them. A chain's first scan starts
``backfill`` blocks back (0: from its head on). Nothing is recorded of a scan that failed: the
next cycle scans the same blocks again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID

from loguru import logger

from portfolio.domain.addresses import normalize_evm_address
from portfolio.domain.chains import Chain
from portfolio.domain.errors import ChainUnavailableError, NotATokenError, StorageUnavailableError
from portfolio.domain.tokens import Token
from portfolio.ports.chains import TransferLogs
from portfolio.ports.clock import Clock
from portfolio.ports.repositories import FoundTokenRepository, WalletRepository
from portfolio.services.wallets import every_wallet

DEFAULT_CONFIRMATIONS = 12


class LogDiscovery:
    def __init__(
        self,
        chains: Sequence[TransferLogs],
        wallets: WalletRepository,
        found: FoundTokenRepository,
        clock: Clock,
        *,
        confirmations: Mapping[Chain, int] | None = None,
        backfill: int = 0,
    ) -> None:
        self._chains = chains
        self._wallets = wallets
        self._found = found
        self._clock = clock
        self._confirmations = confirmations or {}
        self._backfill = backfill

    async def scan(self) -> None:
        """Every chain's new blocks; a chain that cannot be read now is scanned next time."""
        for logs in self._chains:
            try:
                await self.scan_chain(logs)
            except (ChainUnavailableError, StorageUnavailableError) as exc:
                logger.warning("{} transfer logs not scanned: {}", logs.chain, exc)

    async def scan_chain(self, logs: TransferLogs) -> None:
        chain = logs.chain
        end = await logs.head() - self._confirmations.get(chain, DEFAULT_CONFIRMATIONS)
        stored = await self._found.cursor(chain)
        cursor = end - self._backfill if stored is None else stored
        if end <= cursor:
            if stored is None:  # the first scan, nothing back: from here on
                await self._found.record(chain, end, {}, [], self._clock.now())
            return
        owners: dict[str, list[UUID]] = {}
        for wallet in await every_wallet(self._wallets, None, chain):
            owners.setdefault(wallet.address.lower(), []).append(wallet.id)
        received = await logs.received(max(cursor + 1, 0), end, list(owners)) if owners else []
        addresses = {r.token: normalize_evm_address(r.token) for r in received}
        unlisted = sorted({a for a in addresses.values() if not logs.is_listed(a)})
        known = await self._found.contracts(chain, unlisted)
        read: dict[str, Token | None] = {}
        for address in unlisted:  # each contract read once, ever
            if address not in known:
                read[address] = await _token_or_none(logs, address)
        kinds = known | read
        found = [
            (wallet, addresses[r.token], r.block)
            for r in received
            if kinds.get(addresses[r.token]) is not None
            for wallet in owners.get(r.wallet, ())  # (a node may answer more than asked)
        ]
        await self._found.record(chain, end, read, found, self._clock.now())
        if found:
            logger.info("{}: {} tokens on no list found for wallets", chain, len(found))


async def _token_or_none(logs: TransferLogs, address: str) -> Token | None:
    """The contract as a token, or None when it is none (no ``decimals()``)."""
    try:
        return await logs.token(address)
    except NotATokenError:
        return None
