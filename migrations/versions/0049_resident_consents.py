"""What a resident agreed to for each force they came to hear from after signing up
(resident_consents): adding a place in another force's area asks them to read and
agree to that force's statement, and this keeps it, as the resident's row keeps the
statement of sign-up. Residents who added such a place before this have no row: the
place was added without that force's statement, which is why this exists.

Revision ID: 0049
Revises: 0048
"""

import sqlalchemy as sa
from alembic import op

revision = "0049"
down_revision = "0048"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resident_consents",
        sa.Column(
            "resident_id",
            sa.Integer(),
            sa.ForeignKey("residents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "force_id",
            sa.Integer(),
            sa.ForeignKey("forces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column(
            "given_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("resident_consents")
