"""Whether a claimed e-mail's message has been ended, kept in the database
(deliveries.email_unsent_attempt, resident_notices.email_unsent_attempt): the attempt
of an e-mail claimed and not yet ended. It was a key in Redis, and a worker killed
while Redis was emptied left its claimed e-mails with no key: "possibly sent", and
never sent (an outside check: 5 and 14 residents). Rows written before this keep NULL,
which reads as before: the message may have gone.

Revision ID: 0050
Revises: 0049
"""

import sqlalchemy as sa
from alembic import op

revision = "0050"
down_revision = "0049"
branch_labels = None
depends_on = None

TABLES = ("deliveries", "resident_notices")


def upgrade() -> None:
    # Nullable with no default: no table rewrite, however many deliveries there are.
    for table in TABLES:
        op.add_column(table, sa.Column("email_unsent_attempt", sa.Integer))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "email_unsent_attempt")
