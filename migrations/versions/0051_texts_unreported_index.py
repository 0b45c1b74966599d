"""Texts Twilio took whose delivery it never reported (status "sent"), by when they
went: the sweeper asks Twilio about each (outbound.ask_about_unreported_texts), since
a status callback refused while the database was away is never sent again, and the
text stayed "sent" (an outside check). Partial: most texts are "delivered" or
"failed" within minutes, so the index stays small.

Built without blocking the ledgers' writes (an upgrade runs while alerts go out,
docs/deploy.md): CONCURRENTLY on resident_notices and on each monthly partition of
deliveries, each then attached to the partitioned table's index, which PostgreSQL
cannot build concurrently itself (a plain CREATE INDEX there blocked every claim,
record and callback until it was built: a review).

Revision ID: 0051
Revises: 0050
"""

import sqlalchemy as sa
from alembic import op

revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None

WHERE = "WHERE status = 'sent' AND channel = 'sms'"
DELIVERIES = "ix_deliveries_texts_unreported"
NOTICES = "ix_resident_notices_texts_unreported"


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
            index = f"{partition}_texts_unreported"[:63]
            op.execute(
                f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{index}" '
                f'ON "{partition}" (sent_at) {WHERE}'
            )
            op.execute(f'ALTER INDEX {DELIVERIES} ATTACH PARTITION "{index}"')


def downgrade() -> None:
    op.drop_index(NOTICES, table_name="resident_notices")
    op.drop_index(DELIVERIES, table_name="deliveries")  # its partitions' go with it
