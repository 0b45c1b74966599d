"""Numbers that texted STOP, kept by themselves: a number nobody holds whose first
text was STOP had no earlier message to carry it (0065), and its next message was
answered. Keyed with SECRET_KEY (optout.number_key), not the number itself.

Revision ID: 0067
Revises: 0066
"""

import sqlalchemy as sa
from alembic import op

revision = "0067"
down_revision = "0066"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stopped_numbers",
        sa.Column("number_key", sa.Text(), primary_key=True),
        sa.Column(
            "stopped_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("stopped_numbers")
