"""A number that texted STOP gets no officer's answer: an answer to its earlier
message still went, to a number nobody holds too (an outside check). Each reply from
the number says since when it stopped (START clears it), so an answer is refused,
and one still waiting to go is cancelled with the STOP.

Revision ID: 0065
Revises: 0064
"""

import sqlalchemy as sa
from alembic import op

revision = "0065"
down_revision = "0064"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("replies", sa.Column("number_stopped_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("replies", "number_stopped_at")
