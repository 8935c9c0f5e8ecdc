"""Solana answers, parsed with solders and checked before use: a malformed answer is an error,
never a zero, and one account's malformed answer is that account's error alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from solders.account import Account
from solders.account_decoder import UiDataSliceConfig
from solders.pubkey import Pubkey
from solders.rpc.requests import GetMultipleAccounts
from solders.rpc.responses import (
    GetMultipleAccountsResp,
    GetProgramAccountsResp,
    GetTokenAccountsByOwnerJsonParsedResp,
)

from portfolio.adapters.chains.jsonrpc import ItemError, check_item
from portfolio.adapters.resilience import UpstreamError
from portfolio.domain.text import outside_text
from portfolio.domain.tokens import TokenAccount

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
TOKEN_PROGRAMS = {TOKEN_PROGRAM: "spl-token", TOKEN_2022_PROGRAM: "spl-token-2022"}
# A token account (both programs) starts with its mint (32 bytes), its owner (32) and its
# amount (a little-endian u64); the whole base layout is 165 bytes. A stake account starts with
# its state (a u32: 1 initialized, 2 delegated), the rent reserve (u64), then its staker and its
# withdrawer (32 bytes each). A refresh reads the first 76 bytes of each: enough for both.
ACCOUNT_HEAD = UiDataSliceConfig(offset=0, length=76)
TOKEN_HEAD = 72
TOKEN_ACCOUNT_LENGTH = 165
STAKE_PROGRAM = Pubkey.from_string("Stake11111111111111111111111111111111111111")
STAKER_OFFSET, WITHDRAWER_OFFSET = 12, 44
STAKE_HEAD = 76
STAKE_STATES = (1, 2)  # Initialized, Stake: the states that name a staker and a withdrawer
STAKE_MINT = "stake"  # the mint of a remembered stake account (it has none)


def checked(item: Any) -> Any:
    """A JSON-RPC response object whose request did not fail."""
    try:
        check_item(item)
    except ItemError as exc:  # a refused request leaves a hole: never read it as zero
        raise UpstreamError(f"a request failed: {exc}") from exc
    return item


def accounts_of(
    requests: list[GetMultipleAccounts], answers: Iterator[Any]
) -> dict[str, Account | str | None]:
    """Address -> account (None when it does not exist, a reason when its entry of the answer
    is malformed) of getMultipleAccounts answers."""
    found: dict[str, Account | str | None] = {}
    for request in requests:
        item = next(answers)
        result = item.get("result") if isinstance(item, dict) else None
        value = result.get("value") if isinstance(result, dict) else None
        if not isinstance(value, list) or len(value) != len(request.accounts):
            raise UpstreamError(f"a getMultipleAccounts answer without {len(request.accounts)} "
                                "accounts")  # fmt: skip
        context = result.get("context", {"slot": 0}) if isinstance(result, dict) else {}
        for address, entry in zip(map(str, request.accounts), value, strict=True):
            found[address] = _account(address, context, entry)
    return found


def _account(address: str, context: Any, entry: Any) -> Account | str | None:
    if entry is None:
        return None
    one = {"jsonrpc": "2.0", "id": 0, "result": {"context": context, "value": [entry]}}
    try:
        parsed = _parse(GetMultipleAccountsResp, one)
    except UpstreamError:
        return f"account {address}: a malformed answer"
    account: Account | None = parsed.value[0]
    return account


def held_amount(
    account: TokenAccount, wallet: str, state: Account | str | None
) -> int | str | None:
    """The amount of a known token account as it is now; None when it is no longer the
    wallet's account of that mint (closed, reassigned, reopened for another mint); a reason
    when its answer cannot be read. Reads the 72-byte head, or the whole account from a node
    that ignores ``dataSlice``."""
    if isinstance(state, str):
        return state
    if state is None or str(state.owner) != account.program:
        return None
    if state.owner == STAKE_PROGRAM:
        return _staked(account, wallet, state)
    data = bytes(state.data)
    if len(data) != ACCOUNT_HEAD.length and len(data) < TOKEN_ACCOUNT_LENGTH:
        return f"token account {account.address}: {len(data)} bytes, not a token account"
    mint, owner = Pubkey.from_bytes(data[:32]), Pubkey.from_bytes(data[32:64])
    if str(mint) != account.mint or str(owner) != wallet:
        return None
    return int.from_bytes(data[64:72], "little")


def _staked(account: TokenAccount, wallet: str, state: Account) -> int | str | None:
    """The SOL in a known stake account: all its lamports while the wallet is its staker or
    withdrawer; None once it is neither (withdrawn and closed, or handed over)."""
    data = bytes(state.data)
    if len(data) < STAKE_HEAD:
        return f"stake account {account.address}: {len(data)} bytes, not a stake account"
    if int.from_bytes(data[:4], "little") not in STAKE_STATES:
        return None
    owner = bytes(Pubkey.from_string(wallet))
    staker = data[STAKER_OFFSET : STAKER_OFFSET + 32]
    withdrawer = data[WITHDRAWER_OFFSET : WITHDRAWER_OFFSET + 32]
    return state.lamports if owner in (staker, withdrawer) else None


def owner_now(state: Account | str | None) -> str | None:
    """The owner a token account's data names now, if it is a token account at all."""
    if state is None or isinstance(state, str) or state.owner not in TOKEN_PROGRAMS:
        return None
    data = bytes(state.data)
    return str(Pubkey.from_bytes(data[32:64])) if len(data) >= TOKEN_HEAD else None


def stake_accounts_of(item: Any) -> Iterator[tuple[TokenAccount, int]]:
    """Each stake account of a getProgramAccounts answer, with its lamports."""
    parsed = _parse(GetProgramAccountsResp, item)
    for keyed in parsed.value:
        if keyed.account.owner != STAKE_PROGRAM:
            raise UpstreamError(f"an account of another program among stake accounts: {keyed}")
        account = TokenAccount(str(keyed.pubkey), STAKE_MINT, str(STAKE_PROGRAM), 9)
        yield account, keyed.account.lamports


def token_accounts_of(item: Any, program: Pubkey) -> Iterator[tuple[TokenAccount, int]]:
    """Each token account of a jsonParsed getTokenAccountsByOwner answer, with its amount."""
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


# Token-2022 keeps extensions after the base layout, padded to 165 bytes: the account type
# (1: a mint), then type-length-value entries (u16 type, u16 length). TokenMetadata (type 19)
# holds the update authority (32), the mint (32), then name, symbol and uri as Borsh strings
# (a u32 length, then UTF-8).
MINT_ACCOUNT_TYPE = 1
TOKEN_METADATA = 19


def mint_metadata(data: bytes) -> tuple[str | None, str | None]:
    """The (symbol, name) of a Token-2022 mint's metadata extension; (None, None) without
    one, or when it cannot be read."""
    if len(data) <= TOKEN_ACCOUNT_LENGTH or data[TOKEN_ACCOUNT_LENGTH] != MINT_ACCOUNT_TYPE:
        return None, None
    at = TOKEN_ACCOUNT_LENGTH + 1
    while at + 4 <= len(data):
        kind = int.from_bytes(data[at : at + 2], "little")
        length = int.from_bytes(data[at + 2 : at + 4], "little")
        value = data[at + 4 : at + 4 + length]
        if kind == TOKEN_METADATA:
            return _metadata_texts(value)
        if kind == 0 or len(value) != length:  # uninitialized space, or a cut entry
            break
        at += 4 + length
    return None, None


def _metadata_texts(value: bytes) -> tuple[str | None, str | None]:
    texts: list[str | None] = []
    at = 64  # past the update authority and the mint
    for _ in range(2):  # name, then symbol
        if at + 4 > len(value):
            return None, None
        size = int.from_bytes(value[at : at + 4], "little")
        raw = value[at + 4 : at + 4 + size]
        if len(raw) != size:
            return None, None
        texts.append(outside_text(raw.decode("utf-8", errors="replace")))
        at += 4 + size
    name, symbol = texts
    return symbol, name
