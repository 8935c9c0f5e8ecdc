"""Ethereum balances over JSON-RPC (the project's httpx client: ``HttpJsonRpc``): Multicall3
``aggregate3`` where the contract exists, JSON-RPC batches of plain calls where it does not.

Many multicalls travel in one JSON-RPC batch, chunked by call count and by request size (nodes
refuse bodies of a few MB). Every call of one read is made at one block.

Discovery and refresh are one read with two kinds of address: an address without known
accounts is discovered (the native coin and every token of the lists, however long, are read,
and the tokens it holds are listed in its reading); an address with them is read again for the
native coin and those tokens only, which is what keeps a refresh cheap beside lists of
thousands of tokens.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address

from portfolio.adapters.chains.evm_logs import (
    LogsRefusedError,
    TransferScanner,
    received,
    refused,
    too_many_addresses,
    transfer_query,
)
from portfolio.adapters.chains.jsonrpc import (
    HttpJsonRpc,
    ItemError,
    check_item,
    chunked,
    match_batch,
)
from portfolio.adapters.chains.multicall import address_word, decode_aggregate3, encode_aggregate3
from portfolio.adapters.resilience import (
    CallPolicy,
    Endpoint,
    EndpointPool,
    UpstreamError,
    describe,
)
from portfolio.domain.amounts import MAX_DECIMALS
from portfolio.domain.chains import ETHER, Chain, NativeCoin
from portfolio.domain.errors import ChainUnavailableError, NotATokenError, NotReadyError
from portfolio.domain.text import outside_text
from portfolio.domain.tokens import (
    Received,
    Token,
    TokenAccount,
    TokenBalance,
    TokenFailure,
    WalletReading,
)

GET_ETH_BALANCE = function_signature_to_4byte_selector("getEthBalance(address)")
BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")
METADATA = {
    field: "0x" + function_signature_to_4byte_selector(f"{field}()").hex()
    for field in ("decimals", "symbol", "name")
}
UINT256_BYTES = 32
# The gas a token's own call may burn (balanceOf, decimals, symbol, name): far more than any
# real token needs, so that one that loops fails fast as its own error rather than holding the
# node for its whole gas cap (and timing out, which would count against the node).
TOKEN_CALL_GAS = hex(1_000_000)
# A call of a multicall that failed with no revert data: out of gas (left none by a token before
# it that burned it all), or a bare revert. Read again alone to tell.
NO_REASON = "the balance call failed without a reason (a bare revert, or out of gas)"
# What one call adds to a request, hex-encoded inside aggregate3 (measured, rounded up).
CALL_HEX_BYTES = 460


@dataclass(frozen=True, slots=True)
class EvmLimits:
    calls_per_multicall: int = 1000
    max_request_bytes: int = 1_000_000
    batch_size: int = 100  # requests per JSON-RPC batch without multicall
    concurrency: int = 4  # HTTP requests in flight for one read


_Group = TypeVar("_Group")  # what one JSON-RPC batch carries
_Result = TypeVar("_Result")  # what each call of it gives


@dataclass(frozen=True, slots=True)
class _Call:
    address: str
    token: Token
    discovering: bool = False  # a listed token read by a discovery: remembered when held


Node = Endpoint[HttpJsonRpc]
# Connections kept open to a chain's nodes (one client for all of them): enough for the
# batches a read keeps in flight at once.
KEEPALIVE = httpx.Limits(max_connections=32, max_keepalive_connections=16)


class Web3ChainReader:
    def __init__(
        self,
        pool: EndpointPool[HttpJsonRpc],
        tokens: Mapping[int, Sequence[Token]],
        multicall_address: str,
        limits: EvmLimits | None = None,
        chain_id: int | None = None,
        *,
        chain: Chain = Chain.ETHEREUM,
        native: NativeCoin = ETHER,
    ) -> None:
        """``tokens`` by chainId. With ``chain_id``, every node must answer it (a node of
        another chain is never read) and its tokens are read; without, each node's own chainId
        picks its tokens."""
        self.chain = chain
        self._pool = pool
        self._native = Token.native(chain, native)
        self._tokens: dict[int, list[Token]] = {}
        self._listed: dict[int, dict[str, Token]] = {}
        self.use_tokens(tokens)
        self._multicall = to_checksum_address(multicall_address)
        self._limits = limits or EvmLimits()
        self._chain_id = chain_id
        self._has_multicall: dict[str, bool] = {}
        self._chain_ids: dict[str, int] = {}
        self._scanner = TransferScanner(self.transfers)  # (the node's bounds, as learnt)

    @classmethod
    def from_urls(
        cls,
        urls: Sequence[str],
        tokens: Mapping[int, Sequence[Token]],
        multicall_address: str,
        policy: CallPolicy,
        limits: EvmLimits | None = None,
        chain_id: int | None = None,
        *,
        chain: Chain = Chain.ETHEREUM,
        native: NativeCoin = ETHER,
    ) -> Web3ChainReader:
        # One retry layer only: httpx retries nothing, EndpointPool retries. Timeouts are the
        # pool's (httpx's own is the same bound, for a connection that hangs past it).
        client = httpx.AsyncClient(timeout=policy.timeout_seconds, limits=KEEPALIVE)
        endpoints = [Endpoint(url, HttpJsonRpc(url, client)) for url in urls]
        pool = EndpointPool(chain.value, endpoints, policy)
        return cls(pool, tokens, multicall_address, limits, chain_id, chain=chain, native=native)

    def use_tokens(self, tokens: Mapping[int, Sequence[Token]]) -> None:
        """The lists' tokens by chainId, from the next read on (a list read late)."""
        self._tokens = {cid: [self._native, *ts] for cid, ts in tokens.items()}
        self._listed = {cid: {t.key: t for t in ts} for cid, ts in tokens.items()}

    def is_listed(self, address: str) -> bool:
        return any(address in listed for listed in self._listed.values())

    async def token(self, address: str) -> Token:
        """An ERC-20's decimals, symbol and name, read from the chain (one batch of three
        calls). A symbol or name may be an ABI string or, as old tokens have it, a bytes32;
        one that cannot be read is None. A contract without decimals() is no ERC-20."""
        checksummed = to_checksum_address(address)

        async def read(endpoint: Node) -> list[Any]:
            batch = [("eth_call", [{"to": checksummed, "data": data, "gas": TOKEN_CALL_GAS},
                                   "latest"]) for data in METADATA.values()]  # fmt: skip
            return await self._batch(endpoint, batch)

        decimals, symbol, name = await self._pool.run(read)
        places = _word(decimals)
        if places is None or places > MAX_DECIMALS:
            raise NotATokenError(f"{address} answers no decimals(): not an ERC-20 token.")
        return Token(self.chain, checksummed, _text(symbol), _text(name), places, False)

    async def calls(self, requests: Sequence[tuple[str, bytes]]) -> list[bytes | None]:
        """Plain ``eth_call``s, (contract, call data), at the latest block, in JSON-RPC
        batches: each one's return data, or None where it reverted or was refused (its
        contract's doing, never held against the node). Gas is capped as for a token's call."""

        def build(group: list[tuple[str, bytes]]) -> list[tuple[str, list[Any]]]:
            return [_eth_call(to, data) for to, data in group]

        def read(group: list[tuple[str, bytes]], answers: list[Any]) -> list[bytes | None]:
            return [_data(answer) for answer in answers]

        async def send(endpoint: Node) -> list[bytes | None]:
            groups = list(chunked(list(requests), self._limits.batch_size))
            try:
                return await self._send_all(endpoint, groups, build, read)
            except ValueError as exc:
                raise UpstreamError(f"malformed answer ({describe(exc)})"[:300]) from exc

        return await self._pool.run(send) if requests else []

    async def head(self) -> int:
        """The node's latest block."""

        async def read(endpoint: Node) -> int:
            return _as_int(await self._request(endpoint, "eth_blockNumber", []))

        return await self._pool.run(read)

    async def received(self, start: int, end: int, addresses: Sequence[str]) -> list[Received]:
        """Every ERC-20 transfer to ``addresses`` in blocks ``start`` to ``end`` (a node's
        refusals of too large a query learnt and kept: evm_logs.TransferScanner)."""
        return await self._scanner.scan(start, end, addresses)

    async def transfers(self, start: int, end: int, addresses: Sequence[str]) -> list[Received]:
        """The ERC-20 transfers to ``addresses`` in blocks ``start`` to ``end``, in one
        ``eth_getLogs``. A node's error answer is no fault of the node (it trips no breaker,
        which would stop its balance reads): a refusal of the query's size is LogsRefusedError
        (evm_logs.TransferScanner splits the query), any other ChainUnavailableError (a node
        that serves no logs, say)."""
        query = transfer_query(start, end, addresses)

        async def read(
            endpoint: Node,
        ) -> list[Received] | Exception:
            async with self._pool.observed(endpoint, "eth_getLogs"):
                answer = await endpoint.client.request("eth_getLogs", [query])
            error = answer.get("error") if isinstance(answer, dict) else None
            if isinstance(error, dict) and refused(message := str(error.get("message", ""))):
                return LogsRefusedError(message, addresses=too_many_addresses(message))
            try:
                return received(check_item(answer))
            except ItemError as exc:
                return ChainUnavailableError(f"{self.chain}: eth_getLogs failed: {exc}"[:300])

        found = await self._pool.run(read)
        if isinstance(found, Exception):  # raised here, past the breaker
            raise found
        return found

    async def check_chain_id(self) -> None:
        """NotReadyError when a node answers another chain id than the configured one. A node
        that cannot be reached is not judged here (reads try the next one)."""
        if self._chain_id is None:
            return
        for endpoint in self._pool.endpoints:
            try:
                answered = await self._node_chain_id(endpoint)
            except (UpstreamError, TimeoutError, ValueError):
                continue
            if answered != self._chain_id:
                raise NotReadyError(self._mismatch(endpoint, answered))

    async def close(self) -> None:
        for client in {id(e.client.client): e.client.client for e in self._pool.endpoints}.values():
            await client.aclose()

    async def read_balances(
        self,
        addresses: Sequence[str],
        known_accounts: Mapping[str, Sequence[TokenAccount]] | None = None,
        extra_tokens: Mapping[str, Sequence[Token]] | None = None,
    ) -> dict[str, WalletReading]:
        """An address in ``known_accounts`` is read for the native coin and the tokens held at
        its last discovery; any other is discovered: every token of the list is read, and the
        listed tokens it holds, or that failed and so may be held, are its reading's
        ``accounts``. An address's ``extra_tokens`` (tracked ones) are read either way."""
        extra = extra_tokens or {}
        known = {a: known_accounts[a] for a in addresses if known_accounts and a in known_accounts}
        calls, results = await self._pool.run(
            lambda endpoint: self._read(endpoint, addresses, known, extra)
        )
        readings = {a: WalletReading(a, [], [], None if a in known else []) for a in addresses}
        for call, result in zip(calls, results, strict=True):
            reading = readings[call.address]
            if isinstance(result, int):
                reading.balances.append(TokenBalance(call.token, result))
            else:
                reading.failures.append(TokenFailure(call.token, result))
            if call.discovering and reading.accounts is not None and result != 0:  # or failed
                reading.accounts.append(TokenAccount.held(call.token))
        return readings

    async def _read(
        self,
        endpoint: Node,
        addresses: Sequence[str],
        known: Mapping[str, Sequence[TokenAccount]],
        extra: Mapping[str, Sequence[Token]],
    ) -> tuple[list[_Call], list[int | str]]:
        try:
            chain_id = await self._chain_id_of(endpoint)
            calls = [
                call
                for a in addresses
                for call in self._calls(a, chain_id, known.get(a), extra.get(a, ()))
            ]
            if await self._multicall_deployed(endpoint):
                return calls, await self._read_multicall(endpoint, calls)
            return calls, await self._read_batched(endpoint, calls)
        except (ValueError, UnicodeDecodeError) as exc:
            raise UpstreamError(f"malformed answer ({describe(exc)})"[:300]) from exc

    async def _chain_id_of(self, endpoint: Node) -> int:
        """The node's chain id, which picks its token list; a node of another chain than the
        configured one is never read."""
        answered = await self._node_chain_id(endpoint)
        if self._chain_id is not None and answered != self._chain_id:
            raise UpstreamError(self._mismatch(endpoint, answered))
        return answered

    def _calls(
        self,
        address: str,
        chain_id: int,
        held: Sequence[TokenAccount] | None,
        extra: Sequence[Token],
    ) -> list[_Call]:
        """A discovery (``held`` None) reads the native coin and every listed token; a read
        again, the native coin and the tokens held at the last discovery (one the lists no
        longer name is read as an unlisted token). Tracked tokens either way; each token once."""
        listed = self._listed.get(chain_id, {})
        if held is None:
            calls = [_Call(address, t, not t.is_native)
                     for t in self._tokens.get(chain_id, [self._native])]  # fmt: skip
        else:
            tokens = [listed.get(a.mint) or self._unlisted(a) for a in held]
            calls = [_Call(address, t) for t in [self._native, *tokens]]
        seen = {c.token.key for c in calls}
        return calls + [_Call(address, t) for t in extra if t.key not in seen]

    def _unlisted(self, account: TokenAccount) -> Token:
        address = to_checksum_address(account.mint)
        return Token(self.chain, address, None, None, account.decimals, False)

    async def _node_chain_id(self, endpoint: Node) -> int:
        """The node's eth_chainId, asked once per node (it does not change)."""
        if endpoint.url not in self._chain_ids:
            answer = await self._request(endpoint, "eth_chainId", [])
            self._chain_ids[endpoint.url] = _as_int(answer)
        return self._chain_ids[endpoint.url]

    def _mismatch(self, endpoint: Node, answered: int) -> str:
        return (
            f"{self.chain} node {self._pool.name_of(endpoint)} answers chain id {answered}, "
            f"not {self._chain_id}"
        )

    async def _block(self, endpoint: Node, requests: int) -> str:
        """Several requests read at one block; a single one needs no extra round trip."""
        if requests == 1:
            return "latest"
        return hex(_as_int(await self._request(endpoint, "eth_blockNumber", [])))

    async def _multicall_deployed(self, endpoint: Node) -> bool:
        if endpoint.url not in self._has_multicall:
            code = await self._request(endpoint, "eth_getCode", [self._multicall, "latest"])
            self._has_multicall[endpoint.url] = isinstance(code, str) and len(code) > 2
        return self._has_multicall[endpoint.url]

    async def _read_multicall(self, endpoint: Node, calls: list[_Call]) -> list[int | str]:
        chunks = list(chunked(calls, self._limits.calls_per_multicall))
        chunk_bytes = self._limits.calls_per_multicall * CALL_HEX_BYTES
        per_request = max(1, self._limits.max_request_bytes // chunk_bytes)
        block = await self._block(endpoint, -(-len(chunks) // per_request))

        def build(group: list[list[_Call]]) -> list[tuple[str, list[Any]]]:
            return [("eth_call", [{"to": self._multicall, "data": _aggregate3(c, self._multicall)},
                                  block]) for c in group]  # fmt: skip

        def read(group: list[list[_Call]], answers: list[Any]) -> list[int | str | None]:
            results: list[int | str | None] = []
            for chunk, answer in zip(group, answers, strict=True):
                if isinstance(answer, ItemError):  # read again call by call, below
                    results.extend([None] * len(chunk))
                else:
                    results.extend(_decode_aggregate3(answer, len(chunk)))
            return results

        groups = list(chunked(chunks, per_request))
        results = await self._send_all(endpoint, groups, build, read)
        whole = {i for i, result in enumerate(results) if result is None}
        again = [i for i, result in enumerate(results) if result is None or result == NO_REASON]
        if again:
            read_alone = await self._read_alone(endpoint, calls, again, whole)
            alone = dict(zip(again, read_alone, strict=True))
            results = [alone.get(i, result) for i, result in enumerate(results)]
        return [result for result in results if result is not None]

    async def _read_alone(
        self,
        endpoint: Node,
        calls: list[_Call],
        again: list[int],
        whole: set[int],
    ) -> list[int | str]:
        """Calls of a multicall read again, each on its own: those that failed in it with no
        reason (as a call left without gas does), and every call of a multicall that failed as
        a whole. A token whose balanceOf burns the gas fails the calls after it, or the whole
        multicall; read alone, it is that token's error and the others are read (a revert with
        a reason is the token's own, and is not read again). The node answered, so its circuit
        breaker counts nothing; only when every call of failed multicalls fails alike is the
        node at fault."""
        results = await self._read_batched(endpoint, [calls[i] for i in again])
        of_whole = [r for i, r in zip(again, results, strict=True) if i in whole]
        reasons = {r for r in of_whole if isinstance(r, str)}
        if len(of_whole) > 1 and len(reasons) == 1 and all(isinstance(r, str) for r in of_whole):
            raise UpstreamError(f"every call failed: {reasons.pop()}"[:300])
        return results

    async def _read_batched(self, endpoint: Node, calls: list[_Call]) -> list[int | str]:
        block = await self._block(endpoint, -(-len(calls) // self._limits.batch_size))

        def build(group: list[_Call]) -> list[tuple[str, list[Any]]]:
            return [_plain_request(call, block) for call in group]

        def read(group: list[_Call], answers: list[Any]) -> list[int | str]:
            return [_plain_result(c, answer) for c, answer in zip(group, answers, strict=True)]

        groups = list(chunked(calls, self._limits.batch_size))
        return await self._send_all(endpoint, groups, build, read)

    async def _send_all(
        self,
        endpoint: Node,
        groups: list[_Group],
        build: Callable[[_Group], list[tuple[str, list[Any]]]],
        read: Callable[[_Group, list[Any]], list[_Result]],
    ) -> list[_Result]:
        """Each group as one JSON-RPC batch, a few in flight at once, each built just before it
        is sent and read as soon as it is answered: a discovery's requests and answers, held
        all at once, would take hundreds of MB. The results in order; a failure stops the
        batches still to come."""
        gate = asyncio.Semaphore(self._limits.concurrency)

        async def send(group: _Group) -> list[_Result]:
            async with gate:
                answers = await self._batch(endpoint, build(group))
            return read(group, answers)

        tasks = [asyncio.ensure_future(send(group)) for group in groups]
        try:
            parts = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        return list(itertools.chain.from_iterable(parts))

    async def _batch(self, endpoint: Node, batch: list[tuple[str, list[Any]]]) -> list[Any]:
        method = batch[0][0] if len({m for m, _ in batch}) == 1 else "batch"
        async with self._pool.observed(endpoint, method, len(batch)):
            answer = await endpoint.client.batch(batch)
        items = match_batch(answer, len(batch))
        return [_result_or_error(item) for item in items]

    async def _request(self, endpoint: Node, method: str, params: list[Any]) -> Any:
        async with self._pool.observed(endpoint, method):
            answer = await endpoint.client.request(method, params)
        try:
            return check_item(answer)
        except ItemError as exc:
            raise UpstreamError(f"{method} failed: {exc}") from exc


class ChainIdCheck:
    """Readiness: no node of the chain answers another chain id than the configured one."""

    def __init__(self, reader: Web3ChainReader) -> None:
        self.name = f"{reader.chain}_chain_id"
        self._reader = reader

    async def check(self) -> None:
        await self._reader.check_chain_id()


def _word(answer: Any) -> int | None:
    """A uint256 answer, or None (a failed call, no code, not one 32-byte word)."""
    if isinstance(answer, ItemError) or not isinstance(answer, str):
        return None
    data = bytes.fromhex(answer.removeprefix("0x"))
    return int.from_bytes(data, "big") if len(data) == UINT256_BYTES else None


def _eth_call(to: str, data: bytes) -> tuple[str, list[Any]]:
    call = {"to": to_checksum_address(to), "data": "0x" + data.hex(),
            "gas": TOKEN_CALL_GAS}  # fmt: skip
    return "eth_call", [call, "latest"]


def _data(answer: Any) -> bytes | None:
    """A call's return data, or None (a failed call, an answer that is no hex)."""
    if isinstance(answer, ItemError) or not isinstance(answer, str):
        return None
    try:
        return bytes.fromhex(answer.removeprefix("0x"))
    except ValueError:
        return None


def _text(answer: Any) -> str | None:
    """An ABI string, or a bytes32 padded with zeros; None when neither."""
    if isinstance(answer, ItemError) or not isinstance(answer, str):
        return None
    try:
        data = bytes.fromhex(answer.removeprefix("0x"))
    except ValueError:
        return None
    try:
        (text,) = decode(["string"], data)
    except (DecodingError, ValueError, OverflowError):
        if len(data) != UINT256_BYTES:
            return None
        text = data.rstrip(b"\0").decode("utf-8", errors="replace")
    return outside_text(text)


def _result_or_error(item: Any) -> Any:
    try:
        return check_item(item)
    except ItemError as exc:
        return exc


def _aggregate3(calls: list[_Call], multicall: str) -> str:
    """getEthBalance on the multicall contract for the native coin, balanceOf on the token's
    contract otherwise; each address turned into its word once."""
    words: dict[str, bytes] = {}

    def word(address: str) -> bytes:
        if address not in words:
            words[address] = address_word(address)
        return words[address]

    encoded = [
        (word(multicall), GET_ETH_BALANCE + word(c.address))
        if c.token.address is None
        else (word(c.token.address), BALANCE_OF + word(c.address))
        for c in calls
    ]
    return "0x" + encode_aggregate3(encoded).hex()


def _decode_aggregate3(answer: Any, expected: int) -> list[int | str]:
    try:
        results = decode_aggregate3(bytes.fromhex(_strip0x(answer)))
    except ValueError as exc:
        raise UpstreamError(f"undecodable multicall answer: {exc}") from exc
    if len(results) != expected:
        raise UpstreamError(f"a multicall answered {len(results)} of {expected} calls")
    return [_call_result(ok, data) for ok, data in results]


def _call_result(ok: bool, data: bytes) -> int | str:
    if not ok:
        return "the balance call reverted" if data else NO_REASON
    if len(data) != UINT256_BYTES:
        return f"the balance call returned {len(data)} bytes, not a uint256"
    return int.from_bytes(data, "big")


def _plain_request(call: _Call, block: str) -> tuple[str, list[Any]]:
    if call.token.is_native:
        return ("eth_getBalance", [call.address, block])
    data = "0x" + (BALANCE_OF + address_word(call.address)).hex()
    return ("eth_call", [{"to": call.token.address, "data": data, "gas": TOKEN_CALL_GAS}, block])


def _plain_result(call: _Call, answer: Any) -> int | str:
    """A balance from eth_getBalance (a quantity) or from eth_call (exactly one 32-byte word:
    an empty answer, as from an address without code, is not a zero)."""
    if isinstance(answer, ItemError):
        return f"the balance call failed: {answer}"
    if call.token.is_native:
        return _as_int(answer)
    return _call_result(True, bytes.fromhex(_strip0x(answer)))


def _as_int(result: Any) -> int:
    if not isinstance(result, str):
        raise UpstreamError(f"not a quantity: {json.dumps(result)[:80]}")
    return int(result, 16)


def _strip0x(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise UpstreamError(f"not hex data: {str(value)[:80]}")
    return value[2:]
