"""Staff sessions held on the server; Twilio events seen, by their id.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column(
            "officer_id",
            sa.Integer(),
            sa.ForeignKey(
                "officers.id", ondelete="CASCADE", name="fk_staff_sessions_officer_id_officers"
            ),
            nullable=False,
        ),
        sa.Column("agent_hash", sa.String(64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("ended_reason", sa.String(20)),
        sa.PrimaryKeyConstraint("id", name="pk_staff_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_staff_sessions_token_hash"),
    )
    op.create_index("ix_staff_sessions_officer_id", "staff_sessions", ["officer_id"])
    # Each inbound message and status event from a provider is acted on once: a
    # replayed request (same signature, same id) is recognised and ignored.
    op.create_table(
        "provider_events",
        sa.Column("event_key", sa.Text(), nullable=False),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("event_key", name="pk_provider_events"),
    )


def downgrade() -> None:
    op.drop_table("provider_events")
    op.drop_table("staff_sessions")
