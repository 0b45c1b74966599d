"""An index on lower(address) of resident_channels: signing up, confirming and the
manage link find a channel by its address whatever its case, and without this index
each did a scan of every channel (0.7 s at a million residents, twice per sign-up).
Built CONCURRENTLY, so a live installation keeps taking sign-ups while it builds.

Revision ID: 0030
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    with op.get_context().autocommit_block():
        _build(
            bind,
            "ix_resident_channels_address_lower",
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_resident_channels_address_lower"
            " ON resident_channels (lower(address))",
        )


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
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_resident_channels_address_lower")
