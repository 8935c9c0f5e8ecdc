"""Solana balances: requests built and answers parsed with solders, sent as JSON-RPC batches
over the project's own HTTP client (httpx).

solana-py's AsyncClient has no public call that sends a batch: going through its private
provider would break with any release, so batches go out on httpx here.

A wallet is *discovered* with ``getTokenAccountsByOwner`` (jsonParsed) for the Token and the
Token-2022 programs, and its SOL with ``getMultipleAccounts`` (100 wallets a call). A refresh
reads known token accounts *again* with ``getMultipleAccounts``, only the first 72 bytes of
each (mint, owner, amount), and checks them: an account whose mint or owner changed, or that
was closed, sends its wallet back to discovery within the same read.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx
from loguru import logger
from solders.account import Account
from solders.account_decoder import UiAccountEncoding, UiDataSliceConfig
from solders.commitment_config import CommitmentLevel
from solders.pubkey import Pubkey
from solders.rpc.config import (
    RpcAccountInfoConfig,
    RpcProgramAccountsConfig,
    RpcTokenAccountsFilterProgramId,
)
from solders.rpc.filter import Memcmp
from solders.rpc.requests import (
    GetMultipleAccounts,
    GetProgramAccounts,
    GetTokenAccountsByOwner,
    batch_to_json,
)

from portfolio.adapters.chains.jsonrpc import BatchRefusedError, chunked, match_batch, post_json
from portfolio.adapters.chains.solana_accounts import (
    ACCOUNT_HEAD,
    STAKE_MINT,
    STAKE_PROGRAM,
    STAKER_OFFSET,
    TOKEN_PROGRAMS,
    WITHDRAWER_OFFSET,
    accounts_of,
    checked,
    held_amount,
    mint_metadata,
    owner_now,
    stake_accounts_of,
    token_accounts_of,
)
from portfolio.adapters.resilience import (
    CallPolicy,
    Endpoint,
    EndpointPool,
    UpstreamError,
)
from portfolio.domain.chains import SOLANA_NATIVE, Chain
from portfolio.domain.errors import NotATokenError
from portfolio.domain.tokens import Token, TokenAccount, TokenBalance, WalletReading

MAX_ACCOUNTS_PER_CALL = 100  # the getMultipleAccounts limit of Solana nodes
MINT_LENGTH = 82  # a mint's base layout (both token programs); its decimals at byte 44
MINT_DECIMALS = 44

SolanaRequest = GetMultipleAccounts | GetTokenAccountsByOwner | GetProgramAccounts


@dataclass(frozen=True, slots=True)
class SolanaLimits:
    accounts_per_call: int = MAX_ACCOUNTS_PER_CALL
    batch_size: int = 100  # JSON-RPC requests per HTTP request
    concurrency: int = 4
    commitment: str = "confirmed"  # processed, confirmed or finalized


@dataclass(frozen=True, slots=True)
class _Discovery:
    addresses: list[str]
    lamports: list[GetMultipleAccounts]
    # per address: its token accounts of each token program, then its stake accounts as
    # staker and as withdrawer
    tokens: list[GetTokenAccountsByOwner | GetProgramAccounts]


class SolanaChainReader:
    chain = Chain.SOLANA

    def __init__(
        self,
        pool: EndpointPool[httpx.AsyncClient],
        tokens: Sequence[Token],
        limits: SolanaLimits | None = None,
    ) -> None:
        self._pool = pool
        self._known: dict[str, Token] = {}
        self.use_tokens(tokens)
        self._limits = limits or SolanaLimits()
        self._commitment = CommitmentLevel.from_string(self._limits.commitment)
        self._unbatched: set[str] = set()  # endpoints that refuse JSON-RPC batches

    def use_tokens(self, tokens: Sequence[Token]) -> None:
        """The list's mints, from the next read on (a list read late)."""
        self._known = {t.address: t for t in tokens if t.address}

    @classmethod
    def from_urls(
        cls,
        urls: Sequence[str],
        tokens: Sequence[Token],
        policy: CallPolicy,
        limits: SolanaLimits | None = None,
    ) -> SolanaChainReader:
        # One retry layer only: httpx retries nothing, EndpointPool retries.
        client = httpx.AsyncClient(timeout=policy.timeout_seconds)
        endpoints = [Endpoint(url, client) for url in urls]
        return cls(EndpointPool("solana", endpoints, policy), tokens, limits)

    async def close(self) -> None:
        for client in {id(e.client): e.client for e in self._pool.endpoints}.values():
            await client.aclose()

    async def token(self, address: str) -> Token:
        """A mint's decimals (its account, read once); the token list's symbol and name when
        it lists the mint."""
        mint = str(Pubkey.from_string(address))
        requests: list[SolanaRequest] = list(self._multiple([mint], itertools.count()))

        async def read(endpoint: Endpoint[httpx.AsyncClient]) -> Account | str | None:
            answers = iter(await self._send_all(endpoint, requests))
            return accounts_of(self._multiple([mint], itertools.count()), answers)[mint]

        account = await self._pool.run(read)
        data = bytes(account.data) if isinstance(account, Account) else b""
        if (
            not isinstance(account, Account)
            or account.owner not in TOKEN_PROGRAMS
            or len(data) < MINT_LENGTH
        ):
            raise NotATokenError(f"{address} is no mint of a token program.")
        token = self._token(mint, data[MINT_DECIMALS])
        if token.verified:
            return token
        symbol, name = mint_metadata(data)  # a Token-2022 mint may name itself
        return replace(token, symbol=symbol, name=name)

    async def read_balances(
        self,
        addresses: Sequence[str],
        known_accounts: Mapping[str, Sequence[TokenAccount]] | None = None,
        extra_tokens: Mapping[str, Sequence[Token]] | None = None,
    ) -> dict[str, WalletReading]:
        """Addresses with ``known_accounts`` are read again (the wallet and its token accounts,
        100 a call); the others are discovered. A wallet whose answer is malformed gets a
        reading with an ``error``; the others stand."""
        known = {
            a: list(known_accounts[a]) for a in addresses if known_accounts and a in known_accounts
        }
        return await self._pool.run(lambda endpoint: self._read(endpoint, addresses, known))

    async def _read(
        self,
        endpoint: Endpoint[httpx.AsyncClient],
        addresses: Sequence[str],
        known: dict[str, list[TokenAccount]],
    ) -> dict[str, WalletReading]:
        ids = itertools.count()
        discovery = self._discovery([a for a in addresses if a not in known], ids)
        keys = [k for wallet, accounts in known.items()
                for k in (wallet, *(a.address for a in accounts))]  # fmt: skip
        rereads = self._multiple(keys, ids, with_head=True)
        answers = iter(
            await self._send_all(endpoint, [*discovery.lamports, *discovery.tokens, *rereads])
        )
        readings = self._discovered(discovery, answers)
        current = accounts_of(rereads, answers)
        reread = {wallet: self._reread(wallet, accounts, current)
                  for wallet, accounts in known.items()}  # fmt: skip
        # A wallet one of whose accounts is no longer its own is discovered again now, and so
        # is a wallet of this read that such an account was handed to: the balance moves.
        moved = {wallet for wallet, reading in reread.items() if reading is None}
        moved |= {
            owner
            for wallet in moved
            for account in known[wallet]
            if (owner := owner_now(current[account.address])) in known
        }
        readings.update({w: r for w, r in reread.items() if r is not None and w not in moved})
        if moved:
            logger.info("{} solana wallet(s) changed token accounts: discovering", len(moved))
            again = self._discovery(sorted(moved), ids)
            answers = iter(await self._send_all(endpoint, [*again.lamports, *again.tokens]))
            readings.update(self._discovered(again, answers))
        return {address: readings[address] for address in addresses}

    def _discovery(self, addresses: list[str], ids: Iterator[int]) -> _Discovery:
        # Answers come back in id order: ids are drawn in the order the requests are sent.
        lamports = self._multiple(addresses, ids)
        config = RpcAccountInfoConfig(
            encoding=UiAccountEncoding.JsonParsed, commitment=self._commitment
        )
        # Stake accounts: only their lamports are needed, so no data at all.
        stakes = RpcAccountInfoConfig(
            encoding=UiAccountEncoding.Base64,
            commitment=self._commitment,
            data_slice=UiDataSliceConfig(offset=0, length=0),
        )
        tokens: list[GetTokenAccountsByOwner | GetProgramAccounts] = []
        for address in addresses:
            owner = Pubkey.from_string(address)
            tokens += [
                GetTokenAccountsByOwner(
                    owner, RpcTokenAccountsFilterProgramId(program), config, id=next(ids)
                )
                for program in TOKEN_PROGRAMS
            ]
            tokens += [
                GetProgramAccounts(
                    STAKE_PROGRAM,
                    RpcProgramAccountsConfig(stakes, filters=[Memcmp(offset, address)]),
                    id=next(ids),
                )
                for offset in (STAKER_OFFSET, WITHDRAWER_OFFSET)
            ]
        return _Discovery(addresses, lamports, tokens)

    def _discovered(
        self, discovery: _Discovery, answers: Iterator[Any]
    ) -> dict[str, WalletReading]:
        lamports = accounts_of(discovery.lamports, answers)
        readings = {}
        for address in discovery.addresses:
            sol = lamports[address]
            items = {program: next(answers) for program in TOKEN_PROGRAMS}  # always both
            as_staker, as_withdrawer = next(answers), next(answers)
            try:
                if isinstance(sol, str):
                    raise UpstreamError(sol)
                found = [held for program, item in items.items()
                         for held in token_accounts_of(item, program)]  # fmt: skip
                # An account whose staker and withdrawer are both the wallet is found twice.
                stakes = dict(stake_accounts_of(as_staker)) | dict(stake_accounts_of(as_withdrawer))
                found += list(stakes.items())
            except UpstreamError as exc:
                readings[address] = WalletReading(address, [], [], error=str(exc))
                continue
            amount = 0 if sol is None else sol.lamports
            readings[address] = self._reading(address, amount, found, discovered=True)
        return readings

    def _reread(
        self, wallet: str, accounts: list[TokenAccount], current: dict[str, Account | str | None]
    ) -> WalletReading | None:
        """The wallet's balances from its accounts as they are now; None when one of them is
        no longer the wallet's (closed, or its mint or owner changed)."""
        own = current[wallet]
        held = []
        for account in accounts:
            amount = held_amount(account, wallet, current[account.address])
            if amount is None:
                return None
            if isinstance(amount, str):
                return WalletReading(wallet, [], [], error=amount)
            held.append((account, amount))
        if isinstance(own, str):
            return WalletReading(wallet, [], [], error=own)
        return self._reading(wallet, 0 if own is None else own.lamports, held, discovered=False)

    def _reading(
        self,
        address: str,
        lamports: int,
        held: list[tuple[TokenAccount, int]],
        *,
        discovered: bool,
    ) -> WalletReading:
        """SOL, SOL in stake accounts (the staked kind), and the sum per mint of the token
        accounts; zero balances dropped (but SOL's)."""
        amounts: dict[str, int] = {}
        decimals: dict[str, int] = {}
        staked = 0
        for account, amount in held:
            if account.mint == STAKE_MINT:
                staked += amount
                continue
            amounts[account.mint] = amounts.get(account.mint, 0) + amount
            decimals[account.mint] = account.decimals
        balances = [TokenBalance(Token.native(Chain.SOLANA, SOLANA_NATIVE), lamports)]
        if staked:
            balances.append(TokenBalance(Token.staked(Chain.SOLANA, SOLANA_NATIVE), staked))
        balances += [
            TokenBalance(self._token(mint, decimals[mint]), amount)
            for mint, amount in amounts.items()
            if amount
        ]
        accounts = [account for account, _ in held] if discovered else None
        return WalletReading(address, balances, [], accounts)

    def _multiple(
        self, addresses: list[str], ids: Iterator[int], *, with_head: bool = False
    ) -> list[GetMultipleAccounts]:
        config = RpcAccountInfoConfig(
            encoding=UiAccountEncoding.Base64,
            commitment=self._commitment,
            data_slice=ACCOUNT_HEAD if with_head else None,
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

    async def _send_all(
        self, endpoint: Endpoint[httpx.AsyncClient], requests: list[SolanaRequest]
    ) -> list[Any]:
        """Every request, in batches; one by one where the endpoint refuses batches (some
        providers turn them off)."""
        if not requests:
            return []
        gate = asyncio.Semaphore(self._limits.concurrency)
        batched = endpoint.url not in self._unbatched

        async def send(group: list[SolanaRequest]) -> list[Any]:
            methods = {_method(request) for request in group}
            method = methods.pop() if len(methods) == 1 else "batch"
            async with gate, self._pool.observed(endpoint, method, len(group)):
                if batched:
                    answer = await _post(endpoint, batch_to_json(group))
                    return [checked(item) for item in match_batch(answer, len(group))]
                return [checked(await _post(endpoint, group[0].to_json()))]

        groups = list(chunked(requests, self._limits.batch_size if batched else 1))
        try:
            answers = await asyncio.gather(*(send(group) for group in groups))
        except BatchRefusedError as exc:
            logger.warning("solana endpoint refuses batches, sending requests one by one: {}", exc)
            self._unbatched.add(endpoint.url)
            return await self._send_all(endpoint, requests)
        return list(itertools.chain.from_iterable(answers))


def _method(request: SolanaRequest) -> str:
    """The JSON-RPC method of a request (``GetMultipleAccounts`` -> ``getMultipleAccounts``)."""
    name = type(request).__name__
    return name[:1].lower() + name[1:]


async def _post(endpoint: Endpoint[httpx.AsyncClient], body: str) -> Any:
    return await post_json(endpoint.client, endpoint.url, body)
