"""A force's own consent wording in Welsh too: the statement residents agree to when
they sign up for a place in its area (forces.consent_text, migration 0034, is the
English). Empty: the service's own statement naming the force.

Revision ID: 0039
Revises: 0038
"""

import sqlalchemy as sa
from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("forces", sa.Column("consent_text_cy", sa.Text))


def downgrade() -> None:
    op.drop_column("forces", "consent_text_cy")
