"""Settings from the environment (prefix ``PORTFOLIO_``) and a ``.env`` file.

Names are part of the contract (see the README's settings table); add more, rename none. Each
field's description is its one line in ``.env.example``, which a test keeps equal to this class.
Bad values stop the process at start-up with one line per variable (``load_settings``), not at
the first request that needs them.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tomllib
from decimal import Decimal
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from limits import parse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from portfolio.domain.chains import CHAIN_NAME, SOLANA_NAME
from portfolio.domain.currencies import UnknownCurrencyError, currency_of

MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
ENS_REGISTRY = "0x00000000000C2E074eC69A0dFb2997BA6C7d2e1e"  # the same on Ethereum's testnets
PREFIX = "PORTFOLIO_"
DATABASE_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")

# Comma-separated in the environment ("a,b"), a list in code.
UrlList = Annotated[list[str], NoDecode]


class EvmChain(BaseModel):
    """An EVM chain as data: a preset below, or an entry of PORTFOLIO_EVM_CHAINS_FILE."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=CHAIN_NAME, description="the wallets' `chain`")
    chain_id: int = Field(ge=1, description="what its nodes answer to eth_chainId")
    rpc_urls: list[str] = Field(default=[], description="http(s) URLs, tried in order")
    native_symbol: str = Field(min_length=1, max_length=16)
    native_name: str = Field(min_length=1, max_length=64)
    native_decimals: int = Field(default=18, ge=0, le=36)
    native_price_id: str | None = Field(default=None, description="CoinGecko's id of the coin")
    defillama_chain: str | None = Field(default=None, description="DefiLlama's chain slug")
    coingecko_platform: str | None = Field(default=None, description="CoinGecko's platform id")
    token_list: str | None = Field(
        default=None, description="paths or URLs of token lists, comma-separated; shipped: ours"
    )
    multicall_address: str = Field(default=MULTICALL3, description="Multicall3 contract")
    log_confirmations: int = Field(
        default=12, ge=0, le=100_000, description="blocks behind the head its logs are read at"
    )

    @field_validator("name")
    @classmethod
    def _not_solana(cls, name: str) -> str:
        if name == SOLANA_NAME:
            raise ValueError("solana is not an EVM chain")
        return name

    @field_validator("rpc_urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        return [_check_http_url(url) for url in urls]


def _preset(
    name: str, chain_id: int, coin: tuple[str, str, str], llama: str, gecko: str
) -> EvmChain:
    symbol, coin_name, price_id = coin
    return EvmChain(
        name=name, chain_id=chain_id, native_symbol=symbol, native_name=coin_name,
        native_price_id=price_id, defillama_chain=llama, coingecko_platform=gecko,
    )  # fmt: skip


ETHER = ("ETH", "Ether", "ethereum")
# Presets, each off until PORTFOLIO_<NAME>_RPC_URLS gives it nodes. Names as the price sources
# spell them: DefiLlama's chain slugs, CoinGecko's platform and coin ids.
EVM_PRESETS: dict[str, EvmChain] = {
    chain.name: chain
    for chain in (
        _preset("ethereum", 1, ETHER, "ethereum", "ethereum"),
        _preset("base", 8453, ETHER, "base", "base"),
        _preset("arbitrum", 42161, ETHER, "arbitrum", "arbitrum-one"),
        _preset("optimism", 10, ETHER, "optimism", "optimistic-ethereum"),
        _preset("polygon", 137, ("POL", "Polygon Ecosystem Token", "polygon-ecosystem-token"),
                "polygon", "polygon-pos"),
        _preset("bsc", 56, ("BNB", "BNB", "binancecoin"), "bsc", "binance-smart-chain"),
    )
}  # fmt: skip
PRESET_CHAINS = ("base", "arbitrum", "optimism", "polygon", "bsc")


def load_chains_file(path: str) -> list[EvmChain]:
    """The chains of a JSON or TOML file: ``{"chains": [{name, chain_id, rpc_urls, ...}]}``
    (TOML: ``[[chains]]`` tables). Read and validated once while the file stays as it is:
    start-up asks for the chains in several places (settings, readers, prices, redaction)."""
    stat = Path(path).stat()
    return list(_chains_of_file(path, stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _chains_of_file(path: str, _mtime_ns: int, _size: int) -> tuple[EvmChain, ...]:
    text = Path(path).read_text()
    document = tomllib.loads(text) if path.endswith(".toml") else json.loads(text)
    entries = document.get("chains") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("a chains file holds a list named chains")
    chains = [EvmChain.model_validate(entry) for entry in entries]
    names = [chain.name for chain in chains]
    if len(set(names)) != len(names):
        raise ValueError("a chain is named twice in the chains file")
    return tuple(chains)


SECRET_FILE_BYTES = 65_536  # a secret's file is small; a bigger one is a mistake


class SecretFileError(ValueError):
    """A secret's file that cannot be read: its variable, its path and why."""


class SecretFiles(EnvSettingsSource):
    """Settings read from files, as Kubernetes and Compose mount secrets: the file that
    ``PORTFOLIO_<NAME>_FILE`` names holds ``PORTFOLIO_<NAME>``, and each file named
    ``PORTFOLIO_<NAME>`` (in any case) in the directory ``PORTFOLIO_SECRETS_DIR`` holds that
    setting. A file's text is the value, its trailing line break dropped. A variable set
    outright wins over both; a ``_FILE`` variable over the directory.

    Built on pydantic-settings' environment source, so that a value from a file is parsed as
    the same variable set in the environment would be (lists, JSON); its own
    SecretsSettingsSource reads a directory only, and no ``_FILE`` variables."""

    def _load_env_vars(self) -> dict[str, str | None]:
        values: dict[str, str | None] = {}
        directory = os.environ.get(f"{PREFIX}SECRETS_DIR")
        if directory:
            try:
                paths = sorted(Path(directory).iterdir())
            except OSError as exc:
                raise SecretFileError(f"{PREFIX}SECRETS_DIR: {directory}: {exc.strerror}") from None
            for path in paths:
                if path.name.upper().startswith(PREFIX) and path.is_file():
                    values[path.name.lower()] = _secret(path.name.upper(), path)
        fields = set(self.settings_cls.model_fields)
        for name, value in os.environ.items():
            upper = name.upper()
            if not (upper.startswith(PREFIX) and upper.endswith("_FILE") and value):
                continue
            setting = upper.removeprefix(PREFIX).removesuffix("_FILE").lower()
            own = upper.removeprefix(PREFIX).lower() in fields  # a setting of its own (a path)
            if setting in fields and not own:
                values[f"{PREFIX}{setting}".lower()] = _secret(upper, Path(value))
        return values


def _secret(variable: str, path: Path) -> str:
    try:
        with path.open("rb") as file:
            data = file.read(SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise SecretFileError(f"{variable}: {path}: {exc.strerror}") from None
    if len(data) > SECRET_FILE_BYTES:
        raise SecretFileError(f"{variable}: {path} is over {SECRET_FILE_BYTES} bytes")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise SecretFileError(f"{variable}: {path} is not UTF-8 text") from None
    return text.removesuffix("\n").removesuffix("\r")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Given values, the environment, secrets' files (SecretFiles), then .env."""
        return init_settings, env_settings, SecretFiles(settings_cls), dotenv_settings

    secrets_dir: str = Field(
        default="",
        description="a directory of secrets' files, each named PORTFOLIO_<NAME> (as mounted by "
        "Kubernetes or Compose; read from the environment only); PORTFOLIO_<NAME>_FILE names "
        "one file",
    )

    database_url: str = Field(
        default="sqlite+aiosqlite:///./portfolio.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or "
        "postgresql+asyncpg://user:pass@host/db",
    )
    database_read_url: str | None = Field(
        default=None,
        description="a replica the GET routes read from (postgresql+asyncpg://...); unset: none",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200, description="PostgreSQL pool size")
    database_max_overflow: int = Field(
        default=10, ge=0, le=200, description="PostgreSQL connections beyond the pool"
    )
    database_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, description="connecting, and waiting for a pooled connection"
    )
    database_statement_timeout_seconds: float = Field(
        default=5.0, gt=0, description="longest a statement may run (PostgreSQL)"
    )
    database_echo: bool = Field(default=False, description="log every SQL statement")

    redis_url: str | None = Field(
        default=None, description="redis://host:port/db; unset: an in-memory cache"
    )
    redis_timeout_seconds: float = Field(default=1.0, gt=0, description="per Redis call")

    ethereum_rpc_urls: UrlList = Field(
        default=["https://ethereum-rpc.publicnode.com"],
        description="comma-separated http(s) URLs, tried in order",
    )
    solana_rpc_urls: UrlList = Field(
        default=["https://api.mainnet-beta.solana.com"],
        description="comma-separated http(s) URLs, tried in order",
    )
    ethereum_token_list: str | None = Field(
        default=None,
        description="paths or http(s) URLs of token lists, comma-separated, shipped for the "
        "shipped one; unset: the shipped one",
    )
    solana_token_list: str | None = Field(
        default=None,
        description="paths or http(s) URLs of token lists, comma-separated, shipped for the "
        "shipped one; unset: the shipped one",
    )
    ethereum_chain_id: int | None = Field(
        default=None, ge=1, description="the chain id Ethereum's nodes must answer; unset: 1"
    )
    base_rpc_urls: UrlList = Field(default=[], description="Base nodes; unset: Base is off")
    base_token_list: str | None = Field(
        default=None, description="Base's token lists; unset: shipped"
    )
    arbitrum_rpc_urls: UrlList = Field(
        default=[], description="Arbitrum One nodes; unset: Arbitrum is off"
    )
    arbitrum_token_list: str | None = Field(
        default=None, description="Arbitrum's token lists; unset: shipped"
    )
    optimism_rpc_urls: UrlList = Field(
        default=[], description="OP Mainnet nodes; unset: Optimism is off"
    )
    optimism_token_list: str | None = Field(
        default=None, description="Optimism's token lists; unset: shipped"
    )
    polygon_rpc_urls: UrlList = Field(
        default=[], description="Polygon PoS nodes; unset: Polygon is off"
    )
    polygon_token_list: str | None = Field(
        default=None, description="Polygon's token lists; unset: shipped"
    )
    bsc_rpc_urls: UrlList = Field(default=[], description="BNB Chain nodes; unset: it is off")
    bsc_token_list: str | None = Field(
        default=None, description="BNB Chain's token lists; unset: shipped"
    )
    evm_chains_file: str | None = Field(
        default=None,
        description="JSON or TOML file of more EVM chains (or presets redefined); see README",
    )
    ethereum_log_confirmations: int = Field(
        default=12, ge=0, le=100_000,
        description="blocks behind Ethereum's head its Transfer logs are read at",
    )  # fmt: skip
    base_log_confirmations: int = Field(default=12, ge=0, le=100_000, description="Base's")
    arbitrum_log_confirmations: int = Field(default=12, ge=0, le=100_000, description="Arbitrum's")
    optimism_log_confirmations: int = Field(default=12, ge=0, le=100_000, description="Optimism's")
    polygon_log_confirmations: int = Field(default=32, ge=0, le=100_000, description="Polygon's")
    bsc_log_confirmations: int = Field(default=15, ge=0, le=100_000, description="BNB Chain's")
    log_discovery: bool = Field(
        default=True, description="find tokens on no list in EVM Transfer logs each cycle"
    )
    log_backfill_blocks: int = Field(
        default=0, ge=0, le=10_000_000,
        description="blocks back a chain's first log scan starts; 0: from its head on",
    )  # fmt: skip
    ens_registry: str = Field(
        default=ENS_REGISTRY,
        description="the ENS registry on Ethereum (names resolved for wallets); empty: no ENS",
    )
    ens_refresh_seconds: int = Field(
        default=86_400, ge=60, description="how often a wallet's primary ENS name is read again"
    )
    log_new_contracts: int = Field(
        default=200, ge=1, le=100_000,
        description="new contracts a log scan reads per chain per cycle (an airdrop storm's "
        "rest waits for the next cycles)",
    )  # fmt: skip
    multicall_address: str = Field(default=MULTICALL3, description="Multicall3 contract")
    evm_calls_per_multicall: int = Field(
        default=1000, ge=1, le=10_000, description="calls in one aggregate3"
    )
    evm_max_request_bytes: int = Field(
        default=1_000_000, ge=10_000, description="size of one HTTP request to an EVM node"
    )
    evm_batch_size: int = Field(
        default=100, ge=1, le=1000, description="JSON-RPC requests per batch without multicall"
    )
    evm_discovery_seconds: int = Field(
        default=3600,
        ge=0,
        description="refreshes read only the tokens an EVM wallet held when its token lists "
        "were last read whole; they are read whole again after this long; 0: every time",
    )
    solana_batch_size: int = Field(
        default=100, ge=1, le=1000, description="JSON-RPC requests per batch"
    )
    solana_commitment: Literal["processed", "confirmed", "finalized"] = Field(
        default="confirmed", description="processed, confirmed or finalized"
    )
    solana_discovery_seconds: int = Field(
        default=3600, ge=0, description="how long discovered token accounts are trusted"
    )

    rpc_timeout_seconds: float = Field(default=10.0, gt=0, description="per attempt")
    rpc_attempts: int = Field(default=3, ge=1, le=10, description="tries of a transient failure")
    rpc_backoff_seconds: float = Field(default=0.2, ge=0, description="first retry's wait")
    rpc_breaker_threshold: int = Field(
        default=5, ge=1, description="failures in a row that open an endpoint's circuit"
    )
    rpc_breaker_ttl_seconds: float = Field(
        default=30.0, gt=0, description="how long an open circuit rejects calls"
    )
    fetch_lock_wait_seconds: float = Field(
        default=60.0, gt=0, description="how long a fetch waits for one of the same wallet"
    )

    price_sources: UrlList = Field(
        default=["defillama", "coingecko"],
        description="defillama, coingecko, in fallback order; none: no prices",
    )
    coingecko_base_url: str = Field(
        default="https://api.coingecko.com/api/v3", description="CoinGecko's API"
    )
    coingecko_api_key: SecretStr | None = Field(default=None, description="CoinGecko API key")
    defillama_base_url: str = Field(
        default="https://coins.llama.fi", description="DefiLlama's coins API"
    )
    include_unverified: bool = Field(
        default=False, description="price and count tokens outside the token lists"
    )
    default_currency: str = Field(
        default="USD",
        description="the currency of values when a request names none: USD, EUR, GBP, JPY, "
        "CHF, CAD, AUD, BTC or ETH",
    )
    currency_rates: Annotated[dict[str, Decimal], NoDecode] = Field(
        default={},
        description="rates used when no price source gives one: units per USD for each "
        "currency, comma-separated, as in the README's Currencies",
    )

    history_5m_days: int = Field(
        default=35,
        ge=1,
        le=36500,
        description="days 5-minute prices and history points are kept (hourly and daily stay)",
    )
    history_1h_days: int = Field(
        default=400,
        ge=1,
        le=36500,
        description="days hourly prices and history points are kept (daily ones stay forever)",
    )
    event_retention_hours: int = Field(
        default=72,
        ge=1,
        le=8760,
        description="hours events are kept for streams to resume from (and webhook tries listed)",
    )
    event_failures: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="consecutive failed reads of a wallet that make a wallet.read_failed event",
    )
    webhook_disable_after_hours: int = Field(
        default=72,
        ge=1,
        le=8760,
        description="hours a webhook may fail every delivery before it is disabled",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="let webhooks use http and private or loopback addresses (never link-local)",
    )
    webhook_concurrency: int = Field(
        default=16, ge=1, le=1000, description="webhook deliveries a process sends at once"
    )
    stream_heartbeat_seconds: float = Field(
        default=15.0, gt=0, le=300, description="seconds between an event stream's keep-alives"
    )
    tenant_max_webhooks: int = Field(
        default=20, ge=1, le=1000, description="webhooks a tenant may have (403 past it)"
    )
    refresh_interval_seconds: int = Field(
        default=300,
        ge=0,
        description="every wallet of every tenant is refreshed this often; 0: off",
    )
    refresh_in_process: bool | None = Field(
        default=None,
        description="run the schedule inside the API process; unset: when Redis is not set",
    )
    refresh_chunk_wallets: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="wallets of one chain read and recorded together by a refresh",
    )
    refresh_inline_wallets: int = Field(
        default=1000,
        ge=0,
        description="POST /portfolio/refresh over more wallets answers 202 "
        "and hands the work to the workers",
    )
    refresh_job_wallets: int = Field(
        default=200, ge=1, le=10_000, description="wallets in one scheduled refresh job"
    )
    job_timeout_seconds: float = Field(
        default=240.0,
        gt=0,
        description="longest a refresh job runs; a silent worker's job is taken over after it",
    )
    job_attempts: int = Field(
        default=3, ge=1, le=10, description="tries of a job whose chain cannot be read"
    )
    worker_concurrency: int = Field(
        default=4, ge=1, le=100, description="refresh jobs one worker runs at once"
    )
    worker_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="a worker or the scheduler serves /metrics on this port (its health check "
        "too); 0: not",
    )
    worker_metrics_host: str = Field(
        default="127.0.0.1",
        description="the address a worker's /metrics listens on (0.0.0.0 in a container "
        "scraped from outside it)",
    )

    balance_ttl_seconds: int = Field(
        default=60, ge=1, description="freshness of balances; older is stale"
    )
    price_ttl_seconds: int = Field(default=60, ge=1, description="price cache lifetime")

    auth_enabled: bool = Field(
        default=False, description="require API keys (Authorization: Bearer or X-API-Key)"
    )
    rate_limit: str = Field(
        default="600/minute",
        description="requests per API key (or client address) and window; off: no rate limits",
    )
    rate_limit_chain: str = Field(
        default="30/minute", description="the same for the routes that read chains (fetch, refresh)"
    )
    rate_limit_auth_failures: str = Field(
        default="30/minute",
        description="failed authentications (401) per client address and window; past it a "
        "429 before a key is read from the database; off: not limited",
    )
    tenant_max_wallets: int = Field(
        default=10_000, ge=1, description="wallets a tenant may have (403 past it)"
    )
    tenant_max_tracked_tokens: int = Field(
        default=1_000, ge=1, description="tokens a tenant may track by address (403 past it)"
    )
    tenant_max_marks: int = Field(
        default=10_000, ge=1, description="tokens a tenant may mark trusted or spam (403 past it)"
    )
    rate_limit_fail_open: bool = Field(
        default=True, description="let requests through when the limits cannot be counted"
    )
    trusted_proxies: UrlList = Field(
        default=[], description="proxy addresses or networks whose X-Forwarded-For is believed"
    )
    allowed_hosts: UrlList = Field(
        default=[],
        description="host names the API answers (the Host header; * for any); unset: "
        "localhost, 127.0.0.1 and ::1 when API keys are off, any when they are on",
    )
    cors_origins: UrlList = Field(
        default=[], description="comma-separated origins whose pages may call the API"
    )
    max_body_bytes: int = Field(
        default=65_536, ge=1024, description="larger request bodies are refused (413)"
    )

    serve_host: str = Field(
        default="127.0.0.1", description="address the server listens on (the image: 0.0.0.0)"
    )
    serve_port: int = Field(default=8000, ge=1, le=65535, description="port the server listens on")
    shutdown_drain_seconds: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="on SIGTERM, not ready at once, new connections still taken this long",
    )
    shutdown_timeout_seconds: int = Field(
        default=20,
        gt=0,
        le=600,
        description="then requests in flight get this long to finish before they are cut",
    )
    forwarded_allow_ips: UrlList = Field(
        default=["127.0.0.1"],
        description="proxies whose X-Forwarded-For and -Proto the server believes (* for any)",
    )

    health_timeout_seconds: float = Field(
        default=2.0, gt=0, description="deadline of each readiness check"
    )
    health_cache_seconds: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="how long a round of health checks (and the scrape's database figure) "
        "serves every probe, health page and scrape; 0: each runs its own",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="when set, /metrics answers only Authorization: Bearer <this token>",
    )
    log_json: bool = Field(default=False, description="one JSON object per log line")
    log_level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="TRACE, DEBUG, INFO, WARNING or ERROR"
    )

    @field_validator(
        "ethereum_rpc_urls",
        "solana_rpc_urls",
        *(f"{name}_rpc_urls" for name in PRESET_CHAINS),
        "price_sources",
        "allowed_hosts",
        "cors_origins",
        "trusted_proxies",
        "forwarded_allow_ips",
        mode="before",
    )
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "redis_url",
        "database_read_url",
        "ethereum_token_list",
        "solana_token_list",
        "ethereum_chain_id",
        *(f"{name}_token_list" for name in PRESET_CHAINS),
        "evm_chains_file",
        "coingecko_api_key",
        "metrics_token",
        "refresh_in_process",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("default_currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        try:
            return currency_of(value)
        except UnknownCurrencyError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("currency_rates", mode="before")
    @classmethod
    def _rates(cls, value: object) -> object:
        """``EUR=0.92,GBP=0.79``: each a known currency and a positive rate."""
        if not isinstance(value, str):
            return value
        rates: dict[str, Decimal] = {}
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            code, _, rate = part.partition("=")
            try:
                number = Decimal(rate.strip())
            except ArithmeticError as exc:
                raise ValueError(f"not a rate: {part!r} (EUR=0.92)") from exc
            if not number.is_finite() or number <= 0:
                raise ValueError(f"not a positive rate: {part!r}")
            try:
                rates[currency_of(code)] = number
            except UnknownCurrencyError as exc:
                raise ValueError(str(exc)) from None
        return rates

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "ethereum_rpc_urls", "solana_rpc_urls", *(f"{name}_rpc_urls" for name in PRESET_CHAINS)
    )
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            _check_http_url(url)
        return urls

    @field_validator("coingecko_base_url", "defillama_base_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return _check_http_url(url)

    @field_validator("rate_limit", "rate_limit_chain", "rate_limit_auth_failures")
    @classmethod
    def _rate(cls, value: str, info: ValidationInfo) -> str:
        if value == "off" and info.field_name != "rate_limit_chain":  # that limit off
            return value
        try:
            parse(value)
        except ValueError as exc:
            raise ValueError("a rate such as 600/minute or 10/second") from exc
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ip_network(value, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an address or network: {value}") from exc
        return values

    @field_validator("database_read_url")
    @classmethod
    def _read_url(cls, url: str | None) -> str | None:
        return None if url is None else cls._database_url(url)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, url: str) -> str:
        try:
            driver = make_url(url).drivername
        except ArgumentError as exc:
            raise ValueError("not a database URL") from exc
        if driver not in DATABASE_DRIVERS:
            raise ValueError(f"use one of {', '.join(DATABASE_DRIVERS)}, not {driver}")
        return url

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url is not None and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("a redis://, rediss:// or unix:// URL")
        return url

    @field_validator("evm_chains_file")
    @classmethod
    def _chains_file(cls, path: str | None) -> str | None:
        if path is not None:
            try:
                load_chains_file(path)
            except OSError as exc:
                raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
            except ValidationError as exc:  # named by place, never by value (URLs hold keys)
                problems = "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {str(e['msg']).removeprefix('Value error, ')}"
                    for e in exc.errors()
                )
                raise ValueError(f"{path}: {problems}") from None
            except (ValueError, tomllib.TOMLDecodeError) as exc:
                raise ValueError(f"{path}: {exc}") from exc
        return path

    def evm_chains(self) -> list[EvmChain]:
        """Every EVM chain with nodes: Ethereum, the presets given RPC URLs, and the chains of
        the chains file (which may redefine a preset by its name)."""
        chains: dict[str, EvmChain] = {}
        ethereum = EVM_PRESETS["ethereum"].model_copy(update={
            "rpc_urls": self.ethereum_rpc_urls, "token_list": self.ethereum_token_list,
            "chain_id": self.ethereum_chain_id or 1, "multicall_address": self.multicall_address,
            "log_confirmations": self.ethereum_log_confirmations,
        })  # fmt: skip
        chains["ethereum"] = ethereum
        for name in PRESET_CHAINS:
            chains[name] = EVM_PRESETS[name].model_copy(update={
                "rpc_urls": getattr(self, f"{name}_rpc_urls"),
                "token_list": getattr(self, f"{name}_token_list"),
                "multicall_address": self.multicall_address,
                "log_confirmations": getattr(self, f"{name}_log_confirmations"),
            })  # fmt: skip
        for chain in load_chains_file(self.evm_chains_file) if self.evm_chains_file else []:
            chains[chain.name] = chain
        return [chain for chain in chains.values() if chain.rpc_urls]


def _check_http_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as exc:
        raise ValueError(f"not a URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Named by its scheme and host only: the rest of an RPC URL may be a key.
        raise ValueError(f"not an http(s) URL with a host: {parts.scheme or '?'}://...")
    return url


def load_settings(**values: Any) -> Settings:
    """Settings, or the process stops with one line per bad variable (no traceback)."""
    try:
        return Settings(**values)
    except SecretFileError as exc:
        print(f"portfolio: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except ValidationError as exc:
        for error in exc.errors():
            name = PREFIX + str(error["loc"][0]).upper() if error["loc"] else PREFIX
            message = str(error["msg"]).removeprefix("Value error, ")
            print(f"portfolio: {name}: {message}", file=sys.stderr)
        raise SystemExit(2) from None


def env_example() -> str:
    """``.env.example``: every setting, its one line of meaning and its default."""
    lines = ["# portfolio settings: environment variables, or this file copied to .env.", ""]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, list):
            default = ",".join(default)
        elif isinstance(default, dict):
            default = ",".join(f"{key}={value}" for key, value in default.items())
        elif default is None:
            default = ""
        elif isinstance(default, bool):
            default = str(default).lower()
        lines += [f"# {field.description}", f"{PREFIX}{name.upper()}={default}", ""]
    return "\n".join(lines)
