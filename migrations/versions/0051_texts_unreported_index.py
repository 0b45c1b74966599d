"""Texts Twilio took whose delivery it never reported (status "sent"), by when they
went: the sweeper asks Twilio about each (outbound.ask_about_unreported_texts), since
a status callback refused while the database was away is never sent again, and the
text stayed "sent" (an outside check). Partial: most texts are "delivered" or
"failed" within minutes, so the index stays small.

Revision ID: 0051
Revises: 0050
"""

from alembic import op

revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None

INDEXES = {
    "deliveries": "ix_deliveries_texts_unreported",
    "resident_notices": "ix_resident_notices_texts_unreported",
}


def upgrade() -> None:
    for table, name in INDEXES.items():
        op.create_index(
            name, table, ["sent_at"], postgresql_where="status = 'sent' AND channel = 'sms'"
        )


def downgrade() -> None:
    for table, name in INDEXES.items():
        op.drop_index(name, table_name=table)
