"""Notices by their address and when: the confirm page reads the newest code, link or
notice a sign-up sent to a number or address, and says so if it was refused as the
address's own. Reading only the refused ones (0071's index), a refusal was said after
a later code had gone (a review). This index serves both questions, so 0071's goes.

Built without blocking the notices' writes, as 0071 builds its; an index of the name
an interrupted build left invalid is dropped first, and the build checked.

Revision ID: 0072
Revises: 0071
"""

import sqlalchemy as sa
from alembic import op

revision = "0072"
down_revision = "0071"
branch_labels = None
depends_on = None

NAME = "ix_resident_notices_to"
REFUSED = "ix_resident_notices_failed_to"


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
            " ON resident_notices (address, channel, created_at)"
        )
        valid = bind.execute(
            sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
            {"name": NAME},
        ).scalar()
        if not valid:
            raise RuntimeError(f"The index {NAME} was not built: run `flask db upgrade` again.")
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {REFUSED}")


def downgrade() -> None:
    op.create_index(
        REFUSED,
        "resident_notices",
        ["address", "channel"],
        postgresql_where=sa.text("status = 'failed'"),
    )
    op.drop_index(NAME, table_name="resident_notices")
