"""Wallets, their current balances and balance history.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Column types as this revision created them, written out here: a migration that ran must
# not change when the application's types do (exact numbers are text on SQLite).
UTC_TIME = sa.DateTime(timezone=True)
BASE_UNITS = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")
USD = sa.Numeric(48, 18).with_variant(sa.String(64), "sqlite")

HistoryId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "wallets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("label", sa.String(100), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_wallets"),
        sa.UniqueConstraint("chain", "address", name="uq_wallets_chain_address"),
    )
    op.create_index("ix_wallets_created_at_id", "wallets", ["created_at", "id"])
    op.create_table(
        "balances",
        sa.Column("id", HistoryId, autoincrement=True, nullable=False),
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("token_key", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=True),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("decimals", sa.SmallInteger(), nullable=False),
        sa.Column("raw_balance", BASE_UNITS, nullable=False),
        sa.Column("usd_price", USD, nullable=True),
        sa.Column("usd_value", USD, nullable=True),
        sa.Column("fetched_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name="fk_balances_wallet_id_wallets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_balances"),
        sa.UniqueConstraint("wallet_id", "token_key", name="uq_balances_wallet_id_token_key"),
    )
    op.create_table(
        "balance_history",
        sa.Column("id", HistoryId, autoincrement=True, nullable=False),
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("token_key", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=True),
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
        "ix_balance_history_wallet_id_recorded_at",
        "balance_history",
        ["wallet_id", "recorded_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_balance_history_wallet_id_recorded_at", table_name="balance_history")
    op.drop_table("balance_history")
    op.drop_table("balances")
    op.drop_index("ix_wallets_created_at_id", table_name="wallets")
    op.drop_table("wallets")
