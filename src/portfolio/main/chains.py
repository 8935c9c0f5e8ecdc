"""Building the chain readers from Settings (part of the composition root): Solana, and one
EVM reader per configured EVM chain (Ethereum, the presets given nodes, the chains file).

A token list at a URL that cannot be read at start-up does not stop the service (a list
server away is not a mistake in the settings, as a wrong path is): the service starts with the
chain's other lists, says so in ``/health`` (``<chain>_token_lists``, a warning), and reads the
lists again in the background until every one is read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from loguru import logger
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from portfolio.adapters.chains.ens import EnsNames
from portfolio.adapters.chains.evm import ChainIdCheck, EvmLimits, Web3ChainReader
from portfolio.adapters.chains.solana import SolanaChainReader, SolanaLimits
from portfolio.adapters.chains.tokenlist import (
    TokenList,
    TokenListError,
    every_token,
    load_token_list,
)
from portfolio.adapters.redaction import redact_url
from portfolio.adapters.resilience import CallPolicy
from portfolio.adapters.telemetry import PrometheusTelemetry
from portfolio.config import EvmChain, Settings
from portfolio.domain.chains import SOLANA_PRICES, Chain, NativeCoin, PriceNames
from portfolio.domain.errors import NotReadyError
from portfolio.domain.tokens import Token
from portfolio.ports.chains import ChainReader, TransferLogs
from portfolio.ports.health import HealthCheck
from portfolio.ports.names import NameService

# Waits between reads of lists that could not be read: 5 s doubling up to 5 minutes.
LIST_RETRY_FIRST_SECONDS = 5.0
LIST_RETRY_MAX_SECONDS = 300.0


@dataclass
class ChainReaders:
    readers: dict[Chain, ChainReader]
    checks: list[HealthCheck]  # readiness: each EVM node answers its chain's id
    optional_checks: list[HealthCheck]  # warnings: token lists not read yet
    logs: list[TransferLogs] = field(default_factory=list)  # the EVM chains' Transfer logs
    confirmations: dict[Chain, int] = field(default_factory=dict)  # blocks behind the head
    names: NameService | None = None  # ENS, on Ethereum's nodes


@dataclass
class UnreadLists:
    """A chain's token lists at URLs not read yet, by their redacted names."""

    chain: Chain
    names: list[str]


class TokenListCheck:
    """Health (a warning, not readiness): every token list of the chain has been read."""

    def __init__(self, unread: UnreadLists) -> None:
        self.name = f"{unread.chain}_token_lists"
        self._unread = unread

    async def check(self) -> None:
        if self._unread.names:
            names = ", ".join(self._unread.names)
            raise NotReadyError(f"not read yet (trying again): {names}")


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
) -> AsyncIterator[ChainReaders]:
    """A reader per chain with RPC URLs configured, the readiness checks of their nodes (each
    EVM node must answer its chain's id), and a warning check for each chain whose lists were
    not all read. Lists are loaded here."""
    policy = rpc_policy(settings, telemetry)
    built = ChainReaders({}, [], [])
    async with AsyncExitStack() as stack:
        for chain in settings.evm_chains():
            evm = await _evm_reader(settings, chain, policy, stack, built)
            stack.push_async_callback(evm.close)
            built.readers[evm.chain] = evm
            built.checks.append(ChainIdCheck(evm))
            built.logs.append(evm)
            built.confirmations[evm.chain] = chain.log_confirmations
            if evm.chain == Chain.ETHEREUM and settings.ens_registry:
                built.names = EnsNames(evm.calls, settings.ens_registry)
        if settings.solana_rpc_urls:
            solana = SolanaChainReader.from_urls(
                settings.solana_rpc_urls,
                [],
                policy,
                SolanaLimits(
                    batch_size=settings.solana_batch_size, commitment=settings.solana_commitment
                ),
            )
            stack.push_async_callback(solana.close)
            await _lists(
                Chain.SOLANA,
                settings.solana_token_list,
                lambda mints: solana.use_tokens(every_token(mints)),
                stack,
                built,
            )
            built.readers[Chain.SOLANA] = solana
        yield built


async def _evm_reader(
    settings: Settings,
    chain: EvmChain,
    policy: CallPolicy,
    stack: AsyncExitStack,
    built: ChainReaders,
) -> Web3ChainReader:
    name = Chain(chain.name)
    reader = Web3ChainReader.from_urls(
        chain.rpc_urls,
        {},
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
    try:
        await _lists(
            name,
            chain.token_list,
            lambda tokens: reader.use_tokens({chain.chain_id: _of_chain(chain, tokens)}),
            stack,
            built,
        )
    except BaseException:
        await reader.close()
        raise
    return reader


def _of_chain(chain: EvmChain, tokens: TokenList) -> list[Token]:
    """The chain's tokens of its lists. A list of one chain's tokens, configured for this
    chain, is read as it is (a devnet's list often keeps mainnet's chainId); the shipped lists
    and lists of several chains give the configured chain id's tokens."""
    chosen = tokens.get(chain.chain_id, [])
    if not chosen and chain.token_list and len(tokens) == 1:
        (chosen,) = tokens.values()
    return chosen


async def _lists(
    chain: Chain,
    sources: str | None,
    use: Callable[[TokenList], None],
    stack: AsyncExitStack,
    built: ChainReaders,
) -> None:
    """The chain's lists handed to ``use``; those at URLs that cannot be read now are read
    again in the background, and the whole set handed over again once every one is read."""
    unread: list[str] = []
    use(await load_token_list(chain, sources, unread=unread))
    if not unread:
        return
    state = UnreadLists(chain, [redact_url(url) for url in unread])
    logger.warning(
        "{} token list(s) could not be read, starting without them: {}",
        chain,
        ", ".join(state.names),
    )
    built.optional_checks.append(TokenListCheck(state))
    task = asyncio.create_task(_read_later(chain, sources, use, state))
    stack.push_async_callback(_stop, task)


async def _read_later(
    chain: Chain, sources: str | None, use: Callable[[TokenList], None], state: UnreadLists
) -> None:
    retrying = AsyncRetrying(
        wait=wait_exponential(multiplier=LIST_RETRY_FIRST_SECONDS, max=LIST_RETRY_MAX_SECONDS),
        retry=retry_if_exception_type(TokenListError),
    )
    async for attempt in retrying:
        with attempt:
            tokens = await load_token_list(chain, sources)
    use(tokens)
    state.names.clear()
    logger.info("{} token lists all read", chain)


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
