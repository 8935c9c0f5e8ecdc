"""History marks: the last sample of each (wallet, token) per 5-minute, hourly and daily bucket,
so history queries read marks instead of every sample. Existing history is marked here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

from portfolio.adapters.db.marks import bucket_of, mark_postgres_history
from portfolio.adapters.db.types import ExactDecimal, UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HistoryId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STEPS = (300, 3600, 86400)


def upgrade() -> None:
    op.create_table(
        "history_marks",
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("token_key", sa.String(64), nullable=False),
        sa.Column("step_seconds", sa.Integer(), nullable=False),
        sa.Column("bucket", UtcDateTime(), nullable=False),
        sa.Column("usd_value", ExactDecimal(), nullable=True),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
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
        mark_postgres_history(bind)
    else:  # the embedded default: small, marked in Python
        _backfill_in_python(bind)


def _backfill_in_python(bind: sa.Connection) -> None:
    history = sa.table(
        "balance_history",
        sa.column("id", sa.Integer()),
        sa.column("wallet_id", sa.Uuid()),
        sa.column("token_key", sa.String()),
        sa.column("usd_value", ExactDecimal()),
        sa.column("recorded_at", UtcDateTime()),
    )
    marks: dict[tuple[object, ...], dict[str, object]] = {}
    rows = bind.execute(sa.select(history).order_by(history.c.recorded_at, history.c.id))
    for row in rows:
        for step in STEPS:
            bucket = bucket_of(row.recorded_at, timedelta(seconds=step))
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
            sa.column("bucket", UtcDateTime()),
            sa.column("usd_value", ExactDecimal()),
            sa.column("recorded_at", UtcDateTime()),
            sa.column("history_id", sa.Integer()),
        )
        bind.execute(sa.insert(table), list(marks.values()))


def downgrade() -> None:
    op.drop_index("ix_history_marks_step_seconds_bucket", table_name="history_marks")
    op.drop_table("history_marks")
