"""Solana balances through solana-py's AsyncClient.

SOL of up to 100 wallets per ``getMultipleAccounts``; SPL balances from
``getTokenAccountsByOwner`` (jsonParsed) for the Token and the Token-2022 programs; all of it in
JSON-RPC batches. solana-py 0.41 has no batch call of its own, so batches are built with solders'
request types and sent through the client's HTTP provider (``make_request_unparsed``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solders.account_decoder import UiAccountEncoding
from solders.commitment_config import CommitmentLevel
from solders.pubkey import Pubkey
from solders.rpc.config import RpcAccountInfoConfig, RpcTokenAccountsFilterProgramId
from solders.rpc.requests import GetMultipleAccounts, GetTokenAccountsByOwner, batch_to_json
from solders.rpc.responses import GetMultipleAccountsResp, GetTokenAccountsByOwnerJsonParsedResp

from portfolio.adapters.chains.jsonrpc import BatchRefusedError, ItemError, check_item, match_batch
from portfolio.adapters.chains.resilience import (
    Endpoint,
    EndpointPool,
    RpcError,
    RpcPolicy,
    TransientRpcError,
)
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Token, TokenBalance, WalletReading

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
TOKEN_PROGRAMS = {TOKEN_PROGRAM: "spl-token", TOKEN_2022_PROGRAM: "spl-token-2022"}
MAX_ACCOUNTS_PER_CALL = 100  # the getMultipleAccounts limit of Solana nodes

SolanaRequest = GetMultipleAccounts | GetTokenAccountsByOwner


@dataclass(frozen=True, slots=True)
class SolanaLimits:
    accounts_per_call: int = MAX_ACCOUNTS_PER_CALL
    batch_size: int = 100  # JSON-RPC requests per HTTP request
    concurrency: int = 4
    commitment: str = "confirmed"  # processed, confirmed or finalized


class _Body:
    """What the provider's ``make_request_unparsed`` sends: anything with ``to_json``."""

    def __init__(self, text: str) -> None:
        self._text = text

    def to_json(self) -> str:
        return self._text


def create_client(url: str, timeout: float) -> AsyncClient:
    # One retry layer only: solana-py's transport retry is turned off, EndpointPool retries.
    return AsyncClient(url, timeout=timeout, max_transport_retries=0, http2=False)


class SolanaChainReader:
    chain = Chain.SOLANA

    def __init__(
        self,
        pool: EndpointPool[AsyncClient],
        tokens: Sequence[Token],
        limits: SolanaLimits | None = None,
    ) -> None:
        self._pool = pool
        self._known = {t.address: t for t in tokens if t.address}
        self._limits = limits or SolanaLimits()
        self._commitment = CommitmentLevel.from_string(self._limits.commitment)
        self._unbatched: set[str] = set()  # endpoints that refuse JSON-RPC batches

    @classmethod
    def from_urls(
        cls,
        urls: Sequence[str],
        tokens: Sequence[Token],
        policy: RpcPolicy,
        limits: SolanaLimits | None = None,
    ) -> SolanaChainReader:
        endpoints = [Endpoint(url, create_client(url, policy.timeout_seconds)) for url in urls]
        return cls(EndpointPool("solana", endpoints, policy), tokens, limits)

    async def close(self) -> None:
        for endpoint in self._pool.endpoints:
            await endpoint.client.close()

    async def read_balances(self, addresses: Sequence[str]) -> dict[str, WalletReading]:
        return await self._pool.run(lambda endpoint: self._read(endpoint, addresses))

    async def _read(
        self, endpoint: Endpoint[AsyncClient], addresses: Sequence[str]
    ) -> dict[str, WalletReading]:
        keys = [Pubkey.from_string(a) for a in addresses]
        ids = itertools.count()
        lamport_requests = [
            GetMultipleAccounts(chunk, self._config(UiAccountEncoding.Base64), id=next(ids))
            for chunk in _chunks(keys, self._limits.accounts_per_call)
        ]
        token_requests = [
            GetTokenAccountsByOwner(
                key,
                RpcTokenAccountsFilterProgramId(program),
                self._config(UiAccountEncoding.JsonParsed),
                id=next(ids),
            )
            for key in keys
            for program in TOKEN_PROGRAMS
        ]
        answers = await self._send_all(endpoint, [*lamport_requests, *token_requests])
        lamports = list(itertools.chain.from_iterable(
            _lamports(answer, len(request.accounts))
            for request, answer in zip(lamport_requests, answers, strict=False)
        ))  # fmt: skip
        readings = {}
        token_answers = iter(answers[len(lamport_requests) :])
        for address, sol in zip(addresses, lamports, strict=True):
            held: dict[str, int] = {}
            decimals: dict[str, int] = {}
            for program in TOKEN_PROGRAMS:
                for mint, amount, places in _token_accounts(next(token_answers), program):
                    held[mint] = held.get(mint, 0) + amount
                    decimals[mint] = places
            balances = [TokenBalance(Token.native(Chain.SOLANA), sol)]
            balances += [
                TokenBalance(self._token(mint, decimals[mint]), amount)
                for mint, amount in held.items()
                if amount
            ]
            readings[address] = WalletReading(address, balances, [])
        return readings

    def _token(self, mint: str, decimals: int) -> Token:
        known = self._known.get(mint)
        if known is not None:
            return Token(Chain.SOLANA, mint, known.symbol, known.name, decimals, True)
        return Token(Chain.SOLANA, mint, None, None, decimals, False)

    def _config(self, encoding: UiAccountEncoding) -> RpcAccountInfoConfig:
        return RpcAccountInfoConfig(encoding=encoding, commitment=self._commitment)

    async def _send_all(
        self, endpoint: Endpoint[AsyncClient], requests: list[SolanaRequest]
    ) -> list[Any]:
        """Every request, in batches; one by one where the endpoint refuses batches (some
        providers turn them off)."""
        gate = asyncio.Semaphore(self._limits.concurrency)
        batched = endpoint.url not in self._unbatched

        async def send(group: list[SolanaRequest]) -> list[Any]:
            async with gate:
                if batched:
                    return await _send_batch(endpoint.client, group)
                return [await _send_one(endpoint.client, group[0])]

        groups = list(_chunks(requests, self._limits.batch_size if batched else 1))
        try:
            answers = await asyncio.gather(*(send(group) for group in groups))
        except BatchRefusedError as exc:
            logger.warning("solana endpoint refuses batches, sending requests one by one: {}", exc)
            self._unbatched.add(endpoint.url)
            return await self._send_all(endpoint, requests)
        return list(itertools.chain.from_iterable(answers))


async def _send_batch(client: AsyncClient, batch: list[SolanaRequest]) -> list[Any]:
    items = match_batch(await _post(client, batch_to_json(batch)), len(batch))
    return [_checked(item) for item in items]


async def _send_one(client: AsyncClient, request: SolanaRequest) -> Any:
    return _checked(await _post(client, request.to_json()))


async def _post(client: AsyncClient, body: str) -> Any:
    try:
        # The provider is private API: solana-py 0.41 has no public call that sends a batch.
        raw = await client._provider.make_request_unparsed(_Body(body))
        return json.loads(raw)
    except SolanaRpcException as exc:
        raise _classify(exc) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RpcError(f"malformed answer: {exc}") from exc


def _checked(item: Any) -> Any:
    try:
        check_item(item)
    except ItemError as exc:  # a refused request leaves a hole: never read it as zero
        raise RpcError(f"a request failed: {exc}") from exc
    return item


def _classify(exc: SolanaRpcException) -> RpcError:
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    status = getattr(response, "status_code", None)
    if status is not None:
        if status == 429 or status >= 500:
            return TransientRpcError(f"HTTP {status}")
        return RpcError(f"HTTP {status}")
    if "Timeout" in type(cause).__name__:
        return TransientRpcError(f"timed out: {cause!r}")
    return TransientRpcError(f"connection failed: {cause!r}")


def _lamports(item: Any, expected: int) -> list[int]:
    parsed = _parse(GetMultipleAccountsResp, item)
    if len(parsed.value) != expected:
        raise RpcError(f"getMultipleAccounts answered {len(parsed.value)} of {expected} accounts")
    return [0 if account is None else account.lamports for account in parsed.value]


def _token_accounts(item: Any, program: Pubkey) -> Iterator[tuple[str, int, int]]:
    """(mint, amount, decimals) of each token account in a jsonParsed answer."""
    parsed = _parse(GetTokenAccountsByOwnerJsonParsedResp, item)
    for keyed in parsed.value:
        data = keyed.account.data
        try:
            if keyed.account.owner != program or data.program != TOKEN_PROGRAMS[program]:
                raise RpcError(f"an account of another program under {program}")
            amount = data.parsed["info"]["tokenAmount"]
            raw, places = amount["amount"], int(amount["decimals"])
            if not (isinstance(raw, str) and raw.isdigit()):
                raise RpcError(f"a token amount that is not a digit string: {raw!r}")
            yield str(data.parsed["info"]["mint"]), int(raw), places
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise RpcError(f"an unparsed token account {keyed.pubkey}: {exc!r}") from exc


def _parse(parser: Any, item: Any) -> Any:
    try:
        return parser.from_json(json.dumps(item))
    except Exception as exc:  # solders raises SerdeJSONError, which it does not export
        raise RpcError(f"malformed answer: {str(exc)[:200]}") from exc


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
