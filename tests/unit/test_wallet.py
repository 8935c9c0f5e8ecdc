from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portfolio.domain.chains import Chain
from portfolio.domain.errors import InvalidLabelError
from portfolio.domain.wallet import LABEL_MAX_LENGTH, Wallet, normalize_label

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_new_wallet_has_a_normalized_address_and_label() -> None:
    wallet = Wallet.create(
        Chain.ETHEREUM, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "  hot  ", NOW
    )
    assert wallet.address == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    assert wallet.label == "hot"
    assert wallet.created_at == wallet.updated_at == NOW


@pytest.mark.parametrize("label", [None, "", "   "])
def test_an_empty_label_is_no_label(label: str | None) -> None:
    assert normalize_label(label) is None


@pytest.mark.parametrize("label", ["x" * (LABEL_MAX_LENGTH + 1), "tab\there", "bell\x07"])
def test_long_labels_and_control_characters_are_refused(label: str) -> None:
    with pytest.raises(InvalidLabelError):
        normalize_label(label)
