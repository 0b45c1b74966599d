"""Refused notices by their address: the confirm page reads whether the code or link
just sent to a number or address was refused as the address's own (not in use, not a
mobile, no such mailbox), whoever holds it. Only refused notices are in the index, few
beside the rest.

Revision ID: 0071
Revises: 0070
"""

import sqlalchemy as sa
from alembic import op

revision = "0071"
down_revision = "0070"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_resident_notices_failed_to",
        "resident_notices",
        ["address", "channel"],
        postgresql_where=sa.text("status = 'failed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_resident_notices_failed_to", table_name="resident_notices")
