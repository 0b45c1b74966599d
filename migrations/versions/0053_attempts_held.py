"""How many of a ledger row's attempts were held back, never tried
(deliveries.attempts_held, resident_notices.attempts_held): a send the provider had
asked us to wait for (Retry-After) is handed back at once, and is not counted against
DELIVERY_MAX_ATTEMPTS. Counted, steady 429s with Retry-After used up a sixth of an
alert's texts' twelve attempts without a request, and failed them (an outside check).
`attempts` itself still only goes up: with the claim's attempt it tells one claim of a
row from another (a live job's from a later one's, a voice line's name), which giving
an attempt back would have reused (a review).

Revision ID: 0053
Revises: 0052
"""

import sqlalchemy as sa
from alembic import op

revision = "0053"
down_revision = "0052"
branch_labels = None
depends_on = None

TABLES = ("deliveries", "resident_notices")


def upgrade() -> None:
    # A constant default: a change to the catalogue only, however many rows (and the
    # monthly partitions of deliveries take it from their parent).
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("attempts_held", sa.Integer(), nullable=False, server_default="0"),
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "attempts_held")
