"""When a ledger row was first tried (deliveries.first_attempted_at,
resident_notices.first_attempted_at): a message the provider refuses for now is tried
again until DELIVERY_MAX_ATTEMPTS are spent and DELIVERY_RETRY_WINDOW_SECONDS have
passed since then, not only until the attempts are spent. Twelve attempts spanned
about two and a half minutes, and a provider's outage longer than that failed an
alert's texts for good.

Revision ID: 0054
Revises: 0053
"""

import sqlalchemy as sa
from alembic import op

revision = "0054"
down_revision = "0053"
branch_labels = None
depends_on = None

TABLES = ("deliveries", "resident_notices")


def upgrade() -> None:
    # Nullable, no default: a change to the catalogue only, however many rows. A row
    # tried before this has none, and is timed from when it was made.
    for table in TABLES:
        op.add_column(table, sa.Column("first_attempted_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "first_attempted_at")
