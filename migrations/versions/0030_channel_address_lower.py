"""An index on lower(address) of resident_channels: signing up, confirming and the
manage link find a channel by its address whatever its case, and without this index
each did a scan of every channel (0.7 s at a million residents, twice per sign-up).
Built CONCURRENTLY, so a live installation keeps taking sign-ups while it builds.

Revision ID: 0030
Revises: 0029
"""

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_resident_channels_address_lower"
            " ON resident_channels (lower(address))"
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_resident_channels_address_lower")
