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
            index = f"{partition}_calls_unreported"[:63]
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
