"""The language an alert's title and message are written in: "en", or "cy" for an
alert an officer wrote in Welsh only (title_cy and body_cy hold the Welsh of an alert
written in both).

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "alerts", sa.Column("language", sa.String(2), nullable=False, server_default="en")
    )
    op.execute(
        "ALTER TABLE alerts ADD CONSTRAINT ck_alerts_language_known "
        "CHECK (language IN ('en', 'cy'))"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE alerts DROP CONSTRAINT ck_alerts_language_known")
    op.drop_column("alerts", "language")
