"""Solana: 200 wallets with 5 token accounts each (both token programs) through the reader,
beside the plain path of the client (getBalance and two getTokenAccountsByOwner per wallet)."""

from __future__ import annotations

import time

from solana.rpc.async_api import AsyncClient
from solana.rpc.models import TokenAccountOpts
from solders.pubkey import Pubkey

from portfolio.adapters.chains.solana import SolanaChainReader
from portfolio.adapters.chains.solana_accounts import TOKEN_2022_PROGRAM, TOKEN_PROGRAM
from portfolio.adapters.resilience import CallPolicy
from tests.chains.solana_rpc import SolanaRpcServer

WALLETS = 200


def _world(server: SolanaRpcServer) -> list[str]:
    mints = [Pubkey.new_unique() for _ in range(5)]
    for n, mint in enumerate(mints):
        server.create_mint(mint, 6, TOKEN_2022_PROGRAM if n % 2 else TOKEN_PROGRAM)
    wallets = []
    for n in range(WALLETS):
        wallet = Pubkey.new_unique()
        server.set_sol(wallet, 10**9 + n)
        for mint in mints:
            server.create_token_account(Pubkey.new_unique(), mint, wallet, 1000 + n)
        wallets.append(str(wallet))
    return wallets


async def run() -> list[str]:
    lines = [f"Solana: {WALLETS} wallets x (SOL + 5 token accounts), local LiteSVM RPC"]
    async with SolanaRpcServer() as server:
        wallets = _world(server)
        reader = SolanaChainReader.from_urls([server.url], [], CallPolicy(timeout_seconds=120))
        started = time.perf_counter()
        readings = await reader.read_balances(wallets)
        batched_seconds = time.perf_counter() - started
        batched_http, batched_rpc = server.requests, len(server.methods)
        assert all(len(r.balances) == 6 for r in readings.values())

        known = {a: r.accounts or [] for a, r in readings.items()}
        started = time.perf_counter()
        again = await reader.read_balances(wallets, known)
        known_seconds = time.perf_counter() - started
        known_http = server.requests - batched_http
        known_rpc = len(server.methods) - batched_rpc
        assert all(again[a].balances == readings[a].balances for a in wallets)

        await reader.close()
        plain_before = server.requests
        started = time.perf_counter()
        async with AsyncClient(server.url, http2=False) as client:
            for wallet in wallets:
                key = Pubkey.from_string(wallet)
                await client.get_balance(key)
                for program in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
                    await client.get_token_accounts_by_owner_json_parsed(
                        key, TokenAccountOpts(program_id=program)
                    )
        plain_seconds = time.perf_counter() - started
        plain_http = server.requests - plain_before
    lines.append(
        f"  batched: {batched_http} HTTP requests ({batched_http / WALLETS:.3f} per wallet) "
        "carrying "
        f"{batched_rpc} RPC calls, {batched_seconds:.2f} s"
    )
    lines.append(
        f"  known accounts (refresh-all): {known_http} HTTP requests carrying {known_rpc} "
        f"getMultipleAccounts calls for {WALLETS * 6} accounts, {known_seconds:.2f} s"
    )
    lines.append(
        f"  plain:   {plain_http} HTTP requests ({plain_http / WALLETS:.0f} per wallet), "
        f"{plain_seconds:.2f} s"
    )
    return lines
