"""Composing and approving alerts: categories, modes (live, exercise, test), filters,
follow-ups, scheduling, approval; reusable templates; an officer's own mobile.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('draft', 'sending', 'sent', 'cancelled')"
NEW_STATUSES = (
    "status IN ('draft', 'pending_approval', 'scheduled', 'sending', 'sent', 'rejected', "
    "'cancelled')"
)
CATEGORIES = (
    "category IN ('incident', 'missing_person', 'crime_prevention', 'appeal', 'update', "
    "'all_clear')"
)


def upgrade():
    add = op.add_column
    add("alerts", sa.Column("category", sa.String(30), server_default="incident", nullable=False))
    add("alerts", sa.Column("mode", sa.String(10), server_default="live", nullable=False))
    add(
        "alerts",
        sa.Column("filters", postgresql.JSONB(), server_default="{}", nullable=False),
    )
    add("alerts", sa.Column("parent_id", sa.Integer(), nullable=True))
    add("alerts", sa.Column("audience", sa.String(10), server_default="area", nullable=False))
    add("alerts", sa.Column("send_at", sa.DateTime(timezone=True), nullable=True))
    add("alerts", sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
    add("alerts", sa.Column("decided_by_id", sa.Integer(), nullable=True))
    add("alerts", sa.Column("rejection_reason", sa.Text(), nullable=True))
    op.alter_column("alerts", "area", nullable=True)  # a test to oneself needs no area
    op.create_foreign_key(
        op.f("fk_alerts_parent_id_alerts"), "alerts", "alerts", ["parent_id"], ["id"]
    )
    op.create_foreign_key(
        op.f("fk_alerts_decided_by_id_officers"), "alerts", "officers", ["decided_by_id"], ["id"]
    )
    op.create_index(op.f("ix_alerts_parent_id"), "alerts", ["parent_id"])
    # The sweeper releases scheduled alerts when their time comes.
    op.create_index(
        "ix_alerts_scheduled", "alerts", ["send_at"], postgresql_where="status = 'scheduled'"
    )
    op.drop_constraint(op.f("ck_alerts_status_known"), "alerts", type_="check")
    op.create_check_constraint("status_known", "alerts", NEW_STATUSES)
    op.create_check_constraint("mode_known", "alerts", "mode IN ('live', 'exercise', 'test')")
    op.create_check_constraint("category_known", "alerts", CATEGORIES)
    op.create_table(
        "alert_templates",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("category", sa.String(30), nullable=False),
        sa.Column("title", sa.String(120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["officers.id"],
            name=op.f("fk_alert_templates_created_by_id_officers"),
        ),
        sa.UniqueConstraint("name", name=op.f("uq_alert_templates_name")),
    )
    add("officers", sa.Column("mobile", sa.String(20), nullable=True))


def downgrade():
    op.drop_column("officers", "mobile")
    op.drop_table("alert_templates")
    op.drop_constraint(op.f("ck_alerts_category_known"), "alerts", type_="check")
    op.drop_constraint(op.f("ck_alerts_mode_known"), "alerts", type_="check")
    op.drop_constraint(op.f("ck_alerts_status_known"), "alerts", type_="check")
    op.execute(
        "DELETE FROM outbox_messages WHERE alert_id IN (SELECT id FROM alerts WHERE area IS NULL)"
    )
    op.execute(
        "DELETE FROM deliveries WHERE alert_id IN (SELECT id FROM alerts WHERE area IS NULL)"
    )
    op.execute("UPDATE alerts SET parent_id = NULL")
    op.execute("DELETE FROM alerts WHERE area IS NULL")
    op.execute(
        "UPDATE alerts SET status = 'cancelled' "
        "WHERE status IN ('pending_approval', 'scheduled', 'rejected')"
    )
    op.create_check_constraint("status_known", "alerts", OLD_STATUSES)
    op.drop_index("ix_alerts_scheduled", table_name="alerts")
    op.drop_index(op.f("ix_alerts_parent_id"), table_name="alerts")
    op.drop_constraint(op.f("fk_alerts_decided_by_id_officers"), "alerts", type_="foreignkey")
    op.drop_constraint(op.f("fk_alerts_parent_id_alerts"), "alerts", type_="foreignkey")
    op.alter_column("alerts", "area", nullable=False)
    for column in (
        "rejection_reason",
        "decided_by_id",
        "decided_at",
        "send_at",
        "audience",
        "parent_id",
        "filters",
        "mode",
        "category",
    ):
        op.drop_column("alerts", column)
