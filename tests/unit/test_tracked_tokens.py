"""Tracked tokens in a read shared by tenants: an address is read once with every tracked
token of every tenant at it, and each tenant's wallet keeps only its own tracked tokens."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Token, TokenBalance, TokenFailure, WalletReading
from portfolio.domain.wallet import Wallet
from portfolio.services.fetching import _own, _per_address

NOW = datetime(2026, 11, 1, tzinfo=UTC)
ADDRESS = "0x" + "12" * 20


def _token(address: str, symbol: str) -> Token:
    return Token(Chain.ETHEREUM, address, symbol, symbol, 18, False)


def test_each_tenant_keeps_its_own_tracked_tokens() -> None:
    alpha = Wallet.create(Chain.ETHEREUM, ADDRESS, None, NOW, "alpha")
    beta = Wallet.create(Chain.ETHEREUM, ADDRESS, None, NOW, "beta")
    a_token, b_token = _token("0x" + "aa" * 20, "AAA"), _token("0x" + "bb" * 20, "BBB")
    listed = Token.native(Chain.ETHEREUM)
    tracked = {"alpha": [a_token], "beta": [b_token, a_token]}
    extra = _per_address([alpha, beta], tracked, {})
    assert [t.symbol for t in extra[alpha.address]] == ["AAA", "BBB"]  # read once, both
    reading = WalletReading(
        alpha.address,
        [TokenBalance(listed, 1), TokenBalance(a_token, 2)],
        [TokenFailure(b_token, "reverted")],
    )
    assert [b.token.symbol for b in _own(reading, alpha, tracked).balances] == ["ETH", "AAA"]
    assert _own(reading, alpha, tracked).failures == []  # BBB is beta's alone
    assert _own(reading, beta, tracked) == reading  # beta tracks both


def test_a_listed_token_another_tenant_tracks_stays_everyones() -> None:
    alpha = Wallet.create(Chain.ETHEREUM, ADDRESS, None, NOW, "alpha")
    listed = Token(Chain.ETHEREUM, "0x" + "cc" * 20, "LIST", "Listed", 6, True)
    tracked = {"beta": [replace(listed, verified=False)]}
    reading = WalletReading(alpha.address, [TokenBalance(listed, 5)], [])
    assert _own(reading, alpha, tracked).balances == reading.balances


def test_on_solana_a_tracked_mint_names_the_tenants_balance_only() -> None:
    alpha = Wallet.create(Chain.SOLANA, "vines1vzrYbzLMRdu58ou5XTby4qAqVRLmqo36NKPTg", None,
                          NOW, "alpha")  # fmt: skip
    beta = replace(alpha, tenant="beta")
    unnamed = Token(Chain.SOLANA, "Mint111", None, None, 5, False)
    tracked = {"alpha": [replace(unnamed, symbol="LUSD", name="Local Dollar")]}
    reading = WalletReading(alpha.address, [TokenBalance(unnamed, 7)], [])
    assert [b.token.symbol for b in _own(reading, alpha, tracked).balances] == ["LUSD"]
    assert [b.token.symbol for b in _own(reading, beta, tracked).balances] == [None]


def test_a_token_found_for_a_wallet_is_read_and_its_own() -> None:
    """A token found in the logs for a wallet is read at its address and kept in its
    reading, even where another tenant tracks the same token."""
    alpha = Wallet.create(Chain.ETHEREUM, ADDRESS, None, NOW, "alpha")
    beta = Wallet.create(Chain.ETHEREUM, ADDRESS, None, NOW, "beta")
    found_token = _token("0x" + "cc" * 20, "CCC")
    tracked = {"beta": [found_token]}
    extra = _per_address([alpha, beta], tracked, {alpha.id: [found_token]})
    assert extra[alpha.address] == [found_token]  # once
    reading = WalletReading(alpha.address, [TokenBalance(found_token, 3)], [])
    assert _own(reading, alpha, tracked, [found_token]).balances == reading.balances
    assert _own(reading, alpha, tracked).balances == []  # not found for it: beta's alone
