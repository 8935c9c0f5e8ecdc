"""The Solana reader against the local LiteSVM RPC: batches, faults, failover, known accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from solders.pubkey import Pubkey

from portfolio.adapters.chains.solana import SolanaChainReader, SolanaLimits
from portfolio.adapters.resilience import CallPolicy
from portfolio.domain.errors import ChainTimeoutError, ChainUnavailableError, NotATokenError
from portfolio.domain.tokens import WalletReading
from tests.chains.worlds import U64_MAX, SolanaWorld
from tests.netutil import free_port

FAST = CallPolicy(timeout_seconds=2, attempts=3, backoff_seconds=0.01, backoff_max_seconds=0.05)
Reader = Callable[..., AbstractAsyncContextManager[SolanaChainReader]]


@pytest.fixture
def reader(solana: SolanaWorld) -> Reader:
    @asynccontextmanager
    async def make(
        urls: Sequence[str] | None = None,
        policy: CallPolicy = FAST,
        limits: SolanaLimits | None = None,
    ) -> AsyncIterator[SolanaChainReader]:
        built = SolanaChainReader.from_urls(
            urls or [solana.server.url], solana.token_list, policy, limits
        )
        try:
            yield built
        finally:
            await built.close()

    return make


@pytest.fixture(autouse=True)
def healthy(solana: SolanaWorld) -> None:
    solana.server.fault = None
    solana.server.next_faults = []
    solana.server.batches = True
    solana.server.honour_data_slice = True
    solana.server.malformed = set()


async def test_sol_and_spl_balances_of_both_programs(solana: SolanaWorld, reader: Reader) -> None:
    async with reader() as chain:
        readings = await chain.read_balances([solana.rich, solana.empty, solana.huge])
    rich = {b.token.address: (b.token, b.raw) for b in readings[solana.rich].balances}
    assert rich[None][1] == 2_500_000_001
    assert rich[None][0].symbol == "SOL"
    assert rich[solana.usdc.address] == (solana.usdc, 1_234_567)
    assert rich[solana.pyusd.address] == (solana.pyusd, 5)
    assert rich[solana.split.address] == (solana.split, 123)  # two accounts, summed
    assert solana.zero.address not in rich  # a zero balance is dropped
    unknown, raw = rich[solana.unknown_mint]
    assert (unknown.symbol, unknown.verified, unknown.decimals, raw) == (None, False, 9, 77)
    assert [(b.token.symbol, b.raw) for b in readings[solana.empty].balances] == [("SOL", 0)]
    huge = {b.token.symbol: b.raw for b in readings[solana.huge].balances}
    assert huge == {"SOL": U64_MAX, "USDC": U64_MAX, "PYUSD": U64_MAX}


async def test_requests_travel_in_json_rpc_batches(solana: SolanaWorld, reader: Reader) -> None:
    wallets = [solana.rich, solana.empty, solana.huge] * 50  # 150 wallets: 2 lamport calls
    limits = SolanaLimits(batch_size=100)
    before, calls_before = solana.server.requests, len(solana.server.methods)
    async with reader(limits=limits) as chain:
        readings = await chain.read_balances(wallets)
    assert len(readings) == 3
    calls = solana.server.methods[calls_before:]
    assert calls.count("getMultipleAccounts") == 2
    assert calls.count("getTokenAccountsByOwner") == 300
    assert calls.count("getProgramAccounts") == 300  # stake accounts, as staker and withdrawer
    assert solana.server.requests - before == 7  # 602 requests in 7 HTTP requests


@pytest.mark.parametrize("fault", ["429", "500", "reset", "rpc-limit", "timeout"])
async def test_transient_faults_are_retried(
    solana: SolanaWorld, reader: Reader, fault: str
) -> None:
    solana.server.next_faults = [fault]
    async with reader(
        policy=CallPolicy(timeout_seconds=0.5, attempts=3, backoff_seconds=0.01)
    ) as chain:
        readings = await chain.read_balances([solana.rich])
    assert readings[solana.rich].balances[0].raw == 2_500_000_001


@pytest.mark.parametrize("fault", ["malformed", "short"])
async def test_a_malformed_or_short_answer_is_an_error_never_a_zero(
    solana: SolanaWorld, reader: Reader, fault: str
) -> None:
    solana.server.fault = fault
    async with reader() as chain:
        with pytest.raises(ChainUnavailableError):
            await chain.read_balances([solana.rich])


async def test_the_first_url_down_fails_over(solana: SolanaWorld, reader: Reader) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    async with reader([down, solana.server.url]) as chain:
        readings = await chain.read_balances([solana.rich])
    assert readings[solana.rich].balances[0].raw == 2_500_000_001


async def test_all_down_is_unavailable_then_the_circuit_opens(
    solana: SolanaWorld, reader: Reader
) -> None:
    solana.server.fault = "500"
    policy = CallPolicy(
        attempts=2, backoff_seconds=0.01, breaker_threshold=2, breaker_ttl_seconds=60
    )
    async with reader(policy=policy) as chain:
        for _ in range(2):
            with pytest.raises(ChainUnavailableError, match="HTTP 500"):
                await chain.read_balances([solana.rich])
        seen = solana.server.requests
        with pytest.raises(ChainUnavailableError, match="circuit open"):
            await chain.read_balances([solana.rich])
        assert solana.server.requests == seen


async def test_every_endpoint_timing_out_is_a_timeout(solana: SolanaWorld, reader: Reader) -> None:
    solana.server.fault = "timeout"
    async with reader(policy=CallPolicy(timeout_seconds=0.2, attempts=1)) as chain:
        with pytest.raises(ChainTimeoutError):
            await chain.read_balances([solana.rich])


async def test_an_endpoint_that_refuses_batches_is_asked_one_request_at_a_time(
    solana: SolanaWorld, reader: Reader
) -> None:
    solana.server.batches = False
    async with reader() as chain:
        first = await chain.read_balances([solana.rich, solana.huge])
        asked = solana.server.requests
        second = await chain.read_balances([solana.rich, solana.huge])
    assert first == second
    assert first[solana.rich].balances[0].raw == 2_500_000_001
    assert solana.server.requests - asked == 9  # remembered: no batch tried again


async def test_known_token_accounts_are_read_again_with_get_multiple_accounts(
    solana: SolanaWorld, reader: Reader
) -> None:
    async with reader() as chain:
        discovered = await chain.read_balances([solana.rich, solana.huge, solana.empty])
        accounts = {a: r.accounts or [] for a, r in discovered.items()}
        assert len(accounts[solana.rich]) == 6  # the zero-balance account is known too
        assert accounts[solana.empty] == []
        calls = len(solana.server.methods)
        again = await chain.read_balances(list(accounts), accounts)
    assert solana.server.methods[calls:] == ["getMultipleAccounts"]  # 11 accounts, one call
    for address in accounts:
        assert again[address].balances == discovered[address].balances
        assert again[address].accounts is None


async def test_a_known_account_that_changed_or_closed_is_read_as_it_is_now(
    solana: SolanaWorld, reader: Reader
) -> None:
    owner = Pubkey.new_unique()
    mint = Pubkey.from_string(solana.usdc.address or "")
    first, second = Pubkey.new_unique(), Pubkey.new_unique()
    solana.server.create_token_account(first, mint, owner, 10)
    solana.server.create_token_account(second, mint, owner, 5)
    async with reader() as chain:
        accounts = (await chain.read_balances([str(owner)]))[str(owner)].accounts or []
        solana.server.create_token_account(first, mint, owner, 70)
        solana.server.close_account(second)
        again = (await chain.read_balances([str(owner)], {str(owner): accounts}))[str(owner)]
    assert {b.token.symbol: b.raw for b in again.balances} == {"SOL": 0, "USDC": 70}


async def _discover(chain: SolanaChainReader, owners: list[Pubkey]) -> dict[str, list[Any]]:
    readings = await chain.read_balances([str(o) for o in owners])
    return {a: list(r.accounts or []) for a, r in readings.items()}


def _held(reading: WalletReading) -> dict[str | None, int]:
    return {b.token.symbol: b.raw for b in reading.balances}


async def test_an_account_handed_to_another_wallet_moves_its_balance_in_the_same_read(
    solana: SolanaWorld, reader: Reader
) -> None:
    giver, taker = Pubkey.new_unique(), Pubkey.new_unique()
    mint = Pubkey.from_string(solana.usdc.address or "")
    account = Pubkey.new_unique()
    solana.server.create_token_account(account, mint, giver, 40)
    async with reader() as chain:
        known = await _discover(chain, [giver, taker])
        assert known[str(taker)] == []
        solana.server.create_token_account(account, mint, taker, 40)  # SetAuthority (owner)
        calls = len(solana.server.methods)
        again = await chain.read_balances(list(known), known)
    assert _held(again[str(giver)]) == {"SOL": 0}
    assert _held(again[str(taker)]) == {"SOL": 0, "USDC": 40}
    assert [a.address for a in again[str(taker)].accounts or []] == [str(account)]
    assert again[str(giver)].accounts == []  # discovered again: the known list is replaced
    # One read of the known accounts, then one discovery of both wallets.
    assert solana.server.methods[calls:].count("getTokenAccountsByOwner") == 4


async def test_an_account_closed_and_reopened_for_another_mint_counts_what_it_holds_now(
    solana: SolanaWorld, reader: Reader
) -> None:
    owner, account = Pubkey.new_unique(), Pubkey.new_unique()
    usdc = Pubkey.from_string(solana.usdc.address or "")
    split = Pubkey.from_string(solana.split.address or "")
    solana.server.create_token_account(account, usdc, owner, 9)
    async with reader() as chain:
        known = await _discover(chain, [owner])
        solana.server.close_account(account)
        solana.server.create_token_account(account, split, owner, 9)
        again = (await chain.read_balances([str(owner)], known))[str(owner)]
    assert _held(again) == {"SOL": 0, "SPLIT": 9}


async def test_a_node_that_ignores_data_slice_is_read_from_the_whole_account(
    solana: SolanaWorld, reader: Reader
) -> None:
    async with reader() as chain:
        known = await _discover(chain, [Pubkey.from_string(solana.rich)])
        solana.server.honour_data_slice = False
        again = (await chain.read_balances([solana.rich], known))[solana.rich]
    assert again.error is None
    assert _held(again) == {"SOL": 2_500_000_001, "USDC": 1_234_567, "PYUSD": 5, "SPLIT": 123,
                            None: 77}  # fmt: skip
    assert again.accounts is None  # read again, not discovered


async def test_a_malformed_account_answer_fails_its_wallet_alone(
    solana: SolanaWorld, reader: Reader
) -> None:
    async with reader() as chain:
        known = await _discover(
            chain, [Pubkey.from_string(solana.rich), Pubkey.from_string(solana.huge)]
        )
        solana.server.malformed = {known[solana.rich][0].address}
        again = await chain.read_balances([solana.rich, solana.huge], known)
    error = again[solana.rich].error
    assert error is not None
    assert "malformed" in error
    assert again[solana.rich].balances == []
    assert again[solana.huge].error is None
    assert _held(again[solana.huge])["USDC"] == U64_MAX


async def test_sol_in_stake_accounts_is_found_counted_and_read_again(
    solana: SolanaWorld, reader: Reader
) -> None:
    """Stake accounts whose staker or withdrawer is the wallet (getProgramAccounts on the
    Stake program, memcmp at each authority) are counted as staked SOL beside the liquid SOL;
    a refresh reads them again with the token accounts, and one withdrawn and closed sends
    the wallet back to discovery."""
    wallet, other = Pubkey.new_unique(), Pubkey.new_unique()
    both, withdrawer_only, staker_only, not_ours = (Pubkey.new_unique() for _ in range(4))
    server = solana.server
    server.set_sol(wallet, 1_000_000_000)
    server.create_stake_account(both, wallet, wallet, 5_000_000_000)
    server.create_stake_account(withdrawer_only, other, wallet, 3_000_000_000)
    server.create_stake_account(staker_only, wallet, other, 2_000_000_000, delegated=False)
    server.create_stake_account(not_ours, other, other, 7_000_000_000)
    address = str(wallet)
    async with reader() as chain:
        found = (await chain.read_balances([address]))[address]
        held = {(b.token.symbol, b.token.kind): b.raw for b in found.balances}
        assert held == {("SOL", "liquid"): 1_000_000_000, ("SOL", "staked"): 10_000_000_000}
        known = found.accounts or []
        assert {a.address for a in known} == {str(both), str(withdrawer_only), str(staker_only)}

        server.create_stake_account(both, wallet, wallet, 5_100_000_000)  # rewards came in
        calls = len(server.methods)
        again = (await chain.read_balances([address], {address: known}))[address]
        assert server.methods[calls:] == ["getMultipleAccounts"]
        staked = next(b.raw for b in again.balances if b.token.kind == "staked")
        assert staked == 10_100_000_000

        server.close_account(withdrawer_only)  # withdrawn: the account is gone
        calls = len(server.methods)
        moved = (await chain.read_balances([address], {address: known}))[address]
        assert "getProgramAccounts" in server.methods[calls:]  # discovered again
        staked = next(b.raw for b in moved.balances if b.token.kind == "staked")
        assert staked == 7_100_000_000
        assert {a.address for a in moved.accounts or []} == {str(both), str(staker_only)}


async def test_a_mint_is_read_for_its_decimals(solana: SolanaWorld, reader: Reader) -> None:
    async with reader() as chain:
        listed = await chain.token(solana.usdc.address or "")
        assert (listed.symbol, listed.decimals, listed.verified) == ("USDC", 6, True)
        unknown = await chain.token(solana.unknown_mint)
        assert (unknown.symbol, unknown.decimals, unknown.verified) == (None, 9, False)
        with pytest.raises(NotATokenError):
            await chain.token(solana.rich)  # a wallet, not a mint


async def test_a_token_2022_mint_names_itself_in_its_metadata(
    solana: SolanaWorld, reader: Reader
) -> None:
    mint = Pubkey.new_unique()
    solana.server.create_mint_with_metadata(mint, 5, "Local Dollar", "LUSD")
    async with reader() as chain:
        token = await chain.token(str(mint))
    assert (token.symbol, token.name, token.decimals, token.verified) == (
        "LUSD", "Local Dollar", 5, False,
    )  # fmt: skip
