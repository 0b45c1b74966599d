"""Whether a ledger row's every try was refused for now (deliveries and
resident_notices: attempts_refused, refused_every_try): a message that failed so was
never taken by its provider, and may be sent again by its officer without anyone
getting it twice. Each attempt is held (attempts_held), refused for now
(attempts_refused), or the last; a row with an attempt of any other outcome (no
answer, a worker that died mid-send) is never marked.

Revision ID: 0055
Revises: 0054
"""

import sqlalchemy as sa
from alembic import op

revision = "0055"
down_revision = "0054"
branch_labels = None
depends_on = None

TABLES = ("deliveries", "resident_notices")


def upgrade() -> None:
    # Constant defaults: changes to the catalogue only, however many rows.
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("attempts_refused", sa.Integer(), nullable=False, server_default="0"),
        )
        op.add_column(
            table,
            sa.Column("refused_every_try", sa.Boolean(), nullable=False, server_default=sa.false()),
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "refused_every_try")
        op.drop_column(table, "attempts_refused")
