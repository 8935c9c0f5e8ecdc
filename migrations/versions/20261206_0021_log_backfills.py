"""The addresses whose Transfer logs were scanned back (``PORTFOLIO_LOG_BACKFILL_BLOCKS``) on
each chain: a wallet added after a chain's first scan is scanned back once, by its address.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "log_backfills",
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),  # the first block scanned
        sa.PrimaryKeyConstraint("chain", "address", name="pk_log_backfills"),
    )


def downgrade() -> None:
    op.drop_table("log_backfills")
