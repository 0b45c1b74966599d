"""Through which force a delivery reached its resident (deliveries.via_force_id): the
neighbouring force whose approval of a cross-border alert wrote it, NULL for the
alert's own force. A resident may stop hearing from one force and keep another; the
alert's updates, its all-clear and a send-again follow the force that reached them.
Rows written before this are read as the alert's own force's.

Revision ID: 0056
Revises: 0055
"""

import sqlalchemy as sa
from alembic import op

revision = "0056"
down_revision = "0055"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: a change to the catalogue only, however many rows. No
    # foreign key: the ledger has none row by row (migration 0033: they cost half a
    # force-wide alert's write), and forces are never deleted.
    op.add_column("deliveries", sa.Column("via_force_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("deliveries", "via_force_id")
