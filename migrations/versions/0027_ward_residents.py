"""Confirmed residents per ward and district, counted ahead for the penetration page
and the briefing map (app/dao/figures.py): '' where neither the postcode directory
nor a boundary places them.

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ward_residents",
        sa.Column("ward_code", sa.String(20), nullable=False),
        sa.Column("district_code", sa.String(20), nullable=False),
        sa.Column("residents", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("ward_code", "district_code"),
    )


def downgrade() -> None:
    op.drop_table("ward_residents")
