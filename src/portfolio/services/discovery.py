"""Tokens on no list that tracked wallets received, found in each EVM chain's ERC-20 Transfer
logs, a cycle at a time.

Each chain is scanned from its cursor to ``confirmations`` blocks behind its head: a block
that may still be orphaned is scanned later, once it is that deep, and a token found is only a
candidate either way (a wallet's read of its balance is the truth: a transfer orphaned after
all leaves a balance of 0). A contract found is read once (an ERC-20's decimals, symbol and
name; one answering no ``decimals()`` is remembered as no token and never read again), and the
tokens found are kept for their wallets, to be read with them. A chain's first scan starts
``backfill`` blocks back (0: from its head on); a wallet added since is scanned back once, by
its address, over the ``backfill`` blocks before the cursor (the block it first appeared in is
not known without an archive node's history: the bound is the block count). Nothing is recorded
of a scan that failed: the next cycle scans the same blocks again.

A scan reads at most ``new_contracts`` contracts it never saw (and all those of its first block
that has any, so that it always moves on): an airdrop storm of thousands of spam tokens is read
over several cycles, its scan ending before the block of the first contract left unread, and no
cycle is held up by it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID

from loguru import logger

from portfolio.domain.addresses import normalize_evm_address
from portfolio.domain.chains import Chain
from portfolio.domain.errors import ChainUnavailableError, NotATokenError, StorageUnavailableError
from portfolio.domain.tokens import Received, Token
from portfolio.ports.chains import TransferLogs
from portfolio.ports.clock import Clock
from portfolio.ports.repositories import FoundTokenRepository, WalletRepository
from portfolio.services.wallets import every_wallet

DEFAULT_CONFIRMATIONS = 12
DEFAULT_NEW_CONTRACTS = 200


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
        new_contracts: int = DEFAULT_NEW_CONTRACTS,
    ) -> None:
        self._chains = chains
        self._wallets = wallets
        self._found = found
        self._clock = clock
        self._confirmations = confirmations or {}
        self._backfill = backfill
        self._new_contracts = new_contracts

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
        owners: dict[str, list[UUID]] = {}
        for wallet in await every_wallet(self._wallets, None, chain):
            owners.setdefault(wallet.address.lower(), []).append(wallet.id)
        if stored is None:  # the first scan: from ``backfill`` back, for every wallet
            cursor = end - self._backfill
            backfilled = dict.fromkeys(owners, max(cursor + 1, 0)) if self._backfill else {}
            backlog: list[Received] = []
        else:
            cursor = stored
            backfilled, backlog = await self._backfill_new(logs, owners, cursor)
        if end <= cursor:
            if stored is None or backfilled:  # the first scan, nothing back: from here on
                await self._record(logs, max(end, cursor), [], backlog, owners, backfilled)
            return
        received = await logs.received(max(cursor + 1, 0), end, list(owners)) if owners else []
        received = [r for r in received if r.wallet in owners]  # (a node may answer more)
        await self._record(logs, end, received, backlog, owners, backfilled)

    async def _backfill_new(
        self, logs: TransferLogs, owners: Mapping[str, list[UUID]], cursor: int
    ) -> tuple[dict[str, int], list[Received]]:
        """The addresses never scanned back (wallets added since the chain's first scan),
        each with the first block of its scan back, and the transfers to them in the
        ``backfill`` blocks up to ``cursor``."""
        if not self._backfill or not owners:
            return {}, []
        done = await self._found.backfilled(logs.chain, list(owners))
        pending = [a for a in owners if a not in done]
        first = max(cursor - self._backfill + 1, 0)
        if not pending or first > cursor:
            return {}, []
        backlog = await logs.received(first, cursor, pending)
        return dict.fromkeys(pending, first), [r for r in backlog if r.wallet in pending]

    async def _record(
        self,
        logs: TransferLogs,
        end: int,
        received: list[Received],
        backlog: list[Received],
        owners: Mapping[str, list[UUID]],
        backfilled: Mapping[str, int],
    ) -> None:
        """The contracts new among ``received`` (up to the block where the bound on new
        contracts stops them, the cursor's new end) and ``backlog`` (the newest first, at most
        as many again) read, and the finds, the addresses scanned back and the cursor kept."""
        chain = logs.chain
        addresses = {r.token: normalize_evm_address(r.token) for r in [*received, *backlog]}
        unlisted = {a for a in addresses.values() if not logs.is_listed(a)}
        known = await self._found.contracts(chain, sorted(unlisted))
        new = unlisted - set(known)
        ahead = new & {addresses[r.token] for r in received}
        if (bounded := self._bounded(received, addresses, ahead, end)) < end:
            logger.warning(
                "{}: {} new contracts sent to wallets up to block {}: reading those up to block "
                "{}, the rest in the next cycles", chain, len(ahead), end, bounded,
            )  # fmt: skip
            end, received = bounded, [r for r in received if r.block <= bounded]
        backlog = self._newest(backlog, addresses, new)
        read: dict[str, Token | None] = {}
        for r in [*received, *backlog]:  # each contract read once, ever
            if (address := addresses[r.token]) in new and address not in read:
                read[address] = await _token_or_none(logs, address)
        kinds = known | read
        found = [
            (wallet, addresses[r.token], r.block)
            for r in [*backlog, *received]
            if kinds.get(addresses[r.token]) is not None
            for wallet in owners[r.wallet]
        ]
        await self._found.record(chain, end, read, found, self._clock.now(), backfilled)
        if found:
            logger.info("{}: {} tokens on no list found for wallets", chain, len(found))

    def _newest(
        self, backlog: list[Received], addresses: Mapping[str, str], new: set[str]
    ) -> list[Received]:
        """The transfers scanned back whose contracts are known, or among the newest
        ``new_contracts`` new ones (a wallet added with a storm behind it is not read for
        it: what is older is left out, with a warning)."""
        latest: dict[str, int] = {}
        for r in backlog:
            if (address := addresses[r.token]) in new:
                latest[address] = max(latest.get(address, r.block), r.block)
        if len(latest) <= self._new_contracts:
            return backlog
        kept = set(sorted(latest, key=lambda a: -latest[a])[: self._new_contracts])
        logger.warning(
            "{} new contracts sent to wallets added since: the newest {} read, the rest left",
            len(latest), len(kept),
        )  # fmt: skip
        return [r for r in backlog if addresses[r.token] not in new or addresses[r.token] in kept]

    def _bounded(
        self, received: list[Received], addresses: Mapping[str, str], new: set[str], end: int
    ) -> int:
        """The last block to record this scan: ``end``, or, when more than ``new_contracts``
        contracts never seen are among the transfers, the block before the first one's that
        would pass the bound; where the first block with any holds more, up to that block."""
        if len(new) <= self._new_contracts:
            return end
        first: dict[str, int] = {}
        for r in sorted(received, key=lambda r: r.block):
            if (address := addresses[r.token]) in new:
                first.setdefault(address, r.block)
        blocks = sorted(first.values())
        stop = blocks[self._new_contracts]
        if stop > blocks[0]:
            return stop - 1
        later = [b for b in blocks if b > stop]  # more than the bound in the first block
        return later[0] - 1 if later else end


async def _token_or_none(logs: TransferLogs, address: str) -> Token | None:
    """The contract as a token, or None when it is none (no ``decimals()``)."""
    try:
        return await logs.token(address)
    except NotATokenError:
        return None
