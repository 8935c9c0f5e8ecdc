"""History marks: the last sample of each (wallet, token) per 5-minute, hourly and daily bucket,
so history queries read marks instead of every sample. Existing history is marked here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HistoryId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STEPS = (300, 3600, 86400)

# What this revision did, written out here rather than imported, so that it stays what ran:
# column types, the bucket rule (a sample at t belongs to the bucket (s, s + step]) and the
# PostgreSQL statement that marks every stored sample.
UTC_TIME = sa.DateTime(timezone=True)
USD = sa.Numeric(48, 18).with_variant(sa.String(64), "sqlite")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)
MARK_ALL = sa.text(
    """
    INSERT INTO history_marks (wallet_id, token_key, step_seconds, bucket, usd_value,
                               recorded_at, history_id)
    SELECT DISTINCT ON (wallet_id, token_key, bucket)
           wallet_id, token_key, :step, bucket, usd_value, recorded_at, id
    FROM (
        SELECT h.*, date_bin(make_interval(secs => :step),
                             h.recorded_at - interval '1 microsecond',
                             timestamptz '1970-01-01 00:00:00+00') AS bucket
        FROM balance_history h
    ) placed
    ORDER BY wallet_id, token_key, bucket, recorded_at DESC, id DESC
    ON CONFLICT (wallet_id, token_key, step_seconds, bucket) DO NOTHING
    """
)


def upgrade() -> None:
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
        "ix_history_marks_step_seconds_bucket", "history_marks", ["step_seconds", "bucket"]
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for step in STEPS:
            bind.execute(MARK_ALL, {"step": step})
    else:  # the embedded default: small, marked in Python
        _backfill_in_python(bind)


def _backfill_in_python(bind: sa.Connection) -> None:
    history = sa.table(
        "balance_history",
        sa.column("id", sa.Integer()),
        sa.column("wallet_id", sa.Uuid()),
        sa.column("token_key", sa.String()),
        sa.column("usd_value", sa.String()),
        sa.column("recorded_at", sa.DateTime()),
    )
    marks: dict[tuple[object, ...], dict[str, object]] = {}
    rows = bind.execute(sa.select(history).order_by(history.c.recorded_at, history.c.id))
    for row in rows:
        for step in STEPS:
            moment = row.recorded_at.replace(tzinfo=UTC)  # SQLite keeps naive UTC times
            width = timedelta(seconds=step)
            start = EPOCH + ((moment - TICK - EPOCH) // width) * width
            bucket = start.replace(tzinfo=None)
            marks[(row.wallet_id, row.token_key, step, bucket)] = {
                "wallet_id": row.wallet_id, "token_key": row.token_key, "step_seconds": step,
                "bucket": bucket, "usd_value": row.usd_value, "recorded_at": row.recorded_at,
                "history_id": row.id,
            }  # fmt: skip
    if marks:
        table = sa.table(
            "history_marks",
            sa.column("wallet_id", sa.Uuid()),
            sa.column("token_key", sa.String()),
            sa.column("step_seconds", sa.Integer()),
            sa.column("bucket", sa.DateTime()),
            sa.column("usd_value", sa.String()),
            sa.column("recorded_at", sa.DateTime()),
            sa.column("history_id", sa.Integer()),
        )
        bind.execute(sa.insert(table), list(marks.values()))


def downgrade() -> None:
    op.drop_index("ix_history_marks_step_seconds_bucket", table_name="history_marks")
    op.drop_table("history_marks")
