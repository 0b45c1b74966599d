"""Quiet hours in SQL; when a resident first confirmed a way to reach them; officers'
recordings for voice calls.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# When a message held by quiet hours may go: the end of the quiet hours that `at`
# falls in (UK local time, so it follows the clocks), or NULL when `at` is outside them.
QUIET_HOURS_RELEASE = """
CREATE OR REPLACE FUNCTION quiet_hours_release(quiet_from time, quiet_until time, at timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN quiet_from IS NULL OR quiet_until IS NULL THEN NULL
    WHEN (quiet_from < quiet_until AND local::time >= quiet_from AND local::time < quiet_until)
      OR (quiet_from > quiet_until AND (local::time >= quiet_from OR local::time < quiet_until))
    THEN ((local::date + CASE WHEN local::time < quiet_until THEN 0 ELSE 1 END) + quiet_until)
         AT TIME ZONE 'Europe/London'
  END
  FROM (SELECT at AT TIME ZONE 'Europe/London' AS local) now_local
$$
"""


def upgrade():
    # 0005 creates it; an early copy of 0005 did not, so make sure (it is idempotent).
    op.execute(QUIET_HOURS_RELEASE)
    # Set when a resident first confirms any channel; the retention rule removes only
    # sign-ups that never did (not a long-standing resident who just changed number).
    op.add_column("residents", sa.Column("confirmed_at", sa.DateTime(timezone=True)))
    # Confirmed once: a channel confirmed now, an audited confirmation (they may be
    # changing number), an import (the old system confirmed them), or alerts received.
    op.execute(
        """
        UPDATE residents r SET confirmed_at = r.created_at
        WHERE EXISTS (SELECT 1 FROM resident_channels c
                      WHERE c.resident_id = r.id AND c.verified_at IS NOT NULL)
           OR EXISTS (SELECT 1 FROM audit_events a
                      WHERE a.action = 'resident.channel_verified'
                        AND a.subject_type = 'resident' AND a.subject_id = r.reference::text)
           OR r.source LIKE 'import:%'
           OR EXISTS (SELECT 1 FROM deliveries d WHERE d.resident_id = r.id)
        """
    )
    op.create_table(
        "alert_recordings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["officers.id"],
            name=op.f("fk_alert_recordings_created_by_id_officers"),
        ),
        sa.UniqueConstraint("token", name=op.f("uq_alert_recordings_token")),
    )
    op.add_column("alerts", sa.Column("recording_id", sa.Integer(), nullable=True))
    op.create_foreign_key(
        op.f("fk_alerts_recording_id_alert_recordings"),
        "alerts",
        "alert_recordings",
        ["recording_id"],
        ["id"],
    )


def downgrade():
    op.drop_constraint(
        op.f("fk_alerts_recording_id_alert_recordings"), "alerts", type_="foreignkey"
    )
    op.drop_column("alerts", "recording_id")
    op.drop_table("alert_recordings")
    op.drop_column("residents", "confirmed_at")
    # quiet_hours_release stays: 0005 owns it, and the release before this one uses it.
