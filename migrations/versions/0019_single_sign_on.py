"""Single sign-on identities (issue 13): the provider's issuer and subject, linked to
a staff account.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "officer_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "officer_id",
            sa.Integer(),
            sa.ForeignKey(
                "officers.id", ondelete="CASCADE", name="fk_officer_identities_officer_id_officers"
            ),
            nullable=False,
        ),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name="pk_officer_identities"),
        sa.UniqueConstraint("issuer", "subject", name="uq_officer_identities_issuer_subject"),
    )
    op.create_index("ix_officer_identities_officer_id", "officer_identities", ["officer_id"])


def downgrade() -> None:
    op.drop_table("officer_identities")
