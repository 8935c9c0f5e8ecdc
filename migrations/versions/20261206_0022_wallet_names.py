"""ENS names on wallets: ``name``, the name a wallet was added by; ``ens_name``, its address's
primary name (reverse record, verified forward) as last read, and ``ens_checked_at``, when.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("wallets") as table:
        table.add_column(sa.Column("name", sa.String(255), nullable=True))
        table.add_column(sa.Column("ens_name", sa.String(255), nullable=True))
        table.add_column(sa.Column("ens_checked_at", sa.DateTime(timezone=True), nullable=True))
        table.create_index("ix_wallets_ens_checked_at", ["ens_checked_at"])


def downgrade() -> None:
    with op.batch_alter_table("wallets") as table:
        table.drop_index("ix_wallets_ens_checked_at")
        table.drop_column("ens_checked_at")
        table.drop_column("ens_name")
        table.drop_column("name")
