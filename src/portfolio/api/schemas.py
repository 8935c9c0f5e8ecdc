"""Request and response bodies of the HTTP contract."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from portfolio.domain.chains import Chain
from portfolio.domain.wallet import LABEL_MAX_LENGTH, Wallet

EXAMPLE_ETH = "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"


class WalletCreate(BaseModel):
    chain: Chain = Field(examples=["ethereum"])
    address: str = Field(
        min_length=1,
        max_length=128,
        description="EVM: 0x + 40 hex digits (any all-lower/all-upper form, or a correct EIP-55 "
        "checksum). Solana: a base58 public key (32 bytes).",
        examples=[EXAMPLE_ETH.lower()],
    )
    label: str | None = Field(default=None, max_length=LABEL_MAX_LENGTH, examples=["cold storage"])


class WalletOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    chain: Chain = Field(examples=["ethereum"])
    address: str = Field(examples=[EXAMPLE_ETH])
    label: str | None = Field(examples=["cold storage"])
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, wallet: Wallet) -> WalletOut:
        return cls.model_validate(wallet)


class WalletList(BaseModel):
    items: list[WalletOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class Liveness(BaseModel):
    status: str = Field(examples=["pass"])


class CheckOut(BaseModel):
    status: str = Field(examples=["pass"])
    latency_ms: float = Field(examples=[1.7])
    detail: str | None = None


class HealthOut(BaseModel):
    status: str = Field(examples=["pass"], description="pass, warn or fail")
    checks: dict[str, CheckOut]
