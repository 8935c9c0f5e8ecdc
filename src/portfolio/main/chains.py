"""Building the chain readers from Settings (part of the composition root)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from portfolio.adapters.chains.evm import EvmLimits, Web3ChainReader
from portfolio.adapters.chains.solana import SolanaChainReader, SolanaLimits
from portfolio.adapters.chains.tokenlist import every_token, load_token_list
from portfolio.adapters.resilience import CallPolicy
from portfolio.adapters.telemetry import PrometheusTelemetry
from portfolio.config import Settings
from portfolio.domain.chains import Chain
from portfolio.ports.chains import ChainReader


def rpc_policy(settings: Settings, telemetry: PrometheusTelemetry | None = None) -> CallPolicy:
    return CallPolicy(
        telemetry=telemetry,
        timeout_seconds=settings.rpc_timeout_seconds,
        attempts=settings.rpc_attempts,
        backoff_seconds=settings.rpc_backoff_seconds,
        breaker_threshold=settings.rpc_breaker_threshold,
        breaker_ttl_seconds=settings.rpc_breaker_ttl_seconds,
    )


@asynccontextmanager
async def chain_readers(
    settings: Settings, telemetry: PrometheusTelemetry | None = None
) -> AsyncIterator[dict[Chain, ChainReader]]:
    """A reader per chain with RPC URLs configured; token lists are loaded once, here."""
    policy = rpc_policy(settings, telemetry)
    readers: dict[Chain, ChainReader] = {}
    async with AsyncExitStack() as stack:
        if settings.ethereum_rpc_urls:
            tokens = await load_token_list(Chain.ETHEREUM, settings.ethereum_token_list)
            chain_id = settings.ethereum_chain_id
            if chain_id is None and settings.ethereum_token_list and len(tokens) == 1:
                # A list of one chain's tokens, configured for this node, is read as it is
                # (a devnet's list often keeps mainnet's chainId); the shipped mainnet list and
                # lists of several chains follow the node's eth_chainId.
                (chain_id,) = tokens

            evm = Web3ChainReader.from_urls(
                settings.ethereum_rpc_urls,
                tokens,
                settings.multicall_address,
                policy,
                EvmLimits(
                    calls_per_multicall=settings.evm_calls_per_multicall,
                    max_request_bytes=settings.evm_max_request_bytes,
                    batch_size=settings.evm_batch_size,
                ),
                chain_id=chain_id,
            )
            stack.push_async_callback(evm.close)
            readers[Chain.ETHEREUM] = evm
        if settings.solana_rpc_urls:
            mints = await load_token_list(Chain.SOLANA, settings.solana_token_list)
            solana = SolanaChainReader.from_urls(
                settings.solana_rpc_urls,
                every_token(mints),
                policy,
                SolanaLimits(
                    batch_size=settings.solana_batch_size, commitment=settings.solana_commitment
                ),
            )
            stack.push_async_callback(solana.close)
            readers[Chain.SOLANA] = solana
        yield readers
