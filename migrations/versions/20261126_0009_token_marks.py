"""Token marks: a tenant's word on a token, trusted (counted though on no list) or spam (never
counted, hidden unless asked).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "token_marks",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("chain", sa.String(32), primary_key=True),
        sa.Column("token_key", sa.String(64), primary_key=True),
        sa.Column("mark", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("token_marks")
