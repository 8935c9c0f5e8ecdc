"""A local Solana JSON-RPC server over LiteSVM state.

It answers the methods the service uses in the shapes of the Solana RPC documentation,
JSON-RPC batches included, behind the fault switches of ``FaultySwitchboard`` (timeouts, 429s,
malformed bodies). The accounts are real SVM accounts: SPL Token and Token-2022 mints and token
accounts laid out as the programs lay them out.
"""

from __future__ import annotations

import base64
import json
import struct
from decimal import Decimal
from typing import Any

import base58
from solders.account import Account
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.token.state import Mint, TokenAccount, TokenAccountState

from tests.rpcproxy import FaultySwitchboard

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
STAKE_PROGRAM = Pubkey.from_string("Stake11111111111111111111111111111111111111")
STAKE_ACCOUNT_LEN = 200
STAKE_RENT_RESERVE = 2_282_880
BASE_ACCOUNT_LEN = 165
RENT_EPOCH = 18446744073709551615
# Token-2022 extension data after the base layout: AccountType::Account, then the
# ImmutableOwner extension (type 7, length 0).
IMMUTABLE_OWNER_TLV = bytes([2]) + (7).to_bytes(2, "little") + (0).to_bytes(2, "little")
PROGRAM_NAMES = {TOKEN_PROGRAM: "spl-token", TOKEN_2022_PROGRAM: "spl-token-2022"}


class RpcParamError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class SolanaRpcServer(FaultySwitchboard):
    def __init__(self, svm: LiteSVM | None = None, *, delay: float = 0.0) -> None:
        super().__init__(delay=delay)
        self.svm = svm or LiteSVM()
        self.batches = True  # False: refuse JSON-RPC batches, as some providers do
        self.honour_data_slice = True  # False: send whole accounts, as some nodes do
        self.malformed: set[str] = set()  # accounts answered with undecodable data
        # token accounts by owner, so that getTokenAccountsByOwner does not scan every account
        # (a validator indexes them too; the benchmarks hold tens of thousands)
        self._by_owner: dict[Pubkey, set[Pubkey]] = {}
        self._owner_of: dict[Pubkey, Pubkey] = {}
        # accounts by owning program, for getProgramAccounts (stake accounts)
        self._by_program: dict[Pubkey, set[Pubkey]] = {}

    async def __aenter__(self) -> SolanaRpcServer:
        await self.start()
        return self

    # -- state ---------------------------------------------------------------------------
    def set_sol(self, owner: Pubkey, lamports: int) -> None:
        self.svm.set_account(owner, Account(lamports, b"", SYSTEM_PROGRAM, False, RENT_EPOCH))

    def create_mint(self, mint: Pubkey, decimals: int, program: Pubkey = TOKEN_PROGRAM) -> None:
        data = bytes(Mint(None, 0, decimals, True, None))
        self.svm.set_account(mint, Account(1_461_600, data, program, False, RENT_EPOCH))

    def create_mint_with_metadata(
        self, mint: Pubkey, decimals: int, name: str, symbol: str, uri: str = ""
    ) -> None:
        """A Token-2022 mint with the TokenMetadata extension, laid out as the program lays it
        out: the base mint, padding to 165 bytes, the account type, then the TLV entry."""
        base = bytes(Mint(None, 0, decimals, True, None)).ljust(BASE_ACCOUNT_LEN, b"\0")

        def text(value: str) -> bytes:
            encoded = value.encode()
            return len(encoded).to_bytes(4, "little") + encoded

        value = bytes(32) + bytes(mint) + text(name) + text(symbol) + text(uri)
        value += (0).to_bytes(4, "little")  # no additional metadata
        tlv = (19).to_bytes(2, "little") + len(value).to_bytes(2, "little") + value
        data = base + bytes([1]) + tlv
        self.svm.set_account(mint, Account(4_000_000, data, TOKEN_2022_PROGRAM, False, RENT_EPOCH))

    def create_token_account(
        self, address: Pubkey, mint: Pubkey, owner: Pubkey, amount: int
    ) -> None:
        mint_account = self.svm.get_account(mint)
        assert mint_account is not None, "create the mint first"
        program = mint_account.owner
        state = TokenAccount(
            mint, owner, amount, None, TokenAccountState.Initialized, None, 0, None
        )
        data = bytes(state)
        if program == TOKEN_2022_PROGRAM:
            data += IMMUTABLE_OWNER_TLV
        self.svm.set_account(address, Account(2_039_280, data, program, False, RENT_EPOCH))
        self._unindex(address)
        self._owner_of[address] = owner
        self._by_owner.setdefault(owner, set()).add(address)

    def create_stake_account(
        self, address: Pubkey, staker: Pubkey, withdrawer: Pubkey, lamports: int,
        *, delegated: bool = True,
    ) -> None:  # fmt: skip
        """A stake account as the Stake program lays it out (StakeStateV2, 200 bytes):
        delegated (state 2) to a vote account, or only initialized (state 1)."""
        meta = (
            STAKE_RENT_RESERVE.to_bytes(8, "little") + bytes(staker) + bytes(withdrawer)
            + bytes(8 + 8 + 32)  # lockup: none
        )  # fmt: skip
        if delegated:
            delegation = (
                bytes(Pubkey.new_unique())  # the vote account
                + (lamports - STAKE_RENT_RESERVE).to_bytes(8, "little")  # stake
                + (0).to_bytes(8, "little") + (2**64 - 1).to_bytes(8, "little")  # epochs
                + struct.pack("<d", 0.25) + (0).to_bytes(8, "little") + bytes(1)
            )  # fmt: skip
            data = (2).to_bytes(4, "little") + meta + delegation
        else:
            data = (1).to_bytes(4, "little") + meta
        data = data.ljust(STAKE_ACCOUNT_LEN, b"\0")
        self.svm.set_account(address, Account(lamports, data, STAKE_PROGRAM, False, RENT_EPOCH))
        self._by_program.setdefault(STAKE_PROGRAM, set()).add(address)

    def close_account(self, address: Pubkey) -> None:
        """A closed account: no lamports, no data, owned by the system program again."""
        self.svm.set_account(address, Account(0, b"", SYSTEM_PROGRAM, False, RENT_EPOCH))
        self._unindex(address)

    def _unindex(self, address: Pubkey) -> None:
        previous = self._owner_of.pop(address, None)
        if previous is not None:
            self._by_owner[previous].discard(address)

    # -- JSON-RPC --------------------------------------------------------------------------
    async def answer(self, body: bytes) -> tuple[int, bytes]:
        try:
            request = json.loads(body)
        except json.JSONDecodeError:
            return 200, _dump(_error(None, -32700, "Parse error"))
        if isinstance(request, list):
            if not self.batches:
                return 200, _dump(_error(None, -32600, "batch requests are disabled"))
            if not request:
                return 200, _dump(_error(None, -32600, "Invalid request"))
            return 200, _dump([self._one(item) for item in request])
        return 200, _dump(self._one(request))

    def _one(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0":
            return _error(None, -32600, "Invalid request")
        ident, method = request.get("id"), request.get("method")
        handler = getattr(self, f"_rpc_{method}", None)
        if handler is None:
            return _error(ident, -32601, "Method not found")
        try:
            result = handler(*(request.get("params") or []))
        except (RpcParamError, TypeError, ValueError) as exc:
            code = exc.code if isinstance(exc, RpcParamError) else -32602
            return _error(ident, code, f"Invalid params: {exc}")
        return {"jsonrpc": "2.0", "result": result, "id": ident}

    def _context(self, value: Any) -> dict[str, Any]:
        return {
            "context": {"apiVersion": "2.2.0", "slot": self.svm.get_clock().slot},
            "value": value,
        }

    def _rpc_getHealth(self) -> str:  # noqa: N802 - JSON-RPC method names
        return "ok"

    def _rpc_getSlot(self, config: dict[str, Any] | None = None) -> int:  # noqa: N802
        return int(self.svm.get_clock().slot)

    def _rpc_getBalance(self, address: str, config: dict[str, Any] | None = None) -> Any:  # noqa: N802
        account = self.svm.get_account(Pubkey.from_string(address))
        return self._context(account.lamports if account else 0)

    def _rpc_getMultipleAccounts(  # noqa: N802
        self, addresses: list[str], config: dict[str, Any] | None = None
    ) -> Any:
        if len(addresses) > 100:
            raise RpcParamError(-32602, "Too many inputs provided; max 100")
        config = config or {}
        entries = []
        for address in addresses:
            account = self.svm.get_account(Pubkey.from_string(address))
            entry = self._account(account, config) if account else None
            if entry is not None and address in self.malformed:
                entry["data"] = ["%%% not base64 %%%", "base64"]
            entries.append(entry)
        return self._context(entries)

    def _rpc_getProgramAccounts(  # noqa: N802
        self, program: str, config: dict[str, Any] | None = None
    ) -> Any:
        config = config or {}
        program_key = Pubkey.from_string(program)
        found = []
        for address in sorted(self._by_program.get(program_key, ()), key=str):
            account = self.svm.get_account(address)
            if account is None or account.owner != program_key:
                continue
            data = bytes(account.data)
            if all(_matches(data, f) for f in config.get("filters") or []):
                found.append({"pubkey": str(address), "account": self._account(account, config)})
        return self._context(found) if config.get("withContext") else found

    def _rpc_getTokenAccountsByOwner(  # noqa: N802
        self, owner: str, token_filter: dict[str, str], config: dict[str, Any] | None = None
    ) -> Any:
        config = config or {}
        owner_key = Pubkey.from_string(owner)
        if "programId" in token_filter:
            program = Pubkey.from_string(token_filter["programId"])
            if program not in PROGRAM_NAMES:
                raise RpcParamError(-32602, "unrecognized Token program id")
            wanted_mint = None
        else:
            wanted_mint = Pubkey.from_string(token_filter["mint"])
            mint_account = self.svm.get_account(wanted_mint)
            if mint_account is None:
                raise RpcParamError(-32602, "Invalid param: could not find mint")
            program = mint_account.owner
        found = []
        for address in sorted(self._by_owner.get(owner_key, ()), key=str):
            account = self.svm.get_account(address)
            if account is None or account.owner != program:
                continue
            if len(account.data) < BASE_ACCOUNT_LEN:
                continue  # a mint
            state = TokenAccount.from_bytes(bytes(account.data[:BASE_ACCOUNT_LEN]))
            if state.owner != owner_key or (wanted_mint and state.mint != wanted_mint):
                continue
            found.append({"pubkey": str(address), "account": self._account(account, config)})
        return self._context(found)

    def _account(self, account: Account, config: dict[str, Any]) -> dict[str, Any]:
        encoding = config.get("encoding", "base64")
        data = bytes(account.data)
        if (
            encoding == "jsonParsed"
            and account.owner in PROGRAM_NAMES
            and len(data) >= BASE_ACCOUNT_LEN
        ):
            rendered: Any = self._parsed_token_account(account)
        elif encoding in ("base64", "jsonParsed"):
            window = config.get("dataSlice")
            if window and self.honour_data_slice:
                data = data[window["offset"] : window["offset"] + window["length"]]
            rendered = [base64.b64encode(data).decode(), "base64"]
        else:
            raise RpcParamError(-32602, f"unsupported encoding {encoding}")
        return {
            "data": rendered,
            "executable": account.executable,
            "lamports": account.lamports,
            "owner": str(account.owner),
            "rentEpoch": account.rent_epoch,
            "space": len(bytes(account.data)),
        }

    def _parsed_token_account(self, account: Account) -> dict[str, Any]:
        state = TokenAccount.from_bytes(bytes(account.data[:BASE_ACCOUNT_LEN]))
        mint_account = self.svm.get_account(state.mint)
        assert mint_account is not None
        decimals = Mint.from_bytes(bytes(mint_account.data[:82])).decimals
        ui = Decimal(state.amount).scaleb(-decimals)
        info: dict[str, Any] = {
            "isNative": state.is_native is not None,
            "mint": str(state.mint),
            "owner": str(state.owner),
            "state": "initialized",
            "tokenAmount": {
                "amount": str(state.amount),
                "decimals": decimals,
                "uiAmount": float(ui),
                "uiAmountString": format(ui.normalize(), "f") if state.amount else "0",
            },
        }
        if account.owner == TOKEN_2022_PROGRAM:
            info["extensions"] = [{"extension": "immutableOwner"}]
        return {
            "program": PROGRAM_NAMES[account.owner],
            "parsed": {"info": info, "type": "account"},
            "space": len(bytes(account.data)),
        }


def _matches(data: bytes, rule: dict[str, Any]) -> bool:
    """A getProgramAccounts filter: ``dataSize``, or ``memcmp`` with base58 or base64 bytes."""
    if "dataSize" in rule:
        return len(data) == int(rule["dataSize"])
    memcmp = rule.get("memcmp")
    if not isinstance(memcmp, dict):
        raise RpcParamError(-32602, f"unsupported filter {rule}")
    encoding = memcmp.get("encoding", "base58")
    if encoding == "base58":
        wanted = base58.b58decode(memcmp["bytes"])
    elif encoding == "base64":
        wanted = base64.b64decode(memcmp["bytes"])
    else:
        raise RpcParamError(-32602, f"unsupported memcmp encoding {encoding}")
    offset = int(memcmp["offset"])
    return data[offset : offset + len(wanted)] == wanted


def _error(ident: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": ident}


def _dump(document: Any) -> bytes:
    return json.dumps(document).encode()
