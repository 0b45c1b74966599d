"""How a stopped channel was stopped (resident_channels.unsubscribed_by): "text" for a
STOP texted from the number (or the provider's opt-out for it), "link" for an
unsubscribe link. START and a stopped number's YES undo a text's stop: an outside
check found a START (and a YES meant as an answer) from a number two residents share
subscribing again the one who had unsubscribed by a link, and losing the other's
answer. NULL on a stopped channel: stopped before this was kept, taken as by text (as
START took every stop then).

Revision ID: 0052
Revises: 0051
"""

import sqlalchemy as sa
from alembic import op

revision = "0052"
down_revision = "0051"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable and without a default: a change to the catalogue only, however many rows.
    op.add_column("resident_channels", sa.Column("unsubscribed_by", sa.String(8)))
    op.create_check_constraint(
        "unsubscribed_by_known", "resident_channels", "unsubscribed_by IN ('text', 'link')"
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_resident_channels_unsubscribed_by_known"), "resident_channels", type_="check"
    )
    op.drop_column("resident_channels", "unsubscribed_by")
