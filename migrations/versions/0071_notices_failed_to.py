"""Refused notices by their address: the confirm page reads whether the code or link
just sent to a number or address was refused as the address's own (not in use, not a
mobile, no such mailbox), whoever holds it. Only refused notices are in the index, few
beside the rest.

Built without blocking the notices' writes, as 0051 builds its: a plain CREATE INDEX
held every code, link and notice until it was built (an outside check). An index of
the name an interrupted build left invalid is dropped first, and the build checked.

Revision ID: 0071
Revises: 0070
"""

import sqlalchemy as sa
from alembic import op

revision = "0071"
down_revision = "0070"
branch_labels = None
depends_on = None

NAME = "ix_resident_notices_failed_to"


def upgrade() -> None:
    bind = op.get_bind()
    with op.get_context().autocommit_block():
        left = bind.execute(
            sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
            {"name": NAME},
        ).scalar()
        if left is False:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")
        op.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME}"
            " ON resident_notices (address, channel) WHERE status = 'failed'"
        )
        valid = bind.execute(
            sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
            {"name": NAME},
        ).scalar()
        if not valid:
            raise RuntimeError(f"The index {NAME} was not built: run `flask db upgrade` again.")


def downgrade() -> None:
    op.drop_index(NAME, table_name="resident_notices")
