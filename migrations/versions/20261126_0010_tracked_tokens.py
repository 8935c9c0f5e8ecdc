"""Tracked tokens: a token a tenant added by its address (on no token list), with its decimals,
symbol and name as read from the chain; its balance is read for the tenant's wallets.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tracked_tokens",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("token_key", sa.String(64), primary_key=True),
        sa.Column("symbol", sa.String(64), nullable=True),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("decimals", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tracked_tokens")
