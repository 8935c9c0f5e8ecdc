"""Why a wallet's last fetch failed, and the tokens its last read missed, kept on the wallet
row (not only in the cache, where an eviction loses them).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("wallets") as batch:
        batch.add_column(sa.Column("last_error", sa.String(1000), nullable=True))
        batch.add_column(sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("token_failures", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wallets") as batch:
        batch.drop_column("token_failures")
        batch.drop_column("last_error_at")
        batch.drop_column("last_error")
