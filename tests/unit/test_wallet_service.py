from __future__ import annotations

from uuid import uuid4

import pytest

from portfolio.domain.chains import Chain
from portfolio.domain.errors import DuplicateWalletError, InvalidAddressError, WalletNotFoundError
from portfolio.domain.wallet import DEFAULT_TENANT
from portfolio.services.wallets import WalletService
from tests.fakes import FakeClock, FakeWalletRepository

ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


@pytest.fixture
def repository() -> FakeWalletRepository:
    return FakeWalletRepository()


@pytest.fixture
def service(repository: FakeWalletRepository) -> WalletService:
    return WalletService(repository, FakeClock())


async def test_adding_stores_the_normalized_wallet(
    service: WalletService, repository: FakeWalletRepository
) -> None:
    wallet = await service.add(DEFAULT_TENANT, Chain.ETHEREUM, ADDRESS.lower(), "main")
    assert repository.wallets[wallet.id].address == ADDRESS


async def test_adding_the_same_address_in_other_casing_names_the_first_wallet(
    service: WalletService,
) -> None:
    first = await service.add(DEFAULT_TENANT, Chain.ETHEREUM, ADDRESS.lower(), None)
    with pytest.raises(DuplicateWalletError) as raised:
        await service.add(DEFAULT_TENANT, Chain.ETHEREUM, "0x" + ADDRESS[2:].upper(), None)
    assert raised.value.existing_id == first.id


async def test_an_invalid_address_stores_nothing(
    service: WalletService, repository: FakeWalletRepository
) -> None:
    with pytest.raises(InvalidAddressError):
        await service.add(DEFAULT_TENANT, Chain.SOLANA, ADDRESS, None)
    assert repository.wallets == {}


async def test_getting_or_removing_an_unknown_wallet_is_not_found(service: WalletService) -> None:
    with pytest.raises(WalletNotFoundError):
        await service.get(DEFAULT_TENANT, uuid4())
    with pytest.raises(WalletNotFoundError):
        await service.remove(DEFAULT_TENANT, uuid4())


async def test_a_removed_wallet_is_gone(service: WalletService) -> None:
    wallet = await service.add(DEFAULT_TENANT, Chain.ETHEREUM, ADDRESS, None)
    await service.remove(DEFAULT_TENANT, wallet.id)
    with pytest.raises(WalletNotFoundError):
        await service.get(DEFAULT_TENANT, wallet.id)
