"""When each delivery attempt began, so the provider is asked about the right span of
time before anything is sent again.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("attempted_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("deliveries", "attempted_at")
