"""A wallet's exact figures at each kept daily boundary (its value, its flows summed since its
track began, its time-weighted index) in a row of their own (``performance_cells``), instead of
comma-separated in the track's rows: a window reads the few it needs by their key, where
picking cells out of a row's text read the whole text (compressed, a few kilobytes a column).
The tracks and their cursors are dropped: computed again (as tenants ask or by the upkeep).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVED = ("chained", "inflow_sums", "outflow_sums")


def upgrade() -> None:
    op.execute("DELETE FROM performance_cursors")
    op.execute("DELETE FROM performance_tracks")
    op.create_table(
        "performance_cells",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("track", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("inflow_sum", sa.Text(), nullable=False),
        sa.Column("outflow_sum", sa.Text(), nullable=False),
        sa.Column("chained", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "step", "track", "at", name="pk_performance_cells"),
    )
    with op.batch_alter_table("performance_tracks") as batch:
        for name in MOVED:
            batch.drop_column(name)


def downgrade() -> None:
    op.execute("DELETE FROM performance_cursors")
    op.execute("DELETE FROM performance_tracks")
    with op.batch_alter_table("performance_tracks") as batch:
        for name in MOVED:
            batch.add_column(sa.Column(name, sa.Text(), nullable=False, server_default=""))
    op.drop_table("performance_cells")
