"""Adding, reading, listing and removing wallets."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from portfolio.domain.chains import Chain
from portfolio.domain.errors import (
    InvalidAddressError,
    QuotaExceededError,
    UnsupportedChainError,
    WalletNotFoundError,
)
from portfolio.domain.names import is_name, normalized_name
from portfolio.domain.wallet import Wallet, WalletCursor, WalletPage
from portfolio.ports.changes import PortfolioWatcher
from portfolio.ports.clock import Clock
from portfolio.ports.names import NameService
from portfolio.ports.repositories import WalletRepository


class WalletService:
    def __init__(
        self,
        wallets: WalletRepository,
        clock: Clock,
        watcher: PortfolioWatcher | None = None,
        reads: WalletRepository | None = None,
        chains: frozenset[Chain] | None = None,
        max_wallets: int | None = None,
        names: NameService | None = None,
    ) -> None:
        """``reads``: where reads go (a replica), when not to ``wallets``. ``chains``: the
        configured ones, which wallets may be on (None: any). ``max_wallets``: a tenant's
        quota (PORTFOLIO_TENANT_MAX_WALLETS; None: none). ``names``: ENS on Ethereum, by
        which an EVM wallet may be added by name (None: no names)."""
        self._names = names
        self._max_wallets = max_wallets
        self._chains = chains
        self._wallets = wallets
        self._reads = reads or wallets
        self._clock = clock
        self._watcher = watcher

    async def add(self, tenant: str, chain: Chain, address: str, label: str | None) -> Wallet:
        (wallet,) = await self.add_on_chains(tenant, [chain], address, label)
        return wallet

    async def add_on_chains(
        self, tenant: str, chains: Sequence[Chain], address: str, label: str | None
    ) -> list[Wallet]:
        """One wallet per chain for one address, created together or not at all."""
        if len(set(chains)) != len(chains):
            raise UnsupportedChainError("Name each chain once.", field="chains")
        for chain in chains:
            self._check_chain(chain)
        if self._max_wallets is not None:
            held = await self._wallets.count(tenant)
            if held + len(chains) > self._max_wallets:
                raise QuotaExceededError(
                    f"A tenant has at most {self._max_wallets} wallets "
                    f"(PORTFOLIO_TENANT_MAX_WALLETS); this one has {held}."
                )
        name = None
        if is_name(address):
            name, address = await self._resolve(address, chains)
        now = self._clock.now()
        wallets = [Wallet.create(chain, address, label, now, tenant, name) for chain in chains]
        await self._wallets.add(*wallets)
        await self._changed(tenant)
        return wallets

    async def _resolve(self, text: str, chains: Sequence[Chain]) -> tuple[str, str]:
        """An ENS name, normalised, and the address it resolves to on Ethereum (the same
        account on every EVM chain); a 422 when it resolves to none."""
        if not all(chain.is_evm for chain in chains):
            raise InvalidAddressError("An ENS name names an EVM address; Solana takes none.")
        name = normalized_name(text)
        if self._names is None:
            raise InvalidAddressError(
                "ENS names are resolved on Ethereum, and this service has no Ethereum node "
                "(PORTFOLIO_ETHEREUM_RPC_URLS) or no ENS registry (PORTFOLIO_ENS_REGISTRY)."
            )
        address = await self._names.resolve(name)
        if address is None:
            raise InvalidAddressError(f"The ENS name {name} resolves to no address.")
        return name, address

    def _check_chain(self, chain: Chain) -> None:
        if self._chains is not None and chain not in self._chains:
            configured = ", ".join(sorted(self._chains)) or "none"
            raise UnsupportedChainError(
                f"{chain} is not a configured chain (configured: {configured})."
            )

    async def get(self, tenant: str, wallet_id: UUID) -> Wallet:
        """The tenant's wallet; another tenant's is not found, like one that never was."""
        wallet = await self._reads.get(wallet_id, tenant)
        if wallet is None:
            raise WalletNotFoundError(wallet_id)
        return wallet

    async def list(
        self, tenant: str, *, chain: Chain | None, limit: int, after: WalletCursor | None
    ) -> WalletPage:
        if chain is not None:
            self._check_chain(chain)
        return await self._reads.list(tenant=tenant, chain=chain, limit=limit, after=after)

    async def every(self, tenant: str, *, chain: Chain | None = None) -> Sequence[Wallet]:
        """Every wallet of the tenant (on one chain, when given), oldest first."""
        if chain is not None:
            self._check_chain(chain)
        return await every_wallet(self._reads, tenant, chain)

    async def remove(self, tenant: str, wallet_id: UUID) -> None:
        if not await self._wallets.delete(wallet_id, tenant):
            raise WalletNotFoundError(wallet_id)
        await self._changed(tenant)

    async def oldest_data_age(self) -> float | None:
        """Seconds since the least recently read wallet was read (or created, if never read):
        how far behind the schedule is. None without wallets."""
        oldest = await self._reads.oldest_read()
        if oldest is None:
            return None
        return max(0.0, (self._clock.now() - oldest).total_seconds())

    async def _changed(self, tenant: str) -> None:
        if self._watcher is not None:
            await self._watcher.portfolio_changed(tenant)


async def every_wallet(
    wallets: WalletRepository, tenant: str | None, chain: Chain | None = None
) -> list[Wallet]:
    """Every wallet of the tenant (of every tenant when None), of one chain when given, page by
    page."""
    found: list[Wallet] = []
    cursor = None
    while True:
        page = await wallets.list(tenant=tenant, chain=chain, limit=1000, after=cursor)
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor
