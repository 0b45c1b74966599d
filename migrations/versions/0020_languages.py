"""English and Welsh (issue 15): the language a resident reads (their pages and the
notices we send them), and an alert's Welsh title and message.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "residents",
        sa.Column("language", sa.String(2), nullable=False, server_default="en"),
    )
    op.create_check_constraint("language_known", "residents", "language IN ('en', 'cy')")
    op.add_column("alerts", sa.Column("title_cy", sa.String(120)))
    op.add_column("alerts", sa.Column("body_cy", sa.Text()))


def downgrade() -> None:
    op.drop_column("alerts", "body_cy")
    op.drop_column("alerts", "title_cy")
    op.drop_constraint(op.f("ck_residents_language_known"), "residents", type_="check")
    op.drop_column("residents", "language")
