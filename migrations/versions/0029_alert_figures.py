"""The sent report's figures for settled alerts, counted once (app/dao/figures.py):

- alert_delivery_totals: an alert's deliveries per channel, status and failure reason
  (messages, text parts, billed call minutes, how many arrived within the report's
  speed mark, and when the last arrived), for alerts released more than
  ANALYST_SETTLED_SECONDS ago whose every delivery is final;
- alert_area_wards: the wards each released alert's area overlaps, and how much;
- alert_figures: which alerts have each, and since when.

A delivery of a counted alert that changes afterwards (a late receipt) un-marks its
alert in the same statement (a statement-level trigger), so the report reads that
alert from the ledger until it is counted again: the report always adds up with the
ledger. The trigger's update locks the alert's row, and the count locks the same rows
before it reads, so a change and a count of the same alert never pass each other; an
alert is counted only once its row has been there a while (noticed_at), so a change
begun before the row existed has long finished.

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_figures",
        sa.Column(
            "alert_id",
            sa.Integer,
            sa.ForeignKey("alerts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "noticed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("deliveries_at", sa.DateTime(timezone=True)),
        sa.Column("wards_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "alert_delivery_totals",
        sa.Column(
            "alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),  # '' unless failed
        sa.Column("messages", sa.Integer, nullable=False),
        sa.Column("segments", sa.Integer, nullable=False),
        sa.Column("billed_minutes", sa.Integer, nullable=False),
        sa.Column("within_s", sa.Float, nullable=False),
        sa.Column("within", sa.Integer, nullable=False),
        sa.Column("last_arrived_s", sa.Float),
        sa.PrimaryKeyConstraint("alert_id", "channel", "status", "reason"),
    )
    op.create_table(
        "alert_area_wards",
        sa.Column(
            "alert_id", sa.Integer, sa.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("ward_code", sa.String(20), nullable=False),
        sa.Column("share_inside", sa.Float, nullable=False),
        sa.Column("inside_m2", sa.Float, nullable=False),
        sa.Column("alert_area_m2", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("alert_id", "ward_code"),
    )
    op.execute(
        """
        CREATE FUNCTION alert_figures_stale_new() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE alert_figures f SET deliveries_at = NULL
            WHERE f.alert_id IN (SELECT DISTINCT alert_id FROM changed);
            RETURN NULL;
        END $$;
        CREATE FUNCTION alert_figures_stale_old() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE alert_figures f SET deliveries_at = NULL
            WHERE f.alert_id IN (SELECT DISTINCT alert_id FROM gone);
            RETURN NULL;
        END $$;
        CREATE TRIGGER deliveries_changed_after_counting AFTER UPDATE ON deliveries
            REFERENCING NEW TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION alert_figures_stale_new();
        CREATE TRIGGER deliveries_added_after_counting AFTER INSERT ON deliveries
            REFERENCING NEW TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION alert_figures_stale_new();
        CREATE TRIGGER deliveries_removed_after_counting AFTER DELETE ON deliveries
            REFERENCING OLD TABLE AS gone
            FOR EACH STATEMENT EXECUTE FUNCTION alert_figures_stale_old();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER deliveries_removed_after_counting ON deliveries;
        DROP TRIGGER deliveries_added_after_counting ON deliveries;
        DROP TRIGGER deliveries_changed_after_counting ON deliveries;
        DROP FUNCTION alert_figures_stale_old();
        DROP FUNCTION alert_figures_stale_new();
        """
    )
    op.drop_table("alert_area_wards")
    op.drop_table("alert_delivery_totals")
    op.drop_table("alert_figures")
