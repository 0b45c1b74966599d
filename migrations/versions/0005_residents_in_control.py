"""Residents in control: consent as given, quiet hours, pause, verified channels,
notices (codes, links), where a resident came from.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
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
    op.execute(QUIET_HOURS_RELEASE)
    add = op.add_column
    add("residents", sa.Column("consent_version", sa.String(40), nullable=True))
    add("residents", sa.Column("consent_text", sa.Text(), nullable=True))
    add("residents", sa.Column("consent_given_at", sa.DateTime(timezone=True), nullable=True))
    add("residents", sa.Column("source", sa.String(80), server_default="web", nullable=False))
    add("residents", sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
    add("residents", sa.Column("quiet_from", sa.Time(), nullable=True))
    add("residents", sa.Column("quiet_until", sa.Time(), nullable=True))
    add("resident_channels", sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
    add("resident_channels", sa.Column("verify_code_hash", sa.String(128), nullable=True))
    add(
        "resident_channels",
        sa.Column("verify_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    add(
        "resident_channels",
        sa.Column("verify_attempts", sa.SmallInteger(), server_default="0", nullable=False),
    )
    # Residents who signed up before verification existed keep receiving alerts.
    op.execute("UPDATE resident_channels SET verified_at = created_at")
    op.create_table(
        "resident_notices",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("status", sa.String(20), server_default="queued", nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("provider_ref", sa.String(64), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed')",
            name=op.f("ck_resident_notices_status_known"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_resident_notices_resident_id_residents"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_resident_notices_resident_id"), "resident_notices", ["resident_id"])
    op.create_table(
        "resident_imports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("notify", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("status", sa.String(20), server_default="queued", nullable=False),
        sa.Column("report", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["officers.id"],
            name=op.f("fk_resident_imports_created_by_id_officers"),
        ),
    )
    op.alter_column("outbox_messages", "delivery_id", nullable=True)
    op.alter_column("outbox_messages", "alert_id", nullable=True)
    add("outbox_messages", sa.Column("notice_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_outbox_messages_notice_id_resident_notices"),
        "outbox_messages",
        "resident_notices",
        ["notice_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_unique_constraint(
        op.f("uq_outbox_messages_notice_id"), "outbox_messages", ["notice_id"]
    )


def downgrade():
    op.execute("DROP FUNCTION IF EXISTS quiet_hours_release(time, time, timestamptz)")
    op.execute("DELETE FROM outbox_messages WHERE delivery_id IS NULL")
    op.drop_constraint(op.f("uq_outbox_messages_notice_id"), "outbox_messages", type_="unique")
    op.drop_constraint(
        op.f("fk_outbox_messages_notice_id_resident_notices"), "outbox_messages", type_="foreignkey"
    )
    op.drop_column("outbox_messages", "notice_id")
    op.alter_column("outbox_messages", "alert_id", nullable=False)
    op.alter_column("outbox_messages", "delivery_id", nullable=False)
    op.drop_table("resident_imports")
    op.drop_index(op.f("ix_resident_notices_resident_id"), table_name="resident_notices")
    op.drop_table("resident_notices")
    for column in ("verify_attempts", "verify_expires_at", "verify_code_hash", "verified_at"):
        op.drop_column("resident_channels", column)
    for column in (
        "quiet_until",
        "quiet_from",
        "paused_at",
        "source",
        "consent_given_at",
        "consent_text",
        "consent_version",
    ):
        op.drop_column("residents", column)
