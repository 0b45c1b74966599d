"""Cross-border alerts (issue 16): an alert whose area reaches into a neighbouring
force's area goes to that force's residents only when a supervisor of the alert's force
asks and a supervisor of the neighbouring force approves. One row per alert and force
asked: asked, then approved or refused (with the reason), each decision by whom and
when. The neighbour's residents get their messages when both the alert is sent and the
neighbour has approved, whichever comes last.

Revision ID: 0038
Revises: 0037
"""

import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_forces",
        sa.Column(
            "alert_id",
            sa.Integer,
            sa.ForeignKey("alerts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "force_id",
            sa.Integer,
            sa.ForeignKey("forces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("status", sa.String(10), nullable=False, server_default="asked"),
        sa.Column("asked_by_id", sa.Integer, sa.ForeignKey("officers.id"), nullable=False),
        sa.Column(
            "asked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("decided_by_id", sa.Integer, sa.ForeignKey("officers.id")),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("reason", sa.Text),
        # Set once this force's residents' deliveries are written.
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("residents", sa.Integer),
        sa.CheckConstraint(
            "status IN ('asked', 'approved', 'refused')", name="ck_alert_forces_status"
        ),
        sa.CheckConstraint(
            "(status = 'asked') = (decided_at IS NULL)", name="ck_alert_forces_decided"
        ),
    )
    # A force's supervisors' list: what waits for them.
    op.create_index(
        "ix_alert_forces_waiting",
        "alert_forces",
        ["force_id", "asked_at"],
        postgresql_where=sa.text("status = 'asked'"),
    )


def downgrade() -> None:
    op.drop_table("alert_forces")
