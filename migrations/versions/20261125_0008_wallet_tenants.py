"""Tenants: every wallet belongs to one (existing wallets to "default", so an upgrade loses
nothing). A wallet is unique per tenant, so two tenants may track one address.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("wallets") as batch:
        batch.add_column(
            sa.Column("tenant", sa.String(64), server_default="default", nullable=False)
        )
        batch.drop_constraint("uq_wallets_chain_address", type_="unique")
        batch.create_unique_constraint(
            "uq_wallets_tenant_chain_address", ["tenant", "chain", "address"]
        )
        batch.drop_index("ix_wallets_created_at_id")
        batch.create_index("ix_wallets_tenant_created_at_id", ["tenant", "created_at", "id"])
        batch.create_index("ix_wallets_chain_address", ["chain", "address"])


def downgrade() -> None:
    # Going back to one wallet per address keeps the oldest of each (the others go, with
    # their balances and history).
    op.execute(
        """
        DELETE FROM wallets WHERE EXISTS (
            SELECT 1 FROM wallets older
            WHERE older.chain = wallets.chain AND older.address = wallets.address
              AND (older.created_at < wallets.created_at
                   OR (older.created_at = wallets.created_at AND older.id < wallets.id))
        )
        """
    )
    with op.batch_alter_table("wallets") as batch:
        batch.drop_index("ix_wallets_chain_address")
        batch.drop_index("ix_wallets_tenant_created_at_id")
        batch.create_index("ix_wallets_created_at_id", ["created_at", "id"])
        batch.drop_constraint("uq_wallets_tenant_chain_address", type_="unique")
        batch.create_unique_constraint("uq_wallets_chain_address", ["chain", "address"])
        batch.drop_column("tenant")
