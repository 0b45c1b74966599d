"""When a ledger row was first refused for now, or held back by a provider's wait
(deliveries.first_refused_at, resident_notices.first_refused_at): the retry window
(DELIVERY_RETRY_WINDOW_SECONDS) is timed from then, not from the row's first attempt.
Timed from the first attempt, the time a message waited in the queue behind the rest of
a large alert counted as time refused, and one brief 429 failed most of an alert's
backlog at once, never sent (an outside check: 1,519 of 1,635 texts in 12 s). Rows
refused before this have none, and are timed from their first attempt, as before.

Revision ID: 0060
Revises: 0059
"""

import sqlalchemy as sa
from alembic import op

revision = "0060"
down_revision = "0059"
branch_labels = None
depends_on = None

TABLES = ("deliveries", "resident_notices")


def upgrade() -> None:
    # Nullable, no default: a change to the catalogue only, however many rows.
    for table in TABLES:
        op.add_column(table, sa.Column("first_refused_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "first_refused_at")
