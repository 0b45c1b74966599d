"""Drop the deliveries' index on address (0012): every alert's fan-out paid for it,
about a second at 160,000 deliveries. Replies and STOP find their deliveries through
the alerts still in play and the residents holding the number instead (the channels'
address index, 0013, and the deliveries' unique index).

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_deliveries_address", "deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_address", "deliveries", ["address"])
