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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger
from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solders.account_decoder import UiAccountEncoding, UiDataSliceConfig
from solders.commitment_config import CommitmentLevel
from solders.pubkey import Pubkey
from solders.rpc.config import RpcAccountInfoConfig, RpcTokenAccountsFilterProgramId
from solders.rpc.requests import GetMultipleAccounts, GetTokenAccountsByOwner, batch_to_json
from solders.rpc.responses import GetMultipleAccountsResp, GetTokenAccountsByOwnerJsonParsedResp

from portfolio.adapters.chains.jsonrpc import (
    BatchRefusedError,
    ItemError,
    check_item,
    chunked,
    match_batch,
)
from portfolio.adapters.resilience import (
    CallPolicy,
    Endpoint,
    EndpointPool,
    TransientUpstreamError,
    UpstreamError,
    describe,
)
from portfolio.domain.chains import Chain
from portfolio.domain.tokens import Token, TokenAccount, TokenBalance, WalletReading

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
TOKEN_PROGRAMS = {TOKEN_PROGRAM: "spl-token", TOKEN_2022_PROGRAM: "spl-token-2022"}
MAX_ACCOUNTS_PER_CALL = 100  # the getMultipleAccounts limit of Solana nodes
# A token account's amount: a little-endian u64 after the mint and the owner (both programs).
AMOUNT_SLICE = UiDataSliceConfig(offset=64, length=8)

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
        policy: CallPolicy,
        limits: SolanaLimits | None = None,
    ) -> SolanaChainReader:
        endpoints = [Endpoint(url, create_client(url, policy.timeout_seconds)) for url in urls]
        return cls(EndpointPool("solana", endpoints, policy), tokens, limits)

    async def close(self) -> None:
        for endpoint in self._pool.endpoints:
            await endpoint.client.close()

    async def read_balances(
        self,
        addresses: Sequence[str],
        known_accounts: Mapping[str, Sequence[TokenAccount]] | None = None,
    ) -> dict[str, WalletReading]:
        """Addresses with ``known_accounts`` are read again with getMultipleAccounts (the
        wallet and its token accounts, 100 a call, only the 8 bytes of each amount); the others
        are discovered: getTokenAccountsByOwner on both token programs, two calls a wallet."""
        known = {
            a: list(known_accounts[a]) for a in addresses if known_accounts and a in known_accounts
        }
        return await self._pool.run(lambda endpoint: self._read(endpoint, addresses, known))

    async def _read(
        self,
        endpoint: Endpoint[AsyncClient],
        addresses: Sequence[str],
        known: dict[str, list[TokenAccount]],
    ) -> dict[str, WalletReading]:
        discover = [a for a in addresses if a not in known]
        ids = itertools.count()
        lamport_requests = self._multiple(discover, ids)
        token_requests = [
            GetTokenAccountsByOwner(
                Pubkey.from_string(address),
                RpcTokenAccountsFilterProgramId(program),
                self._config(UiAccountEncoding.JsonParsed),
                id=next(ids),
            )
            for address in discover
            for program in TOKEN_PROGRAMS
        ]
        again = [
            k
            for address, accounts in known.items()
            for k in (address, *(a.address for a in accounts))
        ]
        amount_requests = self._multiple(again, ids, AMOUNT_SLICE)
        answers = iter(
            await self._send_all(endpoint, [*lamport_requests, *token_requests, *amount_requests])
        )
        lamports = _accounts(lamport_requests, answers)
        readings = {}
        for address in discover:
            found = [
                account
                for program in TOKEN_PROGRAMS
                for account in _token_accounts(next(answers), program)
            ]
            sol = lamports[address]
            sol_lamports = 0 if sol is None else sol.lamports
            readings[address] = self._reading(address, sol_lamports, found, discovered=True)
        current = _accounts(amount_requests, answers)
        for address, accounts in known.items():
            wallet = current[address]
            held = [(a, _sliced_amount(a, current[a.address])) for a in accounts]
            readings[address] = self._reading(
                address, 0 if wallet is None else wallet.lamports, held, discovered=False
            )
        return {address: readings[address] for address in addresses}

    def _reading(
        self,
        address: str,
        lamports: int,
        held: list[tuple[TokenAccount, int]],
        *,
        discovered: bool,
    ) -> WalletReading:
        """SOL and the sum per mint of the token accounts; zero balances dropped."""
        amounts: dict[str, int] = {}
        decimals: dict[str, int] = {}
        for account, amount in held:
            amounts[account.mint] = amounts.get(account.mint, 0) + amount
            decimals[account.mint] = account.decimals
        balances = [TokenBalance(Token.native(Chain.SOLANA), lamports)]
        balances += [
            TokenBalance(self._token(mint, decimals[mint]), amount)
            for mint, amount in amounts.items()
            if amount
        ]
        accounts = [account for account, _ in held] if discovered else None
        return WalletReading(address, balances, [], accounts)

    def _multiple(
        self,
        addresses: list[str],
        ids: Iterator[int],
        window: UiDataSliceConfig | None = None,
    ) -> list[GetMultipleAccounts]:
        config = RpcAccountInfoConfig(
            encoding=UiAccountEncoding.Base64, commitment=self._commitment, data_slice=window
        )
        return [
            GetMultipleAccounts([Pubkey.from_string(a) for a in chunk], config, id=next(ids))
            for chunk in chunked(addresses, self._limits.accounts_per_call)
        ]

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

        groups = list(chunked(requests, self._limits.batch_size if batched else 1))
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
        raise UpstreamError(f"malformed answer: {exc}") from exc


def _checked(item: Any) -> Any:
    try:
        check_item(item)
    except ItemError as exc:  # a refused request leaves a hole: never read it as zero
        raise UpstreamError(f"a request failed: {exc}") from exc
    return item


def _classify(exc: SolanaRpcException) -> UpstreamError:
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    status = getattr(response, "status_code", None)
    if status is not None:
        if status == 429 or status >= 500:
            return TransientUpstreamError(f"HTTP {status}")
        return UpstreamError(f"HTTP {status}")
    if "Timeout" in type(cause).__name__:
        return TransientUpstreamError(f"timed out ({describe(cause or exc)})")
    return TransientUpstreamError(f"connection failed ({describe(cause or exc)})")


def _accounts(requests: list[GetMultipleAccounts], answers: Iterator[Any]) -> dict[str, Any]:
    """Address -> account (None when it does not exist) of getMultipleAccounts answers."""
    found: dict[str, Any] = {}
    for request in requests:
        parsed = _parse(GetMultipleAccountsResp, next(answers))
        if len(parsed.value) != len(request.accounts):
            raise UpstreamError(
                f"getMultipleAccounts answered {len(parsed.value)} of {len(request.accounts)}"
            )
        found.update(zip(map(str, request.accounts), parsed.value, strict=True))
    return found


def _sliced_amount(account: TokenAccount, state: Any) -> int:
    """The amount of a token account read through AMOUNT_SLICE; a closed account holds 0."""
    if state is None or str(state.owner) != account.program:
        return 0
    data = bytes(state.data)
    if len(data) != AMOUNT_SLICE.length:
        raise UpstreamError(f"token account {account.address}: {len(data)} bytes, not an amount")
    return int.from_bytes(data, "little")


def _token_accounts(item: Any, program: Pubkey) -> Iterator[tuple[TokenAccount, int]]:
    """Each token account of a jsonParsed answer, with its amount."""
    parsed = _parse(GetTokenAccountsByOwnerJsonParsedResp, item)
    for keyed in parsed.value:
        data = keyed.account.data
        try:
            if keyed.account.owner != program or data.program != TOKEN_PROGRAMS[program]:
                raise UpstreamError(f"an account of another program under {program}")
            info = data.parsed["info"]
            raw, places = info["tokenAmount"]["amount"], int(info["tokenAmount"]["decimals"])
            if not (isinstance(raw, str) and raw.isdigit()):
                raise UpstreamError(f"a token amount that is not a digit string: {raw!r}")
            account = TokenAccount(str(keyed.pubkey), str(info["mint"]), str(program), places)
            yield account, int(raw)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise UpstreamError(f"an unparsed token account {keyed.pubkey}: {exc!r}") from exc


def _parse(parser: Any, item: Any) -> Any:
    try:
        return parser.from_json(json.dumps(item))
    except Exception as exc:  # solders raises SerdeJSONError, which it does not export
        raise UpstreamError(f"malformed answer: {str(exc)[:200]}") from exc
