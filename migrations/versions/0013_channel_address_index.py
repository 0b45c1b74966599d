"""Find a resident's channel by its number or address with an index: a STOP, START,
a reply, a sign-up's "is this number taken?" and a manage-link request all ask it, and
without one each scanned every channel (a second a text at a million residents).

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_resident_channels_address", "resident_channels", ["address"])


def downgrade() -> None:
    op.drop_index("ix_resident_channels_address", "resident_channels")
