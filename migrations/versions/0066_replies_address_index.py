"""Replies by their number: each text from a number reads whether it texted STOP
(0065), and STOP and START write it; without an index each read the whole table, on
the path of every inbound text.

Revision ID: 0066
Revises: 0065
"""

from alembic import op

revision = "0066"
down_revision = "0065"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_replies_address", "replies", ["address"])


def downgrade() -> None:
    op.drop_index("ix_replies_address", table_name="replies")
