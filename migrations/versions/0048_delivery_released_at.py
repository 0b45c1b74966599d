"""When a delivery was released to its resident, if later than its alert
(deliveries.released_at): a neighbouring force's residents get a cross-border alert
when it approves, and the report measured their messages' speed from the alert's
release, counting the wait for the approval as slowness. Deliveries written before
this keep NULL (measured from the alert's release, as before).

Revision ID: 0048
Revises: 0047
"""

import sqlalchemy as sa
from alembic import op

revision = "0048"
down_revision = "0047"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable with no default: no table rewrite, however many deliveries there are.
    op.add_column("deliveries", sa.Column("released_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("deliveries", "released_at")
