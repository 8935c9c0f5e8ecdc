"""The schema as SQLAlchemy models. Alembic migrations create it; a test keeps both in step.

Corrections to the first design: raw base units as NUMERIC(78,0) beside ``decimals``; a token is
keyed by ``token_key`` (contract or mint address, or ``native``), never NULL, so the native coin
cannot be stored twice; history goes with its wallet (ON DELETE CASCADE).

A wallet's current balances are a JSON document in its row (``wallets.balances``). History is
kept as what changed: a ``balance_changes`` row when a (wallet, token) amount differs from the
last one recorded, and ``price_points``, one price per (chain, token) per bucket shared by every
wallet. ``history_spans`` holds the tenant's value at each 5-minute, hourly and daily boundary
already computed from them (up to its ``history_cursors`` row): a cache, rebuilt from the two.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from portfolio.adapters.db.types import BaseUnits, ExactAmount, ExactDecimal, UtcDateTime
from portfolio.domain.text import TEXT_MAX

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# SQLite only makes an INTEGER PRIMARY KEY an auto-incrementing rowid alias.
HistoryId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class WalletRow(Base):
    __tablename__ = "wallets"
    __table_args__ = (
        UniqueConstraint("tenant", "chain", "address"),
        Index(None, "tenant", "created_at", "id"),
        Index(None, "chain", "address"),
    )

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64), server_default="default")
    chain: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(100))
    # The ENS name it was added by, and its address's primary name as last read (and when).
    name: Mapped[str | None] = mapped_column(String(255))
    ens_name: Mapped[str | None] = mapped_column(String(255))
    ens_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_fetched_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    accounts_discovered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Why the last fetch failed (cleared by the next success), and the tokens the last
    # successful read could not read, as JSON.
    last_error: Mapped[str | None] = mapped_column(String(1000))
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    token_failures: Mapped[str | None] = mapped_column(Text)
    # Failed reads since the last good one (a wallet.read_failed event is written when it
    # reaches PORTFOLIO_EVENT_FAILURES).
    read_failures: Mapped[int] = mapped_column(Integer, server_default="0")
    # The balances of the last good read (JSON, adapters/db/balances.py): current balances live
    # in their wallet's row, so a read writes one row a wallet whatever changed (and one a
    # changed balance, its change). Loaded only where asked for (undefer); elsewhere an access
    # raises rather than loading it behind the caller's back.
    balances: Mapped[str] = mapped_column(
        Text, server_default="[]", deferred=True, deferred_raiseload=True
    )


class BalanceChangeRow(Base):
    """A (wallet, token) amount that differs from the last one recorded (0 when it went)."""

    __tablename__ = "balance_changes"
    __table_args__ = (
        Index(None, "wallet_id", "token_key", "changed_at"),
        Index(None, "wallet_id", "changed_at"),
    )

    id: Mapped[int] = mapped_column(HistoryId, primary_key=True, autoincrement=True)
    wallet_id: Mapped[UUID] = mapped_column(ForeignKey("wallets.id", ondelete="CASCADE"))
    token_key: Mapped[str] = mapped_column(String(64))
    symbol: Mapped[str | None] = mapped_column(String(TEXT_MAX))
    decimals: Mapped[int] = mapped_column(SmallInteger)
    raw_balance: Mapped[int] = mapped_column(BaseUnits)
    # The amount in tokens minus the previous one's: a history sums these, no wallet's
    # previous row looked up.
    delta: Mapped[Decimal] = mapped_column(ExactAmount)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PricePointRow(Base):
    """The last USD price of a token seen in a bucket of 5 minutes, 1 hour or 1 day: (s, s +
    step], as history buckets end."""

    __tablename__ = "price_points"
    __table_args__ = (Index(None, "chain", "token_key", "priced_at"),)

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    step_seconds: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    usd_price: Mapped[Decimal] = mapped_column(ExactDecimal)
    priced_at: Mapped[datetime] = mapped_column(UtcDateTime)


class HistorySpanRow(Base):
    """A tenant's value on one chain at 288 consecutive boundaries of one step (300, 3600 or
    86400 seconds: a day of 5-minute points, 12 days of hourly ones, 288 days of daily ones)
    from ``start`` (a multiple of 288 steps from the epoch): ``points`` holds the values at
    ``start + step``, ``start + 2 step``, ... as decimal text separated by commas, empty where
    the chain held nothing yet. A window of ten thousand points reads tens of rows."""

    __tablename__ = "history_spans"
    __table_args__ = (Index(None, "step", "start"),)

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    points: Mapped[str] = mapped_column(Text)


class HistoryCursorRow(Base):
    """How far a tenant's history points are computed, and the holdings and prices there."""

    __tablename__ = "history_cursors"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the first point's time
    sealed_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the last point's time
    state: Mapped[str] = mapped_column(Text)  # JSON: held amount and price of each token


class PerformanceTrackRow(Base):
    """A token's or a wallet's track (domain.performance.Track) at 288 consecutive daily
    boundaries from ``start`` (a multiple of 288 days from the epoch), cell ``i`` at
    ``start + (i + 1) step``: ``track_values`` the value at each, ``inflows`` and ``outflows``
    the flows of the bucket ending there, each as decimal text separated by commas (empty: no
    value kept, or no flow), and ``flags`` one character a cell (``@`` + the flag bits); a
    wallet's also its time-weighted index as doubles (its exact figures: PerformanceCellRow).
    ``track``: ``t:<chain>:<token>`` or ``w:<wallet id>``."""

    __tablename__ = "performance_tracks"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    start: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    track: Mapped[str] = mapped_column(String(128), primary_key=True)
    track_values: Mapped[str] = mapped_column(Text)
    inflows: Mapped[str] = mapped_column(Text)
    outflows: Mapped[str] = mapped_column(Text)
    flags: Mapped[str] = mapped_column(Text)
    levels: Mapped[str] = mapped_column(Text)  # a wallet's index as doubles (base64), to scan


class PerformanceCellRow(Base):
    """A wallet's exact figures at a kept boundary ``at`` (domain.performance.Indexed): its
    value, its inflows and outflows summed since its track began, and its time-weighted index,
    as decimal text. A window reads those at its ends and at its drawdown's peak and trough."""

    __tablename__ = "performance_cells"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    track: Mapped[str] = mapped_column(String(128), primary_key=True)  # w:<wallet id>
    at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    inflow_sum: Mapped[str] = mapped_column(Text)
    outflow_sum: Mapped[str] = mapped_column(Text)
    chained: Mapped[str] = mapped_column(Text)


class PerformanceCursorRow(Base):
    """How far a tenant's tracks of a step are kept (``kept_at``, a boundary), and each of its
    positions' amount and each token's symbol there (``state``, JSON)."""

    __tablename__ = "performance_cursors"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the first kept boundary
    kept_at: Mapped[datetime] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(Text)
    # New at every write of the cursor or its tracks: what was read of them is still kept
    # while it is the same.
    version: Mapped[str] = mapped_column(String(32), server_default="")


class EventRow(Base):
    """The outbox: an event (domain/events.py) written with the change that caused it.
    ``seq`` orders a tenant's events for a stream to resume from; ``id`` is the public one."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "tenant", "seq"), Index(None, "occurred_at"))

    seq: Mapped[int] = mapped_column(HistoryId, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    tenant: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    data: Mapped[str] = mapped_column(Text)  # JSON


class TenantTotalRow(Base):
    """The tenant's total value last told in a ``portfolio.changed`` event (exact text)."""

    __tablename__ = "tenant_totals"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    total_usd: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookRow(Base):
    """A tenant's receiver of events. ``secret`` signs what is sent (it must be kept to sign:
    it is never shown again after creation, nor logged)."""

    __tablename__ = "webhooks"
    __table_args__ = (Index(None, "tenant", "created_at", "id"),)

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[str] = mapped_column(Text)  # JSON list of event types
    description: Mapped[str | None] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=true())
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime)


class WebhookMessageRow(Base):
    """One event to send to one webhook: written with the event (in its transaction), sent
    until a 2xx or its last retry. ``next_at`` is when it is due (None once settled)."""

    __tablename__ = "webhook_messages"
    __table_args__ = (Index(None, "next_at"), Index(None, "created_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # the webhook-id header
    webhook_id: Mapped[UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)  # the body as signed and sent
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    state: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed


class WebhookAttemptRow(Base):
    """One try at sending a message: its answer (at most 1 KB of it kept) or its error."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index(None, "webhook_id", "id"), Index(None, "attempted_at"))

    id: Mapped[int] = mapped_column(HistoryId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(40))
    event_id: Mapped[str] = mapped_column(String(40))
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
    response: Mapped[str | None] = mapped_column(Text)


class TokenAccountRow(Base):
    """A Solana token account found by discovery."""

    __tablename__ = "token_accounts"

    wallet_id: Mapped[UUID] = mapped_column(
        ForeignKey("wallets.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    mint: Mapped[str] = mapped_column(String(64))
    program: Mapped[str] = mapped_column(String(64))
    decimals: Mapped[int] = mapped_column(SmallInteger)


class ApiKeyRow(Base):
    """An API key: only the hash of its secret is kept."""

    __tablename__ = "api_keys"

    id: Mapped[UUID] = mapped_column(Uuid, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    read_only: Mapped[bool] = mapped_column(Boolean, server_default=false())
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TokenMarkRow(Base):
    """A tenant's mark on a token: trusted or spam."""

    __tablename__ = "token_marks"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    mark: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TrackedTokenRow(Base):
    """A token a tenant tracks by its address, with what the chain says of it."""

    __tablename__ = "tracked_tokens"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    symbol: Mapped[str | None] = mapped_column(String(TEXT_MAX))
    name: Mapped[str | None] = mapped_column(String(128))  # >= TEXT_MAX
    decimals: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LogCursorRow(Base):
    """How far a chain's Transfer logs were scanned for tokens on no list: the last block."""

    __tablename__ = "log_cursors"

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    block: Mapped[int] = mapped_column(BigInteger)


class LogBackfillRow(Base):
    """An address whose Transfer logs on a chain were scanned back, from ``block`` on."""

    __tablename__ = "log_backfills"

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    block: Mapped[int] = mapped_column(BigInteger)


class FoundContractRow(Base):
    """A contract that sent a watched wallet a Transfer: an ERC-20's decimals, symbol and name
    as read from it, or (``decimals`` NULL) no token, remembered so it is read once."""

    __tablename__ = "found_contracts"

    chain: Mapped[str] = mapped_column(String(32), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    decimals: Mapped[int | None] = mapped_column(SmallInteger)
    symbol: Mapped[str | None] = mapped_column(String(TEXT_MAX))
    name: Mapped[str | None] = mapped_column(String(128))  # >= TEXT_MAX
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FoundTokenRow(Base):
    """A token on no list that a wallet received (its first transfer's block), read with the
    wallet's listed tokens from then on."""

    __tablename__ = "found_tokens"

    wallet_id: Mapped[UUID] = mapped_column(
        ForeignKey("wallets.id", ondelete="CASCADE"), primary_key=True
    )
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    block: Mapped[int] = mapped_column(BigInteger)
    found_at: Mapped[datetime] = mapped_column(UtcDateTime)
