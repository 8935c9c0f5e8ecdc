"""History marks by wallet, step and bucket: a tenant's history reads its own wallets' marks of
the window by this index, never every tenant's marks of the window. It replaces the index by
step and bucket, which led the planner to read every tenant's marks of the window (and which
nothing else read).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_history_marks_wallet_id_step_seconds_bucket"
OLD_INDEX = "ix_history_marks_step_seconds_bucket"


def upgrade() -> None:
    op.create_index(INDEX, "history_marks", ["wallet_id", "step_seconds", "bucket"])
    op.drop_index(OLD_INDEX, table_name="history_marks")


def downgrade() -> None:
    op.create_index(OLD_INDEX, "history_marks", ["step_seconds", "bucket"])
    op.drop_index(INDEX, table_name="history_marks")
