"""Calls Twilio placed whose end it never reported (status "sent"), by when they went:
the sweeper asks Twilio about each (outbound.ask_about_unreported_calls), as it does
of texts (0051). Without VOICE_LINES nothing asked, and a call whose callbacks were
lost stayed "sent" for good (an outside check: 120 calls). Partial, and built without
blocking the ledgers' writes, as 0051's.

Revision ID: 0062
Revises: 0061
"""

import sqlalchemy as sa
from alembic import op

revision = "0062"
down_revision = "0061"
branch_labels = None
depends_on = None

WHERE = "WHERE status = 'sent' AND channel = 'voice'"
DELIVERIES = "ix_deliveries_calls_unreported"
NOTICES = "ix_resident_notices_calls_unreported"


def upgrade() -> None:
    bind = op.get_bind()
    with op.get_context().autocommit_block():
        op.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NOTICES} "
            f"ON resident_notices (sent_at) {WHERE}"
        )
        op.execute(f"CREATE INDEX IF NOT EXISTS {DELIVERIES} ON ONLY deliveries (sent_at) {WHERE}")
        partitions = bind.execute(
            sa.text(
                "SELECT c.relname FROM pg_inherits i"
                " JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'deliveries'::regclass ORDER BY c.relname"
            )
        ).scalars()
        for partition in list(partitions):
            index = f"{partition}_calls_unreported"[:63]
            op.execute(
                f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{index}" '
                f'ON "{partition}" (sent_at) {WHERE}'
            )
            op.execute(f'ALTER INDEX {DELIVERIES} ATTACH PARTITION "{index}"')


def downgrade() -> None:
    op.drop_index(NOTICES, table_name="resident_notices")
    op.drop_index(DELIVERIES, table_name="deliveries")  # its partitions' go with it
