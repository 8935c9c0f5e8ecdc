"""When each wallet was last read from its chain; whether a stored token is in the token list.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Column types as this revision created them, written out here: a migration that ran must
# not change when the application's types do (exact numbers are text on SQLite).
UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("wallets") as batch:
        batch.add_column(sa.Column("last_fetched_at", UTC_TIME, nullable=True))
    with op.batch_alter_table("balances") as batch:
        batch.add_column(
            sa.Column("verified", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("balances") as batch:
        batch.drop_column("verified")
    with op.batch_alter_table("wallets") as batch:
        batch.drop_column("last_fetched_at")
