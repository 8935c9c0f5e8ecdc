"""History by changes and price series: ``balance_changes`` (a row when a (wallet, token) amount
differs from the last one recorded) and ``price_points`` (one price per token per bucket of 5
minutes, 1 hour and 1 day, shared by every wallet) replace ``balance_history`` (every balance at
every refresh) and its marks; ``history_points`` and ``history_cursors`` keep each tenant's value
at every 5-minute boundary once computed from them (filled as tenants ask, or by the upkeep).

Existing samples become changes (a sample whose amount differs from the one before it of its
wallet and token) and price points (each sample's price, the last of each bucket). A sample's
value was its amount times the price when it was read; a point is now each amount times the
token's last price at the bucket's end, so an old point stands where the wallets holding a token
were read together (as the schedule reads them). Current balances lose their USD columns, which
nothing read.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

import bisect
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What this revision does, written out here rather than imported, so that it stays what ran.
HistoryId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC_TIME = sa.DateTime(timezone=True)
BASE_UNITS = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")
USD = sa.Numeric(48, 18).with_variant(sa.String(64), "sqlite")
EXACT = sa.Numeric().with_variant(sa.String(), "sqlite")
STEPS = (300, 3600, 86400)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)
BATCH = 5000
WIDE = 200  # digits of the Python context for exact amounts and values

# PostgreSQL: each sample whose amount (raw and decimals) differs from the previous sample of
# its (wallet, token), the first one too unless it is 0; the change in tokens, exact (a numeric
# written as '<raw>e-<decimals>' is read exactly, where power() and division round).
CHANGES = sa.text(
    """
    INSERT INTO balance_changes (wallet_id, token_key, symbol, decimals, raw_balance, delta,
                                 changed_at)
    SELECT wallet_id, token_key, symbol, decimals, raw_balance,
           (raw_balance::text || 'e-' || decimals)::numeric
             - COALESCE((previous_raw::text || 'e-' || previous_decimals)::numeric, 0),
           recorded_at
    FROM (
        SELECT h.*,
               LAG(raw_balance) OVER placed AS previous_raw,
               LAG(decimals) OVER placed AS previous_decimals
        FROM balance_history h
        WINDOW placed AS (PARTITION BY wallet_id, token_key ORDER BY recorded_at, id)
    ) s
    WHERE (previous_raw IS NULL AND raw_balance <> 0)
       OR (previous_raw IS NOT NULL
           AND (raw_balance <> previous_raw OR decimals <> previous_decimals))
    ORDER BY recorded_at, id
    """
)
# PostgreSQL: each bucket's last priced sample of each (chain, token) is its price point.
PRICES = sa.text(
    """
    INSERT INTO price_points (chain, token_key, step_seconds, bucket, usd_price, priced_at)
    SELECT DISTINCT ON (chain, token_key, bucket)
           chain, token_key, :step, bucket, usd_price, recorded_at
    FROM (
        SELECT w.chain, h.token_key, h.usd_price, h.recorded_at, h.id,
               date_bin(make_interval(secs => :step), h.recorded_at - interval '1 microsecond',
                        timestamptz '1970-01-01 00:00:00+00') AS bucket
        FROM balance_history h JOIN wallets w ON w.id = h.wallet_id
        WHERE h.usd_price IS NOT NULL
    ) placed
    ORDER BY chain, token_key, bucket, recorded_at DESC, id DESC
    """
)

history = sa.table(
    "balance_history",
    sa.column("id", sa.Integer()),
    sa.column("wallet_id", sa.Uuid()),
    sa.column("token_key", sa.String()),
    sa.column("symbol", sa.String()),
    sa.column("decimals", sa.Integer()),
    sa.column("raw_balance", BASE_UNITS),
    sa.column("usd_price", USD),
    sa.column("usd_value", USD),
    sa.column("recorded_at", UTC_TIME),
)
changes = sa.table(
    "balance_changes",
    sa.column("id", sa.Integer()),
    sa.column("wallet_id", sa.Uuid()),
    sa.column("token_key", sa.String()),
    sa.column("symbol", sa.String()),
    sa.column("decimals", sa.Integer()),
    sa.column("raw_balance", BASE_UNITS),
    sa.column("delta", EXACT),
    sa.column("changed_at", UTC_TIME),
)
prices = sa.table(
    "price_points",
    sa.column("chain", sa.String()),
    sa.column("token_key", sa.String()),
    sa.column("step_seconds", sa.Integer()),
    sa.column("bucket", UTC_TIME),
    sa.column("usd_price", USD),
    sa.column("priced_at", UTC_TIME),
)
marks = sa.table(
    "history_marks",
    sa.column("wallet_id", sa.Uuid()),
    sa.column("token_key", sa.String()),
    sa.column("step_seconds", sa.Integer()),
    sa.column("bucket", UTC_TIME),
    sa.column("usd_value", USD),
    sa.column("recorded_at", UTC_TIME),
    sa.column("history_id", sa.Integer()),
)
wallets = sa.table("wallets", sa.column("id", sa.Uuid()), sa.column("chain", sa.String()))


def upgrade() -> None:
    _create_new_tables()
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.execute(CHANGES)
        for step in STEPS:
            bind.execute(PRICES, {"step": step})
    else:  # the embedded default: small, moved in Python
        _changes_in_python(bind)
        _prices_in_python(bind)
    op.drop_index("ix_history_marks_wallet_id_step_seconds_bucket", table_name="history_marks")
    op.drop_table("history_marks")
    op.drop_index("ix_balance_history_wallet_id_recorded_at", table_name="balance_history")
    op.drop_index(
        "ix_balance_history_wallet_id_token_key_recorded_at", table_name="balance_history"
    )
    op.drop_table("balance_history")
    with op.batch_alter_table("balances") as batch:
        batch.drop_column("usd_price")
        batch.drop_column("usd_value")


def _create_new_tables() -> None:
    op.create_table(
        "balance_changes",
        sa.Column("id", HistoryId, autoincrement=True, nullable=False),
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("token_key", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=True),
        sa.Column("decimals", sa.SmallInteger(), nullable=False),
        sa.Column("raw_balance", BASE_UNITS, nullable=False),
        sa.Column("delta", EXACT, nullable=False),
        sa.Column("changed_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name="fk_balance_changes_wallet_id_wallets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_balance_changes"),
    )
    op.create_index(
        "ix_balance_changes_wallet_id_token_key_changed_at",
        "balance_changes",
        ["wallet_id", "token_key", "changed_at"],
    )
    op.create_index(
        "ix_balance_changes_wallet_id_changed_at", "balance_changes", ["wallet_id", "changed_at"]
    )
    op.create_table(
        "price_points",
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("token_key", sa.String(64), nullable=False),
        sa.Column("step_seconds", sa.Integer(), nullable=False),
        sa.Column("bucket", UTC_TIME, nullable=False),
        sa.Column("usd_price", USD, nullable=False),
        sa.Column("priced_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint(
            "chain", "token_key", "step_seconds", "bucket", name="pk_price_points"
        ),
    )
    op.create_index(
        "ix_price_points_chain_token_key_priced_at",
        "price_points",
        ["chain", "token_key", "priced_at"],
    )
    op.create_table(
        "history_points",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("value", EXACT, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "chain", "at", name="pk_history_points"),
    )
    op.create_index(
        "ix_history_points_tenant_grain_at", "history_points", ["tenant", "grain", "at"]
    )
    op.create_table(
        "history_cursors",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("first_at", UTC_TIME, nullable=True),
        sa.Column("sealed_at", UTC_TIME, nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", name="pk_history_cursors"),
    )


def _amount(raw: object, decimals: int) -> Decimal:
    with localcontext() as context:
        context.prec = WIDE
        return Decimal(str(raw)).scaleb(-decimals)


def _batches(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _changes_in_python(bind: sa.Connection) -> None:
    def found() -> Iterator[dict[str, Any]]:
        previous: tuple[object, ...] | None = None
        last: tuple[int, int] = (0, 0)
        ordered = sa.select(history).order_by(
            history.c.wallet_id, history.c.token_key, history.c.recorded_at, history.c.id
        )
        for row in bind.execute(ordered):
            key = (row.wallet_id, row.token_key)
            raw = int(row.raw_balance)
            if key != previous:
                previous, last = key, (0, row.decimals)
                if raw == 0:
                    continue
            elif (raw, row.decimals) == last:
                continue
            with localcontext() as context:
                context.prec = WIDE
                delta = _amount(raw, row.decimals) - _amount(*last)
            last = (raw, row.decimals)
            yield {
                "wallet_id": row.wallet_id, "token_key": row.token_key, "symbol": row.symbol,
                "decimals": row.decimals, "raw_balance": str(raw), "delta": format(delta, "f"),
                "changed_at": row.recorded_at,
            }  # fmt: skip

    rows = sorted(found(), key=lambda r: r["changed_at"])  # ids in time order
    for batch in _batches(iter(rows)):
        bind.execute(sa.insert(changes), batch)


def _bucket(moment: datetime, step: int) -> datetime:
    """The bucket (s, s + step] holding a naive UTC time, naive."""
    width = timedelta(seconds=step)
    aware = moment.replace(tzinfo=UTC)
    return (EPOCH + ((aware - TICK - EPOCH) // width) * width).replace(tzinfo=None)


def _prices_in_python(bind: sa.Connection) -> None:
    latest: dict[tuple[object, ...], dict[str, Any]] = {}
    ordered = (
        sa.select(wallets.c.chain, history.c.token_key, history.c.usd_price, history.c.recorded_at)
        .join(wallets, wallets.c.id == history.c.wallet_id)
        .where(history.c.usd_price.is_not(None))
        .order_by(history.c.recorded_at, history.c.id)
    )
    for row in bind.execute(ordered):
        for step in STEPS:
            bucket = _bucket(row.recorded_at, step)
            latest[(row.chain, row.token_key, step, bucket)] = {
                "chain": row.chain, "token_key": row.token_key, "step_seconds": step,
                "bucket": bucket, "usd_price": row.usd_price, "priced_at": row.recorded_at,
            }  # fmt: skip
    for batch in _batches(iter(latest.values())):
        bind.execute(sa.insert(prices), batch)


def downgrade() -> None:
    """Back to samples: one per change, valued at the token's last price then, and their
    marks (in Python on both databases: a way back, not a daily path)."""
    with op.batch_alter_table("balances") as batch:
        batch.add_column(sa.Column("usd_price", USD, nullable=True))
        batch.add_column(sa.Column("usd_value", USD, nullable=True))
    op.create_table(
        "balance_history",
        sa.Column("id", HistoryId, autoincrement=True, nullable=False),
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("token_key", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=True),
        sa.Column("decimals", sa.SmallInteger(), nullable=False),
        sa.Column("raw_balance", BASE_UNITS, nullable=False),
        sa.Column("usd_price", USD, nullable=True),
        sa.Column("usd_value", USD, nullable=True),
        sa.Column("recorded_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name="fk_balance_history_wallet_id_wallets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_balance_history"),
    )
    op.create_index(
        "ix_balance_history_wallet_id_recorded_at", "balance_history", ["wallet_id", "recorded_at"]
    )
    op.create_index(
        "ix_balance_history_wallet_id_token_key_recorded_at",
        "balance_history",
        ["wallet_id", "token_key", "recorded_at"],
    )
    op.create_table(
        "history_marks",
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("token_key", sa.String(64), nullable=False),
        sa.Column("step_seconds", sa.Integer(), nullable=False),
        sa.Column("bucket", UTC_TIME, nullable=False),
        sa.Column("usd_value", USD, nullable=True),
        sa.Column("recorded_at", UTC_TIME, nullable=False),
        sa.Column("history_id", HistoryId, nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name="fk_history_marks_wallet_id_wallets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "wallet_id", "token_key", "step_seconds", "bucket", name="pk_history_marks"
        ),
    )
    op.create_index(
        "ix_history_marks_wallet_id_step_seconds_bucket",
        "history_marks",
        ["wallet_id", "step_seconds", "bucket"],
    )
    _samples_from_changes(op.get_bind())
    op.drop_table("history_cursors")
    op.drop_index("ix_history_points_tenant_grain_at", table_name="history_points")
    op.drop_table("history_points")
    op.drop_index("ix_price_points_chain_token_key_priced_at", table_name="price_points")
    op.drop_table("price_points")
    op.drop_index("ix_balance_changes_wallet_id_changed_at", table_name="balance_changes")
    op.drop_index("ix_balance_changes_wallet_id_token_key_changed_at", table_name="balance_changes")
    op.drop_table("balance_changes")


def _samples_from_changes(bind: sa.Connection) -> None:
    typed = bind.dialect.name != "sqlite"  # numbers and aware times as such
    series = _price_series(bind)
    ordered = (
        sa.select(changes, wallets.c.chain)
        .join(wallets, wallets.c.id == changes.c.wallet_id)
        .order_by(changes.c.changed_at, changes.c.id)
    )
    samples = []
    for row in bind.execute(ordered):
        known = series.get((row.chain, row.token_key), [])
        index = bisect.bisect_right(known, _naive(row.changed_at), key=lambda seen: seen[0])
        price = known[index - 1][1] if index else None
        raw = int(Decimal(str(row.raw_balance)))
        value = None if price is None else _value(raw, row.decimals, price)
        sample = {"wallet_id": row.wallet_id, "token_key": row.token_key, "symbol": row.symbol,
                  "decimals": row.decimals, "raw_balance": Decimal(raw), "usd_price": price,
                  "usd_value": value, "recorded_at": row.changed_at}  # fmt: skip
        if not typed:
            sample |= {c: None if sample[c] is None else str(sample[c])
                       for c in ("raw_balance", "usd_price", "usd_value")}  # fmt: skip
        samples.append(sample)
    for batch in _batches(iter(samples)):
        bind.execute(sa.insert(history), batch)
    for batch in _batches(iter(_marks(bind, typed))):
        bind.execute(sa.insert(marks), batch)


def _price_series(bind: sa.Connection) -> dict[tuple[str, str], list[tuple[datetime, Decimal]]]:
    series: dict[tuple[str, str], list[tuple[datetime, Decimal]]] = {}
    ordered = sa.select(
        prices.c.chain, prices.c.token_key, prices.c.priced_at, prices.c.usd_price
    ).order_by(prices.c.priced_at)
    for row in bind.execute(ordered):
        series.setdefault((row.chain, row.token_key), []).append(
            (_naive(row.priced_at), Decimal(str(row.usd_price)))
        )
    return series


def _value(raw: int, decimals: int, price: Decimal) -> Decimal:
    with localcontext() as context:
        context.prec = WIDE
        return (_amount(raw, decimals) * price).quantize(Decimal("1E-18"))


def _marks(bind: sa.Connection, typed: bool) -> list[dict[str, Any]]:
    found: dict[tuple[object, ...], dict[str, Any]] = {}
    for row in bind.execute(sa.select(history).order_by(history.c.recorded_at, history.c.id)):
        for step in STEPS:
            bucket = _bucket(_naive(row.recorded_at), step)
            if typed:
                bucket = bucket.replace(tzinfo=UTC)
            found[(row.wallet_id, row.token_key, step, bucket)] = {
                "wallet_id": row.wallet_id, "token_key": row.token_key, "step_seconds": step,
                "bucket": bucket, "usd_value": row.usd_value, "recorded_at": row.recorded_at,
                "history_id": row.id,
            }  # fmt: skip
    return list(found.values())


def _naive(moment: datetime) -> datetime:
    """A naive UTC time, as SQLite keeps them and PostgreSQL's aware ones become."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
