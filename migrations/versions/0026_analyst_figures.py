"""Precomputed figures for the analysts' pages, so each page answers in well under a
second at force scale (1,000,000 residents): a table of when each figure set was last
counted (the pages say how fresh their figures are), and the density squares: confirmed
residents per national-grid square, for everyone, per channel and per interest group.

The sweeper recounts each set every ANALYST_REFRESH_SECONDS; a page whose set is older
than ANALYST_MAX_AGE_SECONDS recounts it first (see app/services/figures.py).

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "figure_refreshes",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("took_ms", sa.Integer, nullable=False),
    )
    op.create_table(
        "density_squares",
        sa.Column("cell_m", sa.Integer, nullable=False),
        # '' for everyone; 'channel' or 'group' with the channel or the group's slug.
        sa.Column("filter_kind", sa.String(10), nullable=False),
        sa.Column("filter_value", sa.String(80), nullable=False),
        sa.Column("i", sa.Integer, nullable=False),
        sa.Column("j", sa.Integer, nullable=False),
        sa.Column("residents", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("cell_m", "filter_kind", "filter_value", "i", "j"),
    )


def downgrade() -> None:
    op.drop_table("density_squares")
    op.drop_table("figure_refreshes")
