"""Building the chain readers from Settings (part of the composition root): Solana, and one
EVM reader per configured EVM chain (Ethereum, the presets given nodes, the chains file)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from portfolio.adapters.chains.evm import ChainIdCheck, EvmLimits, Web3ChainReader
from portfolio.adapters.chains.solana import SolanaChainReader, SolanaLimits
from portfolio.adapters.chains.tokenlist import every_token, load_token_list
from portfolio.adapters.resilience import CallPolicy
from portfolio.adapters.telemetry import PrometheusTelemetry
from portfolio.config import EvmChain, Settings
from portfolio.domain.chains import SOLANA_PRICES, Chain, NativeCoin, PriceNames
from portfolio.ports.chains import ChainReader
from portfolio.ports.health import HealthCheck


def rpc_policy(settings: Settings, telemetry: PrometheusTelemetry | None = None) -> CallPolicy:
    return CallPolicy(
        telemetry=telemetry,
        timeout_seconds=settings.rpc_timeout_seconds,
        attempts=settings.rpc_attempts,
        backoff_seconds=settings.rpc_backoff_seconds,
        breaker_threshold=settings.rpc_breaker_threshold,
        breaker_ttl_seconds=settings.rpc_breaker_ttl_seconds,
    )


def configured_chains(settings: Settings) -> list[Chain]:
    """The chains wallets may be on: every EVM chain with nodes, and Solana with nodes."""
    chains = [Chain(evm.name) for evm in settings.evm_chains()]
    return chains + ([Chain.SOLANA] if settings.solana_rpc_urls else [])


def price_names(settings: Settings) -> dict[Chain, PriceNames]:
    """How the price sources name each configured chain and its native coin."""
    names = {
        Chain(evm.name): PriceNames(evm.native_price_id, evm.defillama_chain,
                                    evm.coingecko_platform)
        for evm in settings.evm_chains()
    }  # fmt: skip
    return {**names, Chain.SOLANA: SOLANA_PRICES}


@asynccontextmanager
async def chain_readers(
    settings: Settings, telemetry: PrometheusTelemetry | None = None
) -> AsyncIterator[tuple[dict[Chain, ChainReader], list[HealthCheck]]]:
    """A reader per chain with RPC URLs configured, and the readiness checks of their nodes
    (each EVM node must answer its chain's id). Token lists are loaded once, here."""
    policy = rpc_policy(settings, telemetry)
    readers: dict[Chain, ChainReader] = {}
    checks: list[HealthCheck] = []
    async with AsyncExitStack() as stack:
        for chain in settings.evm_chains():
            evm = await _evm_reader(settings, chain, policy)
            stack.push_async_callback(evm.close)
            readers[evm.chain] = evm
            checks.append(ChainIdCheck(evm))
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
        yield readers, checks


async def _evm_reader(settings: Settings, chain: EvmChain, policy: CallPolicy) -> Web3ChainReader:
    name = Chain(chain.name)
    tokens = await load_token_list(name, chain.token_list)
    chosen = tokens.get(chain.chain_id, [])
    if not chosen and chain.token_list and len(tokens) == 1:
        # A list of one chain's tokens, configured for this chain, is read as it is (a
        # devnet's list often keeps mainnet's chainId); the shipped lists and lists of several
        # chains give the configured chain id's tokens.
        (chosen,) = tokens.values()
    return Web3ChainReader.from_urls(
        chain.rpc_urls,
        {chain.chain_id: chosen},
        chain.multicall_address,
        policy,
        EvmLimits(
            calls_per_multicall=settings.evm_calls_per_multicall,
            max_request_bytes=settings.evm_max_request_bytes,
            batch_size=settings.evm_batch_size,
        ),
        chain_id=chain.chain_id,
        chain=name,
        native=NativeCoin(chain.native_symbol, chain.native_name, chain.native_decimals),
    )
