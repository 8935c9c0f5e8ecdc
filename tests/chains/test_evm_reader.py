"""The EVM reader against a real anvil node: exact balances, per-token failures, batching and
faults, with and without multicall."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest

from portfolio.adapters.chains.evm import EvmLimits, Web3ChainReader
from portfolio.adapters.resilience import CallPolicy
from portfolio.config import MULTICALL3
from portfolio.domain.errors import ChainTimeoutError, ChainUnavailableError, NotATokenError
from portfolio.domain.tokens import Token, TokenAccount
from tests.chains.anvil import CHAIN_ID
from tests.chains.worlds import BIG, HUGE, ONE, ZERO, EvmWorld
from tests.netutil import free_port
from tests.rpcproxy import RpcProxy

NO_CODE = "0x000000000000000000000000000000000000dEaD"
FAST = CallPolicy(timeout_seconds=2, attempts=3, backoff_seconds=0.01, backoff_max_seconds=0.05)

Reader = Callable[..., AbstractAsyncContextManager[Web3ChainReader]]


@pytest.fixture(params=["multicall", "batch"])
def multicall(request: pytest.FixtureRequest) -> str:
    return MULTICALL3 if request.param == "multicall" else NO_CODE


@pytest.fixture
def reader(evm: EvmWorld, multicall: str) -> Reader:
    @asynccontextmanager
    async def make(
        urls: Sequence[str] | None = None,
        tokens: Sequence[Token] | None = None,
        policy: CallPolicy = FAST,
        limits: EvmLimits | None = None,
    ) -> AsyncIterator[Web3ChainReader]:
        chosen = evm.tokens if tokens is None else tokens
        token_list = {CHAIN_ID: list(chosen)}
        built = Web3ChainReader.from_urls(
            urls or [evm.node.url], token_list, multicall, policy, limits
        )
        try:
            yield built
        finally:
            await built.close()

    return make


async def test_balances_are_exact_to_the_base_unit(evm: EvmWorld, reader: Reader) -> None:
    async with reader() as chain:
        readings = await chain.read_balances([ZERO, ONE, BIG])
    held = {a: {b.token.symbol: b.raw for b in r.balances} for a, r in readings.items()}
    assert held[ZERO] == {"ETH": 0, "SIX": 0, "EIGHTEEN": 0, "TWENTYFOUR": 0}
    assert held[ONE] == {"ETH": 1, "SIX": 1, "EIGHTEEN": 1, "TWENTYFOUR": 1}
    assert held[BIG] == {
        "ETH": HUGE,
        "SIX": HUGE * 6,
        "EIGHTEEN": HUGE * 18,
        "TWENTYFOUR": HUGE * 24,
    }
    for address in (ZERO, ONE, BIG):  # and the node agrees, call by call
        assert held[address]["ETH"] == await evm.node.eth_balance(address)
        for token in evm.good_tokens:
            assert token.address is not None
            assert held[address][token.symbol] == await evm.node.token_balance(
                token.address, address
            )


async def test_a_reverting_or_garbage_token_fails_alone(evm: EvmWorld, reader: Reader) -> None:
    async with reader() as chain:
        reading = (await chain.read_balances([ONE]))[ONE]
    failed = {f.token: f.reason for f in reading.failures}
    assert set(failed) == {evm.reverting, evm.garbage}
    assert "7 bytes" in failed[evm.garbage]
    assert len(reading.balances) == 4


async def test_a_discovery_remembers_the_held_tokens_and_those_that_failed(
    evm: EvmWorld, reader: Reader
) -> None:
    async with reader() as chain:
        readings = await chain.read_balances([ZERO, ONE])
    held = {a: {t.mint: t for t in r.accounts or []} for a, r in readings.items()}
    # ONE holds one base unit of each good token; the reverting and the garbage token could
    # not be read, so they may be held: read again until a discovery says otherwise.
    assert set(held[ONE]) == {t.address for t in evm.tokens}
    assert set(held[ZERO]) == {evm.reverting.address, evm.garbage.address}
    six = held[ONE][evm.six.address or ""]
    assert (six.address, six.program, six.decimals) == (evm.six.address, "erc20", 6)
    assert [b.token.symbol for b in readings[ZERO].balances][:2] == ["ETH", "SIX"]  # zeros too


async def test_a_read_again_asks_the_native_coin_and_the_held_tokens_only(
    evm: EvmWorld, reader: Reader
) -> None:
    async with RpcProxy(evm.node.url, count_calls=True) as proxy, reader([proxy.url]) as chain:
        discovered = await chain.read_balances([ONE, BIG])
        found = proxy.balance_calls
        known = {ONE: [TokenAccount.held(evm.six)], BIG: []}
        proxy.balance_calls = 0
        again = await chain.read_balances([ONE, BIG], known, {BIG: [evm.eighteen]})
    assert found == 2 * len(evm.tokens)
    assert proxy.balance_calls == 2  # ONE's SIX, and BIG's tracked EIGHTEEN
    assert {b.token.symbol: b.raw for b in again[ONE].balances} == {"ETH": 1, "SIX": 1}
    assert {b.token.symbol: b.raw for b in again[BIG].balances} == {
        "ETH": HUGE, "EIGHTEEN": HUGE * 18
    }  # fmt: skip
    assert again[ONE].accounts is None  # nothing discovered
    assert again[BIG].accounts is None
    assert evm.eighteen.address in {t.mint for t in discovered[BIG].accounts or []}


async def test_a_held_token_the_lists_no_longer_name_is_read_as_unlisted(
    evm: EvmWorld, reader: Reader
) -> None:
    async with reader(tokens=[evm.six]) as chain:
        again = await chain.read_balances([ONE], {ONE: [TokenAccount.held(evm.eighteen)]})
    (token,) = (b.token for b in again[ONE].balances if not b.token.is_native)
    assert (token.address, token.symbol, token.decimals, token.verified) == (
        evm.eighteen.address, None, 18, False
    )  # fmt: skip


async def test_many_wallets_in_small_chunks_come_back_in_place(
    evm: EvmWorld, reader: Reader
) -> None:
    wallets = [f"0x{n:040x}" for n in range(0x1000, 0x1000 + 150)] + [ONE, BIG]
    limits = EvmLimits(calls_per_multicall=37, max_request_bytes=40_000, batch_size=23)
    async with RpcProxy(evm.node.url) as proxy, reader([proxy.url], limits=limits) as chain:
        readings = await chain.read_balances(wallets)
    assert [r.address for r in readings.values()] == wallets
    assert {b.raw for a in wallets[:150] for b in readings[a].balances} == {0}
    assert {b.raw for b in readings[ONE].balances} == {1}
    assert proxy.requests > 3  # really chunked


@pytest.mark.parametrize("fault", ["429", "500", "reset", "rpc-limit", "timeout"])
async def test_transient_faults_are_retried(evm: EvmWorld, reader: Reader, fault: str) -> None:
    async with RpcProxy(evm.node.url) as proxy:
        policy = CallPolicy(timeout_seconds=0.5, attempts=3, backoff_seconds=0.01)
        async with reader([proxy.url], policy=policy) as chain:
            await chain.read_balances([ONE])  # warm up: code check done
            proxy.next_faults = [fault]
            reading = (await chain.read_balances([ONE]))[ONE]
    assert {b.raw for b in reading.balances} == {1}


@pytest.mark.parametrize("fault", ["malformed", "short"])
async def test_a_malformed_or_short_answer_is_an_error_never_a_zero(
    evm: EvmWorld, reader: Reader, fault: str
) -> None:
    async with RpcProxy(evm.node.url) as proxy, reader([proxy.url]) as chain:
        await chain.read_balances([ONE])
        proxy.fault = fault
        with pytest.raises(ChainUnavailableError):
            await chain.read_balances([ONE])


async def test_a_bad_first_endpoint_fails_over_to_the_next(evm: EvmWorld, reader: Reader) -> None:
    down = f"http://127.0.0.1:{free_port()}/"
    async with RpcProxy(evm.node.url) as broken, RpcProxy(evm.node.url) as good:
        broken.fault = "malformed"
        async with reader([down, broken.url, good.url]) as chain:
            reading = (await chain.read_balances([BIG]))[BIG]
    assert {b.token.symbol: b.raw for b in reading.balances}["ETH"] == HUGE
    assert good.requests >= 2


async def test_every_endpoint_down_is_unavailable_and_the_circuit_opens(
    evm: EvmWorld, reader: Reader
) -> None:
    policy = CallPolicy(
        attempts=2, backoff_seconds=0.01, breaker_threshold=2, breaker_ttl_seconds=60
    )
    async with RpcProxy(evm.node.url) as proxy, reader([proxy.url], policy=policy) as chain:
        proxy.fault = "500"
        for _ in range(2):
            with pytest.raises(ChainUnavailableError, match="HTTP 500"):
                await chain.read_balances([ONE])
        seen = proxy.requests
        with pytest.raises(ChainUnavailableError, match="circuit open"):
            await chain.read_balances([ONE])
        assert proxy.requests == seen  # an open circuit does not even ask


async def test_every_endpoint_timing_out_is_a_timeout(evm: EvmWorld, reader: Reader) -> None:
    policy = CallPolicy(timeout_seconds=0.2, attempts=1)
    async with RpcProxy(evm.node.url) as proxy, reader([proxy.url], policy=policy) as chain:
        proxy.fault = "timeout"
        with pytest.raises(ChainTimeoutError):
            await chain.read_balances([ONE])


async def test_the_nodes_chain_id_picks_the_tokens_of_the_list(evm: EvmWorld) -> None:
    mainnet_only = {1: [evm.six], CHAIN_ID: [evm.eighteen]}
    chain = Web3ChainReader.from_urls([evm.node.url], mainnet_only, MULTICALL3, FAST)
    try:
        reading = (await chain.read_balances([ONE]))[ONE]
    finally:
        await chain.close()
    assert [b.token.symbol for b in reading.balances] == ["ETH", "EIGHTEEN"]


async def test_a_tokens_metadata_is_read_from_the_chain_string_or_bytes32(
    evm: EvmWorld, reader: Reader
) -> None:
    symbol, name = b"MKR".ljust(32, b"\0"), b"Maker".ljust(32, b"\0")
    old = await evm.node.deploy("Bytes32Token", ["bytes32", "bytes32", "uint8"], [symbol, name, 18])
    async with reader() as chain:
        modern = await chain.token(evm.six.address or "")
        assert (modern.symbol, modern.name, modern.decimals) == ("SIX", "six", 6)
        assert modern.address == evm.six.address
        assert modern.verified is False  # read from the chain, not from a list
        bytes32 = await chain.token(old.lower())
        assert (bytes32.symbol, bytes32.name, bytes32.decimals) == ("MKR", "Maker", 18)
        reverting = await chain.token(evm.reverting.address or "")
        assert (reverting.symbol, reverting.decimals) == (None, 18)  # no symbol(): None
        with pytest.raises(NotATokenError):
            await chain.token(ONE)  # no code at all


async def test_a_token_that_burns_all_the_gas_fails_alone_and_opens_no_circuit(
    evm: EvmWorld, reader: Reader
) -> None:
    """A tracked token (anyone may track any contract) whose balanceOf burns the gas, at four
    addresses of one multicall: the calls after it are left too little gas and fail with no
    reason. Each such call is read again alone: only the burner's calls fail, as that token's
    error, the other balances are read, and the node, which answered, is never counted toward
    its circuit breaker."""
    burner_address = await evm.node.deploy("GasBurningToken", [], [])
    burner = Token(evm.tokens[0].chain, burner_address, "BURN", "Gas Burner", 6, False)
    policy = CallPolicy(timeout_seconds=10, attempts=1, breaker_threshold=2)
    addresses = [ONE, BIG, ZERO, "0x" + "cd" * 20]
    async with reader(policy=policy) as chain:
        plain = await chain.read_balances(addresses)
        for _ in range(3):  # past the threshold: a counted failure would open the circuit
            readings = await chain.read_balances(
                addresses, extra_tokens={address: [burner] for address in addresses}
            )
            for address in addresses:
                failed = {f.token.key for f in readings[address].failures}
                assert failed == {f.token.key for f in plain[address].failures} | {burner_address}
                assert readings[address].balances == plain[address].balances


async def test_a_token_reverting_like_a_rate_limit_is_its_own_error_not_the_nodes(
    evm: EvmWorld, reader: Reader
) -> None:
    """A contract may revert with any reason, "rate limit exceeded" too: that call's error,
    neither retried nor counted toward the node's circuit breaker."""
    liar = await evm.node.deploy("RateLimitRevertingToken", [], [])
    token = Token(evm.tokens[0].chain, liar, None, None, 18, False)
    policy = CallPolicy(timeout_seconds=10, attempts=3, breaker_threshold=2)
    async with reader(policy=policy) as chain:
        for _ in range(4):  # twice the threshold
            with pytest.raises(NotATokenError):
                await chain.token(liar)
            readings = await chain.read_balances([ONE], extra_tokens={ONE: [token]})
            assert liar in {f.token.key for f in readings[ONE].failures}
            assert {b.token.symbol for b in readings[ONE].balances} >= {"ETH", "SIX"}


async def test_reads_keep_one_connection_alive(evm: EvmWorld, reader: Reader) -> None:
    """Twenty reads in a row travel on the connections the first opened (the project's httpx
    client, kept alive), not one connection a request."""
    async with RpcProxy(evm.node.url) as proxy, reader([proxy.url]) as chain:
        for _ in range(20):
            readings = await chain.read_balances([ONE])
            assert {b.raw for b in readings[ONE].balances} == {1}
    assert proxy.requests >= 20
    assert len(proxy.peers) == 1


async def test_nodes_are_reached_through_the_environments_proxy(
    evm: EvmWorld, reader: Reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set, a node is reached through it, as every outbound call of the
    service is: here a node name that resolves nowhere is read, by way of the proxy."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with RpcProxy(evm.node.url) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with reader(["http://node.invalid:8545"]) as chain:
            readings = await chain.read_balances([ONE])
    assert {b.raw for b in readings[ONE].balances} == {1}
    assert proxy.requests >= 1
