"""Request and response bodies of the HTTP contract."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from portfolio.domain.addresses import BASE58_KEY, EVM_HEX
from portfolio.domain.amounts import format_decimal
from portfolio.domain.chains import Chain
from portfolio.domain.currencies import USD, Conversion, converted
from portfolio.domain.events import EventType
from portfolio.domain.history import HeldAt, HistoryPoint, Interval, Window, totals_at
from portfolio.domain.jobs import BatchProgress
from portfolio.domain.portfolio import Summary, TokenTotal
from portfolio.domain.prices import Price, price_key, round_usd, share, value_of
from portfolio.domain.tokens import STAKED, Mark, Token, TokenBalance, address_and_kind
from portfolio.domain.wallet import LABEL_MAX_LENGTH, Wallet
from portfolio.domain.webhooks import Attempt, Webhook
from portfolio.services.balances import BalanceView
from portfolio.services.fetching import RefreshOutcome
from portfolio.services.health import Status

EXAMPLE_ETH = "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045"
MAX_CHAINS = 16
TokenKind = Literal["liquid", "staked"]
# Amounts travel as strings, exact and never in exponent form: a JSON number would lose digits
# in most clients (a uint256 has 78).
RawAmount = Annotated[str, Field(pattern=r"^[0-9]+$", examples=["1500000"])]
DecimalString = Annotated[str, Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$", examples=["1.5"])]
# What a schema can say of an address: EVM hex or 32-44 base58 characters, blanks around it
# allowed (they are trimmed). What it cannot is answered 422: the form must be the chain's own,
# a mixed-case EVM address must carry a correct EIP-55 checksum, and base58 must decode to
# exactly 32 bytes.
ADDRESS_PATTERN = rf"^\s*({EVM_HEX}|{BASE58_KEY})\s*$"
ADDRESS_RULES = (
    "EVM chains: 0x + 40 hex digits (all-lower or all-upper, or mixed case with a correct "
    "EIP-55 checksum). Solana: base58 decoding to 32 bytes (32 to 44 characters). An address "
    "of the other chain's form, a wrong checksum or another decoded length is a 422."
)
# A wallet on an EVM chain may be added by ENS name: text with a dot and no blank (what
# ENSIP-15 accepts is judged by the server, then the name is resolved on Ethereum).
WALLET_ADDRESS_PATTERN = rf"^\s*({EVM_HEX}|{BASE58_KEY}|[^\s]*\.[^\s]+)\s*$"
# chain or chains, never both (not both keys, even with a null). That one of them is given is
# the server's 422: a schema saying it (anyOf at the model) makes generated clients lose the
# model and take any body.
NOT_CHAIN_AND_CHAINS: dict[str, Any] = {"not": {"required": ["chain", "chains"]}}


def _trimmed(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class WalletCreate(BaseModel):
    """``chain``, or ``chains`` to track one address on several chains at once (one wallet per
    chain, created together or not at all)."""

    model_config = ConfigDict(json_schema_extra=NOT_CHAIN_AND_CHAINS)

    # Before chain, so that chain's check sees it.
    chains: list[Chain] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CHAINS,
        json_schema_extra={"uniqueItems": True},
        description="Instead of chain: every chain to track the address on, each once.",
        examples=[["ethereum", "base"]],
    )
    chain: Chain | None = Field(
        default=None,
        validate_default=True,
        description="A configured chain: ethereum, solana, or an EVM chain the service has nodes "
        "for (base, arbitrum, optimism, polygon, bsc, or one of its chains file).",
        examples=["ethereum"],
    )
    address: str = Field(
        min_length=1,
        max_length=255,
        pattern=WALLET_ADDRESS_PATTERN,
        description=f"{ADDRESS_RULES} On EVM chains an ENS name too (`vitalik.eth`), normalised "
        "as ENSIP-15 says and resolved on Ethereum: its address is stored, the name kept in "
        "`name`; a name that resolves to no address is a 422.",
        examples=[EXAMPLE_ETH.lower(), "vitalik.eth"],
    )
    # Trimmed before its length is judged: "  cold storage  " is a label of 12 characters.
    label: Annotated[str | None, BeforeValidator(_trimmed)] = Field(
        default=None, max_length=LABEL_MAX_LENGTH, examples=["cold storage"]
    )

    @model_validator(mode="before")
    @classmethod
    def _not_both(cls, data: Any) -> Any:
        if isinstance(data, dict) and "chain" in data and "chains" in data:
            raise ValueError("Give chain or chains, not both.")
        return data

    @field_validator("chain")
    @classmethod
    def _one_way(cls, chain: Chain | None, info: ValidationInfo) -> Chain | None:
        if chain is None and info.data.get("chains") is None:
            raise ValueError("Field required: give chain (or chains, a list).")
        return chain

    @property
    def chain_list(self) -> list[Chain]:
        return [self.chain] if self.chain is not None else list(self.chains or [])


class WalletOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    chain: Chain = Field(examples=["ethereum"])
    address: str = Field(examples=[EXAMPLE_ETH])
    label: str | None = Field(examples=["cold storage"])
    created_at: datetime
    updated_at: datetime
    name: str | None = Field(
        default=None, examples=["vitalik.eth"], description="The ENS name it was added by."
    )
    ens_name: str | None = Field(
        default=None,
        examples=["vitalik.eth"],
        description="The address's primary ENS name (its reverse record, kept only while the "
        "name resolves back to the address), read again daily; null when it has none or "
        "before its first read.",
    )

    @classmethod
    def of(cls, wallet: Wallet) -> WalletOut:
        return cls.model_validate(wallet)


class WalletsCreated(BaseModel):
    """The wallets of a POST with ``chains``, in the order of the chains."""

    items: list[WalletOut]


class WalletList(BaseModel):
    items: list[WalletOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class Liveness(BaseModel):
    status: Literal["pass"]


class CheckOut(BaseModel):
    status: Status
    latency_ms: float = Field(examples=[1.7])
    detail: str | None = None


class HealthOut(BaseModel):
    status: Status = Field(description="`warn`: only an optional dependency fails.")
    checks: dict[str, CheckOut]


class TokenOut(BaseModel):
    chain: Chain
    address: str | None = Field(description="Contract or mint address; null for ETH and SOL.")
    symbol: str | None = Field(examples=["USDC"])
    name: str | None = Field(examples=["USD Coin"])
    decimals: int = Field(examples=[6])
    verified: bool = Field(description="The native coin, or a token of the configured list.")
    kind: TokenKind = Field(
        default="liquid",
        description="staked: the native coin held in stake accounts (Solana), beside the liquid.",
    )

    @classmethod
    def of(cls, token: Token) -> TokenOut:
        return cls(
            chain=token.chain,
            address=token.address,
            symbol=token.symbol,
            name=token.name,
            decimals=token.decimals,
            verified=token.verified,
            kind="staked" if token.kind == STAKED else "liquid",
        )


USD_CONVERSION = Conversion.usd()


class CurrencyOut(BaseModel):
    """What the document's ``*value`` fields are in: ``currency`` (``?currency=``, else the
    service's default), at ``rate`` units of it for one USD (its last rate at or before each
    moment, for documents of past moments). A value whose rate is not known is null, with
    ``rate_missing`` saying why; ``*_usd`` fields are always USD."""

    currency: str = Field(default=USD, examples=["EUR"])
    rate: DecimalString | None = Field(default=None, description="Units of currency per USD.")
    rate_as_of: datetime | None = None
    rate_missing: str | None = Field(default=None, description="Why values are null.")

    @staticmethod
    def currency_fields(conversion: Conversion) -> dict[str, Any]:
        rate = conversion.rate
        return {
            "currency": conversion.currency,
            "rate": None if rate is None else format_decimal(rate.per_usd),
            "rate_as_of": None if rate is None else rate.as_of,
            "rate_missing": conversion.reason,
        }


class BalanceOut(BaseModel):
    token: TokenOut
    raw_balance: RawAmount = Field(description="Integer base units, as a string.")
    balance: DecimalString = Field(description="raw_balance / 10**decimals, exact.")
    usd_price: DecimalString | None = Field(default=None, examples=["0.9998"])
    usd_value: DecimalString | None = Field(default=None, examples=["1.50"])
    value: DecimalString | None = Field(default=None, description="usd_value in the currency.")
    price_change_24h: DecimalString | None = Field(default=None, examples=["-0.0123"])
    as_of: datetime | None = Field(
        default=None,
        description="When this balance was read: the wallet's as_of, or earlier for a balance "
        "kept from an earlier read because its token could not be read since (see errors).",
    )

    @classmethod
    def of(
        cls,
        balance: TokenBalance,
        price: Price | None,
        as_of: datetime | None = None,
        conversion: Conversion | None = None,
    ) -> BalanceOut:
        value = value_of(balance.raw, balance.token.decimals, price)
        return cls(
            value=(conversion or USD_CONVERSION).value(value),
            as_of=as_of,
            token=TokenOut.of(balance.token),
            raw_balance=str(balance.raw),
            balance=str(balance.amount),
            usd_price=None if price is None else format_decimal(price.usd),
            usd_value=None if value is None else str(round_usd(value)),
            price_change_24h=_change(price),
        )


def _change(price: Price | None) -> str | None:
    if price is None or price.change_24h is None:
        return None
    return format_decimal(price.change_24h)


class TokenErrorOut(BaseModel):
    token: TokenOut
    reason: str = Field(examples=["the balance call reverted"])


class BalancesOut(CurrencyOut):
    wallet_id: UUID
    chain: Chain
    address: str
    as_of: datetime | None = Field(description="When the chain was read; null if never.")
    stale: bool = Field(
        description="Older than the freshness setting, or the last fetch failed. A token that "
        "failed alone leaves the wallet fresh: it is listed under errors."
    )
    total_usd: DecimalString | None = None
    total_value: DecimalString | None = Field(default=None, description="In the currency.")
    balances: list[BalanceOut]
    errors: list[TokenErrorOut] = Field(
        default_factory=list, description="Tokens of the last fetch that could not be read."
    )
    last_error: str | None = Field(default=None, description="Why the last fetch failed.")

    @classmethod
    def of(cls, view: BalanceView, conversion: Conversion | None = None) -> BalancesOut:
        conversion = conversion or USD_CONVERSION
        snapshot = view.snapshot
        ordered = [b for b in sorted(snapshot.balances, key=_display_order) if b.raw]
        priced = [(b, view.prices.get(price_key(b.token))) for b in ordered]
        values = [v for b, p in priced if (v := value_of(b.raw, b.token.decimals, p)) is not None]
        return cls(
            wallet_id=view.wallet.id,
            chain=view.wallet.chain,
            address=view.wallet.address,
            as_of=snapshot.as_of,
            stale=view.stale or any(p.stale for _, p in priced if p is not None),
            total_usd=str(round_usd(sum(values, Decimal(0)))) if values else None,
            total_value=conversion.value(sum(values, Decimal(0))) if values else None,
            **cls.currency_fields(conversion),
            balances=[
                BalanceOut.of(b, p, snapshot.balance_as_of(b), conversion) for b, p in priced
            ],
            errors=[
                TokenErrorOut(token=TokenOut.of(f.token), reason=f.reason)
                for f in snapshot.failures
            ],
            last_error=snapshot.last_error,
        )


def _display_order(balance: TokenBalance) -> tuple[bool, bool, str, str]:
    token = balance.token
    return (not token.is_native, not token.verified, token.symbol or "~", token.address or "")


class ChainTotalOut(BaseModel):
    chain: Chain
    usd_value: DecimalString = Field(examples=["1234.56"])
    value: DecimalString | None = Field(default=None, description="usd_value in the currency.")
    share: DecimalString = Field(examples=["0.75"], description="Fraction of total_usd.")


class TokenTotalOut(BaseModel):
    token: TokenOut
    balance: DecimalString
    raw_balance: RawAmount
    usd_price: DecimalString | None = None
    usd_value: DecimalString | None = None
    value: DecimalString | None = Field(default=None, description="usd_value in the currency.")
    share: DecimalString | None = None
    price_change_24h: DecimalString | None = None


class WalletTotalOut(BaseModel):
    wallet_id: UUID
    chain: Chain
    address: str
    label: str | None
    usd_value: DecimalString
    value: DecimalString | None = Field(default=None, description="usd_value in the currency.")
    share: DecimalString


class SummaryOut(CurrencyOut):
    total_usd: DecimalString = Field(examples=["1646.08"])
    total_value: DecimalString | None = Field(
        default=None, examples=["1514.39"], description="total_usd in the currency."
    )
    as_of: datetime | None = Field(description="The oldest balance or price it stands on.")
    stale: bool
    wallet_count: int
    change_24h_usd: DecimalString | None = Field(
        description="What the priced holdings gained or lost at their 24-hour price change."
    )
    by_chain: list[ChainTotalOut]
    by_token: list[TokenTotalOut]
    by_wallet: list[WalletTotalOut]
    unpriced: list[TokenTotalOut] = Field(
        description="Tokens with no price and, unless PORTFOLIO_INCLUDE_UNVERIFIED is set, "
        "tokens outside the token lists: not in total_usd (tokens found on chain are under "
        "unverified)."
    )
    unverified: list[TokenTotalOut] = Field(
        default_factory=list,
        description="Tokens on no list found in the wallets' transfers that no price source "
        "prices yet: not in total_usd. One that a source prices counts like a listed token.",
    )
    spam: list[TokenTotalOut] = Field(
        default_factory=list,
        description="Tokens marked spam (never in total_usd): listed with ?include_spam=true.",
    )

    @classmethod
    def of(cls, summary: Summary, conversion: Conversion | None = None) -> SummaryOut:
        total = summary.total
        convert = conversion or USD_CONVERSION
        return cls(
            total_usd=str(round_usd(total)),
            total_value=convert.value(total),
            **cls.currency_fields(convert),
            as_of=summary.as_of,
            stale=summary.stale,
            wallet_count=summary.wallet_count,
            change_24h_usd=None
            if summary.change_24h is None
            else str(round_usd(summary.change_24h)),
            by_chain=[
                ChainTotalOut(
                    chain=chain,
                    usd_value=str(round_usd(value)),
                    share=_share(value, total),
                    value=convert.value(value),
                )
                for chain, value in sorted(summary.by_chain.items(), key=lambda item: -item[1])
            ],
            by_token=[_token_total(t, total, convert) for t in summary.by_token],
            by_wallet=[
                WalletTotalOut(
                    wallet_id=wallet.id,
                    chain=wallet.chain,
                    address=wallet.address,
                    label=wallet.label,
                    usd_value=str(round_usd(value)),
                    value=convert.value(value),
                    share=_share(value, total),
                )
                for wallet, value in summary.by_wallet
            ],
            unpriced=[_token_total(t, total, convert) for t in summary.unpriced],
            spam=[_token_total(t, total, convert) for t in summary.spam],
            unverified=[_token_total(t, total, convert) for t in summary.unverified],
        )


def _share(value: Decimal, total: Decimal) -> str:
    return format_decimal(share(value, total))


def _token_total(
    total_of_token: TokenTotal, total: Decimal, conversion: Conversion
) -> TokenTotalOut:
    price, value = total_of_token.price, total_of_token.value
    return TokenTotalOut(
        token=TokenOut.of(total_of_token.token),
        balance=str(total_of_token.amount),
        raw_balance=str(total_of_token.raw),
        usd_price=None if price is None else format_decimal(price.usd),
        usd_value=None if value is None else str(round_usd(value)),
        value=conversion.value(value),
        share=None if value is None else _share(value, total),
        price_change_24h=_change(price),
    )


class HistoryPointOut(BaseModel):
    timestamp: datetime = Field(description="The bucket's start; values stand at its end.")
    total_usd: DecimalString
    by_chain: dict[Chain, DecimalString]
    total_value: DecimalString | None = Field(
        default=None, description="total_usd in the currency, at its rate at the bucket's end."
    )
    by_chain_value: dict[Chain, DecimalString] | None = None


class HistoryOut(CurrencyOut):
    interval: Interval
    start: datetime = Field(description="As asked; the first point is the bucket holding it.")
    end: datetime
    points: list[HistoryPointOut]

    @classmethod
    def of(
        cls,
        interval: Interval,
        window: Window,
        points: list[HistoryPoint],
        currency: str = USD,
        rates: Sequence[Decimal | None] | None = None,
    ) -> HistoryOut:
        """``rates``: the currency's rate at each boundary of the window (a point stands at
        the end of its bucket: the next boundary)."""
        at = list(rates) if rates is not None else [Decimal(1)] * (len(points) + 1)
        missing = any(rate is None for rate in at[1 : len(points) + 1])
        return cls(
            interval=interval,
            start=window.asked_start or window.start,
            end=window.end,
            currency=currency,
            rate_missing=f"No {currency} rate was recorded by some points' times: their "
            "values are null."
            if missing
            else None,
            points=[
                HistoryPointOut(
                    timestamp=p.timestamp,
                    total_usd=str(round_usd(p.total)),
                    by_chain={c: str(round_usd(v)) for c, v in p.by_chain.items()},
                    total_value=converted(p.total, rate, currency),
                    by_chain_value=None
                    if rate is None
                    else {c: converted(v, rate, currency) or "" for c, v in p.by_chain.items()},
                )
                for p, rate in zip(points, at[1:], strict=False)
            ],
        )


class RefreshedWalletOut(BaseModel):
    wallet_id: UUID
    chain: Chain
    address: str
    status: str = Field(examples=["refreshed"], description="refreshed or failed")
    as_of: datetime | None = None
    error: str | None = None
    token_errors: int = Field(default=0, description="Tokens that could not be read.")


BatchStatus = Literal["queued", "running", "done"]


class RefreshBatchOut(BaseModel):
    """A refresh handed to the workers: poll its URL (the Location of the 202) until
    ``status`` is ``done``."""

    id: str
    status: BatchStatus
    jobs: int
    jobs_done: int
    refreshed: int
    failed: int

    @classmethod
    def of(cls, batch: BatchProgress) -> RefreshBatchOut:
        status: BatchStatus = "done" if batch.finished else "running" if batch.done else "queued"
        return cls(
            id=batch.batch_id, status=status, jobs=batch.jobs, jobs_done=batch.done,
            refreshed=batch.refreshed, failed=batch.failed,
        )  # fmt: skip


class RefreshOut(BaseModel):
    refreshed: int
    failed: int
    wallets: list[RefreshedWalletOut]

    @classmethod
    def of(cls, outcomes: list[RefreshOutcome]) -> RefreshOut:
        wallets = [
            RefreshedWalletOut(
                wallet_id=o.wallet.id,
                chain=o.wallet.chain,
                address=o.wallet.address,
                status="failed" if o.snapshot is None else "refreshed",
                as_of=None if o.snapshot is None else o.snapshot.as_of,
                error=o.error,
                token_errors=0 if o.snapshot is None else len(o.snapshot.failures),
            )
            for o in outcomes
        ]
        refreshed = sum(w.status == "refreshed" for w in wallets)
        return cls(refreshed=refreshed, failed=len(wallets) - refreshed, wallets=wallets)


class TokenAtOut(BaseModel):
    chain: Chain
    address: str | None = Field(description="Contract or mint address; null for ETH and SOL.")
    symbol: str | None = Field(examples=["USDC"])
    decimals: int = Field(examples=[6])
    kind: TokenKind = "liquid"


class HeldAtOut(BaseModel):
    """One (wallet, token) as recorded at or before the moment asked."""

    wallet_id: UUID
    wallet_address: str
    wallet_label: str | None
    token: TokenAtOut
    raw_balance: RawAmount
    balance: DecimalString
    usd_price: DecimalString | None = Field(
        description="The token's last price recorded at or before the moment."
    )
    usd_value: DecimalString | None = Field(description="null: no price was known then.")
    value: DecimalString | None = Field(default=None, description="usd_value in the currency.")
    recorded_at: datetime = Field(description="When this amount was recorded (it changed then).")

    @classmethod
    def of(cls, item: HeldAt, conversion: Conversion | None = None) -> HeldAtOut:
        address, kind = address_and_kind(item.token_key)
        return cls(
            wallet_id=UUID(str(item.wallet_id)),
            wallet_address=item.address,
            wallet_label=item.label,
            token=TokenAtOut(
                chain=item.chain,
                address=address,
                symbol=item.symbol,
                decimals=item.decimals,
                kind="staked" if kind == STAKED else "liquid",
            ),
            raw_balance=str(item.raw),
            balance=str(item.amount),
            usd_price=None if item.usd_price is None else format_decimal(item.usd_price),
            usd_value=None if item.usd_value is None else str(round_usd(item.usd_value)),
            value=(conversion or USD_CONVERSION).value(item.usd_value),
            recorded_at=item.recorded_at,
        )


class PortfolioAtOut(CurrencyOut):
    """The portfolio at ``time``: by the same definition as a history point (each (wallet,
    token)'s amount then times the token's price then), so at a bucket's end the totals are
    that point's. Values in the currency are at its rate then."""

    time: datetime
    total_usd: DecimalString
    by_chain: dict[Chain, DecimalString]
    total_value: DecimalString | None = Field(default=None, description="In the currency.")
    by_chain_value: dict[Chain, DecimalString] | None = None
    balances: list[HeldAtOut]

    @classmethod
    def of(
        cls, moment: datetime, held: list[HeldAt], conversion: Conversion | None = None
    ) -> PortfolioAtOut:
        total, by_chain = totals_at(held)
        convert = conversion or USD_CONVERSION
        return cls(
            time=moment,
            total_usd=str(round_usd(total)),
            by_chain={chain: str(round_usd(value)) for chain, value in by_chain.items()},
            total_value=convert.value(total),
            by_chain_value=None
            if convert.rate is None
            else {chain: convert.value(value) or "" for chain, value in by_chain.items()},
            balances=[HeldAtOut.of(item, convert) for item in held],
            **cls.currency_fields(convert),
        )


class BalancesAtOut(CurrencyOut):
    """A wallet's balances as recorded at or before ``at``."""

    wallet_id: UUID
    chain: Chain
    address: str
    at: datetime
    total_usd: DecimalString
    total_value: DecimalString | None = Field(default=None, description="In the currency.")
    balances: list[HeldAtOut]

    @classmethod
    def of(
        cls,
        wallet: Wallet,
        moment: datetime,
        held: list[HeldAt],
        conversion: Conversion | None = None,
    ) -> BalancesAtOut:
        total, _ = totals_at(held)
        convert = conversion or USD_CONVERSION
        return cls(
            wallet_id=wallet.id, chain=wallet.chain, address=wallet.address, at=moment,
            total_usd=str(round_usd(total)), total_value=convert.value(total),
            balances=[HeldAtOut.of(item, convert) for item in held],
            **cls.currency_fields(convert),
        )  # fmt: skip


class TokenMarkIn(BaseModel):
    mark: Mark | None = Field(
        description="trusted: counted in net worth though on no token list; spam: never "
        "counted, left out of the portfolio unless asked; null: no mark.",
        examples=["spam"],
    )


class TokenMarkOut(BaseModel):
    chain: Chain
    address: str = Field(description="The contract or mint address, normalized.")
    mark: Mark | None


class TokenTrack(BaseModel):
    chain: Chain = Field(examples=["ethereum"])
    address: str = Field(
        min_length=1,
        max_length=128,
        pattern=ADDRESS_PATTERN,
        description=f"Contract or mint address. {ADDRESS_RULES}",
        examples=[EXAMPLE_ETH.lower()],
    )


class TokenEntryOut(BaseModel):
    """A token of the tenant's: tracked by address, marked, or both."""

    chain: Chain
    address: str
    symbol: str | None = None
    name: str | None = None
    decimals: int | None = Field(default=None, description="null: marked only, not tracked.")
    tracked: bool
    mark: Mark | None = None


class TokenList(BaseModel):
    items: list[TokenEntryOut]


class WebhookCreate(BaseModel):
    url: str = Field(
        min_length=1,
        max_length=2048,
        description="Where events are POSTed: https to a public address (see "
        "PORTFOLIO_WEBHOOK_ALLOW_PRIVATE).",
        examples=["https://example.com/hooks/portfolio"],
    )
    events: list[EventType] = Field(
        min_length=1,
        max_length=len(EventType),
        description="The event types to send.",
        examples=[["balances.changed", "portfolio.changed"]],
    )
    description: Annotated[str | None, BeforeValidator(_trimmed)] = Field(
        default=None, max_length=200, examples=["alerts for the treasury"]
    )


class WebhookOut(BaseModel):
    id: UUID
    url: str
    events: list[EventType]
    description: str | None
    created_at: datetime
    enabled: bool
    disabled_reason: str | None = Field(description="Why the webhook was disabled.")
    failing_since: datetime | None = Field(
        description="Since when every delivery failed (null: the last one was delivered)."
    )

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookOut:
        return cls(
            id=webhook.id, url=webhook.url, events=list(webhook.events),
            description=webhook.description, created_at=webhook.created_at,
            enabled=webhook.enabled, disabled_reason=webhook.disabled_reason,
            failing_since=webhook.failing_since,
        )  # fmt: skip


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="Signs every delivery (Standard Webhooks, `whsec_` + base64). Shown only "
        "now: keep it."
    )


class WebhookList(BaseModel):
    items: list[WebhookOut]


class DeliveryOut(BaseModel):
    at: datetime
    event_id: str = Field(description="The event, and the `webhook-id` header sent.")
    message_id: str
    status_code: int | None = Field(description="The receiver's answer (null: none).")
    duration_ms: int
    error: str | None = Field(description="Why no answer came (a timeout, a refused address).")
    response: str | None = Field(description="The start of the answer's body (at most 1 KB).")

    @classmethod
    def of(cls, attempt: Attempt) -> DeliveryOut:
        return cls(
            at=attempt.at, event_id=attempt.event_id, message_id=attempt.message_id,
            status_code=attempt.status_code, duration_ms=attempt.duration_ms,
            error=attempt.error, response=attempt.response,
        )  # fmt: skip


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


class WebhookTestOut(BaseModel):
    event_id: str = Field(description="The ping's `webhook-id`.")
