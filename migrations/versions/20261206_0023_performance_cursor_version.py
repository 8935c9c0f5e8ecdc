"""A version on each performance cursor, new at every write of the cursor or its tracks: a
reader that holds what it read of the tracks (adapters/db/performance.py) knows it is still
what is kept while the version is the same.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("performance_cursors") as table:
        table.add_column(sa.Column("version", sa.String(32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("performance_cursors") as table:
        table.drop_column("version")
