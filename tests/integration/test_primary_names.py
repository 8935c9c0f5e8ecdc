"""Wallets' primary ENS names, read by the cycle on a real node (anvil, ENS's published
contracts) into both databases: every EVM wallet at an address gets its name (any chain, any
tenant; Solana's none), a bounded number of addresses a cycle, never-read ones first; read
again only once a day has passed; a node that does not answer changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from portfolio.adapters.chains.ens import EnsNames
from portfolio.adapters.db.engine import session_factory
from portfolio.adapters.db.models import WalletRow
from portfolio.adapters.db.wallets import SqlPrimaryNames, SqlWalletRepository
from portfolio.domain.chains import Chain
from portfolio.domain.wallet import Wallet
from portfolio.services.names import PrimaryNames
from tests.chains.ens import VITALIK, Ens, ens_through_proxy
from tests.fakes import FakeClock
from tests.rpcproxy import RpcProxy

NOBODY = "0x" + "7c" * 20
SOLANA_KEY = "So11111111111111111111111111111111111111112"


@pytest.fixture
async def chain() -> AsyncIterator[tuple[Ens, RpcProxy, EnsNames]]:
    async with ens_through_proxy() as (_, ens, proxy, names):
        yield ens, proxy, names


async def test_primary_names_are_read_for_every_evm_wallet_and_again_daily(
    chain: tuple[Ens, RpcProxy, EnsNames], db_engine: AsyncEngine
) -> None:
    ens, proxy, names = chain
    clock = FakeClock()
    sessions = session_factory(db_engine)
    wallets = SqlWalletRepository(sessions)
    ours = Wallet.create(Chain.ETHEREUM, VITALIK, None, clock.now())
    on_base = Wallet.create(Chain("base"), VITALIK, None, clock.now())
    theirs = Wallet.create(Chain.ETHEREUM, VITALIK, None, clock.now(), tenant="another")
    nobody = Wallet.create(Chain.ETHEREUM, NOBODY, None, clock.now())
    solana = Wallet.create(Chain.SOLANA, SOLANA_KEY, None, clock.now())
    await wallets.add(ours, on_base, theirs, nobody, solana)
    refresh = PrimaryNames(names, SqlPrimaryNames(sessions), clock, per_cycle=1)

    async def named() -> dict[str, str | None]:
        async with sessions() as session:
            rows = (await session.execute(select(WalletRow.id, WalletRow.ens_name))).all()
        return {str(wallet_id): name for wallet_id, name in rows}

    proxy.fault = "500"
    await refresh.refresh()  # the node does not answer: nothing read, nothing changed
    proxy.fault = None
    assert set((await named()).values()) == {None}
    await refresh.refresh()  # one address a cycle
    await refresh.refresh()
    assert await named() == {
        str(ours.id): "vitalik.eth", str(on_base.id): "vitalik.eth",
        str(theirs.id): "vitalik.eth", str(nobody.id): None, str(solana.id): None,
    }  # fmt: skip
    for wallet in (ours, nobody):  # seen by the wallets' reads too
        stored = await wallets.get(wallet.id, wallet.tenant)
        assert stored is not None
        assert stored.ens_name == (None if wallet is nobody else "vitalik.eth")

    await ens.register("vb.eth", VITALIK)
    await ens.claim(VITALIK, "vb.eth")
    asked = proxy.requests
    clock.advance(hours=23)
    await refresh.refresh()
    assert proxy.requests == asked  # read less than a day ago: not asked again
    assert (await named())[str(ours.id)] == "vitalik.eth"
    clock.advance(hours=2)
    await refresh.refresh()
    await refresh.refresh()
    assert (await named())[str(ours.id)] == "vb.eth"
    assert (await named())[str(theirs.id)] == "vb.eth"
