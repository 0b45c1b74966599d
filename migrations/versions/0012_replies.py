"""Residents answer back: replies (texts, keys pressed in a call), an alert's quick
question and its options, and whether it asks residents to confirm receipt.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("question", sa.Text))
    op.add_column("alerts", sa.Column("answer_options", JSONB))
    op.add_column(
        "alerts",
        sa.Column("confirm_receipt", sa.Boolean, nullable=False, server_default="false"),
    )
    op.create_table(
        "replies",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("provider_ref", sa.String(80), nullable=False),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="SET NULL")),
        sa.Column(
            "delivery_id", sa.BigInteger, sa.ForeignKey("deliveries.id", ondelete="SET NULL")
        ),
        sa.Column("resident_id", sa.Integer, sa.ForeignKey("residents.id", ondelete="CASCADE")),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("body", sa.Text),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("answer", sa.SmallInteger),
        sa.Column("after_close", sa.Boolean, nullable=False, server_default="false"),
        sa.Column(
            "received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("read_at", sa.DateTime(timezone=True)),
        sa.Column("read_by_id", sa.Integer, sa.ForeignKey("officers.id")),
        sa.CheckConstraint(
            "kind IN ('message', 'answer', 'confirmation', 'help')", name="kind_known"
        ),
        sa.UniqueConstraint("provider_ref", name="uq_replies_provider_ref"),
    )
    op.create_index("ix_replies_received_at", "replies", ["received_at"])
    op.create_index("ix_replies_alert_id_received_at", "replies", ["alert_id", "received_at"])
    op.create_index(op.f("ix_replies_alert_id"), "replies", ["alert_id"])
    op.create_index(op.f("ix_replies_delivery_id"), "replies", ["delivery_id"])
    op.create_index(op.f("ix_replies_resident_id"), "replies", ["resident_id"])
    # A reply is matched to the latest message sent to its number.
    op.create_index("ix_deliveries_address", "deliveries", ["address"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_address", "deliveries")
    op.drop_table("replies")
    op.drop_column("alerts", "confirm_receipt")
    op.drop_column("alerts", "answer_options")
    op.drop_column("alerts", "question")
