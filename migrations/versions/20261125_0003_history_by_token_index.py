"""An index for portfolio history: the samples of each (wallet, token) in time order.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_balance_history_wallet_id_token_key_recorded_at",
        "balance_history",
        ["wallet_id", "token_key", "recorded_at"],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_balance_history_wallet_id_token_key_recorded_at", table_name="balance_history"
    )
