"""Settings from the environment (prefix ``PORTFOLIO_``) and a ``.env`` file.

Names are part of the contract (see the README's settings table); add more, rename none.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"

# Comma-separated in the environment ("a,b"), a list in code.
UrlList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PORTFOLIO_", env_file=".env", extra="ignore", frozen=True
    )

    database_url: str = "sqlite+aiosqlite:///./portfolio.db"
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    database_statement_timeout_seconds: float = Field(default=5.0, gt=0)
    database_echo: bool = False

    redis_url: str | None = None
    redis_timeout_seconds: float = Field(default=1.0, gt=0)

    ethereum_rpc_urls: UrlList = ["https://ethereum-rpc.publicnode.com"]
    solana_rpc_urls: UrlList = ["https://api.mainnet-beta.solana.com"]
    ethereum_token_list: str | None = None
    solana_token_list: str | None = None
    # Which chainId's tokens of the token list to read; unset: ask the node (eth_chainId).
    ethereum_chain_id: int | None = Field(default=None, ge=1)
    multicall_address: str = MULTICALL3
    evm_calls_per_multicall: int = Field(default=1000, ge=1, le=10_000)
    evm_max_request_bytes: int = Field(default=1_000_000, ge=10_000)
    evm_batch_size: int = Field(default=100, ge=1, le=1000)
    solana_batch_size: int = Field(default=100, ge=1, le=1000)
    solana_commitment: Literal["processed", "confirmed", "finalized"] = "confirmed"
    solana_discovery_seconds: int = Field(default=3600, ge=0)

    rpc_timeout_seconds: float = Field(default=10.0, gt=0)
    rpc_attempts: int = Field(default=3, ge=1, le=10)
    rpc_backoff_seconds: float = Field(default=0.2, ge=0)
    rpc_breaker_threshold: int = Field(default=5, ge=1)
    rpc_breaker_ttl_seconds: float = Field(default=30.0, gt=0)
    fetch_lock_wait_seconds: float = Field(default=60.0, gt=0)

    price_sources: UrlList = ["defillama", "coingecko"]
    coingecko_base_url: str = "https://api.coingecko.com/api/v3"
    coingecko_api_key: SecretStr | None = None
    defillama_base_url: str = "https://coins.llama.fi"
    include_unverified: bool = False

    balance_ttl_seconds: int = Field(default=60, ge=1)
    price_ttl_seconds: int = Field(default=60, ge=1)

    max_body_bytes: int = Field(default=65_536, ge=1024)

    health_timeout_seconds: float = Field(default=2.0, gt=0)
    log_json: bool = False
    log_level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("ethereum_rpc_urls", "solana_rpc_urls", "price_sources", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("redis_url", "ethereum_token_list", "solana_token_list", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value
