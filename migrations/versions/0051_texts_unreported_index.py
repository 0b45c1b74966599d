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
        _build(
            bind,
            NOTICES,
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NOTICES} "
            f"ON resident_notices (sent_at) {WHERE}",
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
            _build(
                bind,
                index,
                f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{index}" '
                f'ON "{partition}" (sent_at) {WHERE}',
            )
            op.execute(f'ALTER INDEX {DELIVERIES} ATTACH PARTITION "{index}"')
        _check_valid(bind, DELIVERIES)  # valid once every partition's is attached


def _build(bind, name: str, create: str) -> None:
    """Run `create` (CREATE INDEX CONCURRENTLY IF NOT EXISTS name ...), first taking
    away an index of that name an interrupted build left invalid, then checking it is
    valid. An upgrade killed mid-build left the index invalid; run again, IF NOT EXISTS
    skipped it and the migration was recorded done, the index unusable for good (an
    outside check). A partition's index already attached is rebuilt in place."""
    found = bind.execute(
        sa.text(
            "SELECT i.indisvalid, EXISTS (SELECT FROM pg_inherits WHERE inhrelid = i.indexrelid)"
            " FROM pg_index i WHERE i.indexrelid = to_regclass(:name)"
        ),
        {"name": name},
    ).first()
    if found is not None and not found[0]:
        op.execute(
            f'REINDEX INDEX CONCURRENTLY "{name}"'
            if found[1]
            else f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'
        )
    op.execute(create)
    _check_valid(bind, name)


def _check_valid(bind, name: str) -> None:
    valid = bind.execute(
        sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
        {"name": name},
    ).scalar()
    if not valid:
        raise RuntimeError(f"The index {name} was not built: run `flask db upgrade` again.")


def downgrade() -> None:
    op.drop_index(NOTICES, table_name="resident_notices")
    op.drop_index(DELIVERIES, table_name="deliveries")  # its partitions' go with it
