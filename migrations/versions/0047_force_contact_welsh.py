"""How the public reach a force, in Welsh (forces.contact_cy): the Welsh block of a
published alert (CAP) said it in English.

Revision ID: 0047
Revises: 0046
"""

import sqlalchemy as sa
from alembic import op

revision = "0047"
down_revision = "0046"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("forces", sa.Column("contact_cy", sa.Text()))


def downgrade() -> None:
    op.drop_column("forces", "contact_cy")
