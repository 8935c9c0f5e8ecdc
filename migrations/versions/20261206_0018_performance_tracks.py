"""Performance tracks: each token's and wallet's value, flows and flags at every daily boundary
(``performance_tracks``, 288 boundaries a row) up to a cursor (``performance_cursors``), so a
year's performance reads a few hundred rows instead of every change. A cache of what the changes
and prices give: computed as tenants ask or by the upkeep.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "performance_tracks",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("start", UTC_TIME, nullable=False),
        sa.Column("track", sa.String(128), nullable=False),
        sa.Column("track_values", sa.Text(), nullable=False),
        sa.Column("inflows", sa.Text(), nullable=False),
        sa.Column("outflows", sa.Text(), nullable=False),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("chained", sa.Text(), nullable=False),
        sa.Column("inflow_sums", sa.Text(), nullable=False),
        sa.Column("outflow_sums", sa.Text(), nullable=False),
        sa.Column("levels", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "step", "start", "track", name="pk_performance_tracks"),
    )
    op.create_table(
        "performance_cursors",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("first_at", UTC_TIME, nullable=True),
        sa.Column("kept_at", UTC_TIME, nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "step", name="pk_performance_cursors"),
    )


def downgrade() -> None:
    op.drop_table("performance_cursors")
    op.drop_table("performance_tracks")
