"""History points kept by span: ``history_spans`` (a tenant's value on a chain at 288
consecutive boundaries of 5 minutes, an hour or a day, in one row) replaces ``history_points``
(a row a point), so a window of ten thousand points reads tens of rows. Points are a cache of
what the changes and prices give: they are not converted but computed again (the cursors go),
as tenants ask or by the upkeep.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)
EXACT = sa.Numeric().with_variant(sa.String(), "sqlite")


def upgrade() -> None:
    op.execute("DELETE FROM history_cursors")
    op.drop_index("ix_history_points_tenant_grain_at", table_name="history_points")
    op.drop_table("history_points")
    op.create_table(
        "history_spans",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("start", UTC_TIME, nullable=False),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("points", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "step", "start", "chain", name="pk_history_spans"),
    )
    op.create_index("ix_history_spans_step_start", "history_spans", ["step", "start"])


def downgrade() -> None:
    op.execute("DELETE FROM history_cursors")
    op.drop_index("ix_history_spans_step_start", table_name="history_spans")
    op.drop_table("history_spans")
    op.create_table(
        "history_points",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("chain", sa.String(32), nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("grain", sa.Integer(), nullable=False),
        sa.Column("value", EXACT, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "chain", "at", name="pk_history_points"),
    )
    op.create_index(
        "ix_history_points_tenant_grain_at", "history_points", ["tenant", "grain", "at"]
    )
