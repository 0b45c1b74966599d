"""Registrations and confirmations per UK day, counted ahead for the analysts' time
line (app/dao/figures.py): the day's total (dimension '') and its count per channel,
group and source, including residents who have since left (their leaving event keeps
the days).

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resident_days",
        sa.Column("kind", sa.String(12), nullable=False),  # registered, confirmed
        sa.Column("dimension", sa.String(10), nullable=False),  # '', channel, group, source
        sa.Column("value", sa.String(80), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("kind", "dimension", "value", "day"),
    )


def downgrade() -> None:
    op.drop_table("resident_days")
