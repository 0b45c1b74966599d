"""An alert's public page can be taken down (a missing person found: their name and
description stayed public for good, in the pages, the feeds and CAP): when, and by
whom (none: by its missing-person all-clear).

Revision ID: 0069
Revises: 0068
"""

import sqlalchemy as sa
from alembic import op

revision = "0069"
down_revision = "0068"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("taken_down_at", sa.DateTime(timezone=True)))
    op.add_column(
        "alerts",
        sa.Column("taken_down_by_id", sa.Integer, sa.ForeignKey("officers.id"), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("alerts", "taken_down_by_id")
    op.drop_column("alerts", "taken_down_at")
