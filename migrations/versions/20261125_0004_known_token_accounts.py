"""Solana token accounts found by discovery, and when each wallet was last discovered.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Column types as this revision created them, written out here: a migration that ran must
# not change when the application's types do (exact numbers are text on SQLite).
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "token_accounts",
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("mint", sa.String(64), nullable=False),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("decimals", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name="fk_token_accounts_wallet_id_wallets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("wallet_id", "address", name="pk_token_accounts"),
    )
    with op.batch_alter_table("wallets") as batch:
        batch.add_column(sa.Column("accounts_discovered_at", UTC_TIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wallets") as batch:
        batch.drop_column("accounts_discovered_at")
    op.drop_table("token_accounts")
