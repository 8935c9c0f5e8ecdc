"""Tokens on no list, found in ERC-20 Transfer logs: how far each chain's logs were scanned
(``log_cursors``), what each contract found is (``found_contracts``: an ERC-20's decimals,
symbol and name, or no token at all, remembered so it is read once) and which wallet received
which (``found_tokens``, deleted with the wallet).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "log_cursors",
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("chain", name="pk_log_cursors"),
    )
    op.create_table(
        "found_contracts",
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("decimals", sa.SmallInteger(), nullable=True),  # NULL: no token
        sa.Column("symbol", sa.String(64), nullable=True),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("checked_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("chain", "address", name="pk_found_contracts"),
    )
    op.create_table(
        "found_tokens",
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("address", sa.String(64), nullable=False),
        sa.Column("block", sa.BigInteger(), nullable=False),
        sa.Column("found_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name="fk_found_tokens_wallet_id_wallets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("wallet_id", "address", name="pk_found_tokens"),
    )


def downgrade() -> None:
    op.drop_table("found_tokens")
    op.drop_table("found_contracts")
    op.drop_table("log_cursors")
