"""A confirmed way to reach a resident keeps getting alerts while its new address waits
to be proved (resident_channels.pending_address): changing a confirmed e-mail address
or number used to stop alerts to it at once, and a typo left the resident with none.

Revision ID: 0043
Revises: 0042
"""

import sqlalchemy as sa
from alembic import op

revision = "0043"
down_revision = "0042"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("resident_channels", sa.Column("pending_address", sa.String(254)))


def downgrade() -> None:
    op.drop_column("resident_channels", "pending_address")
