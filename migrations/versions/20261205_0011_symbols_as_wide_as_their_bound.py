"""Symbols as wide as the one bound on text read from chains and lists (64 characters, as
tracked tokens already had): a current balance's and a history row's symbol were 32, so a
longer symbol failed the whole transaction that recorded every wallet at its address.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("balances", "balance_history")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "symbol", type_=sa.String(64), existing_type=sa.String(32), existing_nullable=True
            )


def downgrade() -> None:
    # Symbols longer than 32 characters are cut to fit again.
    for table in TABLES:
        op.execute(sa.text(f"UPDATE {table} SET symbol = substr(symbol, 1, 32)"))  # noqa: S608
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "symbol", type_=sa.String(32), existing_type=sa.String(64), existing_nullable=True
            )
