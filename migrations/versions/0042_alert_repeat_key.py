"""An alert remembers a key of what its officer sent (alerts.repeat_key), so the same
alert sent again moments later (a double tap, a retry after the signal dropped, two
tabs) is recognised and not sent twice: the officer gets the first one back.

Revision ID: 0042
Revises: 0041
"""

import sqlalchemy as sa
from alembic import op

revision = "0042"
down_revision = "0041"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("repeat_key", sa.String(64)))
    op.create_index(
        "ix_alerts_created_by_id_repeat_key",
        "alerts",
        ["created_by_id", "repeat_key"],
        postgresql_where=sa.text("repeat_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_alerts_created_by_id_repeat_key", table_name="alerts")
    op.drop_column("alerts", "repeat_key")
