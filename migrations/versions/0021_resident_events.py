"""Analysts' time line (issue 14): what residents did that leaves no other trace.

A resident's sign-up and first confirmation stay on their own row (residents.created_at,
confirmed_at); an unsubscribe is only a timestamp on the channel (SMS STOP and a
one-click unsubscribe look the same there, and START clears it), and a deletion leaves
nothing but an audit row. resident_events records these facts from now on, without
personal data: the kind, when, the channels, groups and source (self or import) they
concern, and, for a resident who leaves, the day they signed up and first confirmed
(so the weekly counts of sign-ups do not fall when someone deletes their details).

Backfilled from what the database already holds: stopped channels (a STOP when an
audit row 'resident.sms_stopped' has the same transaction time, else an unsubscribe);
deletions from the audit log (no channel, group or source: "not recorded").

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

KINDS = ("unsubscribed", "stopped", "deleted", "expired")


def upgrade() -> None:
    op.create_table(
        "resident_events",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        # NULL: not recorded (backfilled rows); an empty list: none.
        sa.Column("channels", ARRAY(sa.String(10))),
        sa.Column("groups", ARRAY(sa.String(40))),
        sa.Column("source", sa.String(10)),
        # UK dates, for a resident who left: when they signed up and first confirmed.
        sa.Column("registered_on", sa.Date()),
        sa.Column("confirmed_on", sa.Date()),
        sa.CheckConstraint(f"kind IN {KINDS!r}", name=op.f("ck_resident_events_kind_known")),
        sa.CheckConstraint(
            "source IS NULL OR source IN ('self', 'import')",
            name=op.f("ck_resident_events_source_known"),
        ),
    )
    op.create_index("ix_resident_events_kind_at", "resident_events", ["kind", "at"])
    op.create_index(
        "ix_resident_events_registered_on",
        "resident_events",
        ["registered_on"],
        postgresql_where=sa.text("registered_on IS NOT NULL"),
    )
    op.create_index(
        "ix_resident_events_confirmed_on",
        "resident_events",
        ["confirmed_on"],
        postgresql_where=sa.text("confirmed_on IS NOT NULL"),
    )
    # The weekly sign-ups and confirmations read these ranges.
    op.create_index("ix_residents_created_at", "residents", ["created_at"])
    op.create_index(
        "ix_residents_confirmed_at",
        "residents",
        ["confirmed_at"],
        postgresql_where=sa.text("confirmed_at IS NOT NULL"),
    )
    op.execute(
        """
        INSERT INTO resident_events (kind, at, channels, groups, source)
        SELECT CASE WHEN c.channel = 'sms' AND EXISTS (
                      SELECT 1 FROM audit_events a
                      WHERE a.action = 'resident.sms_stopped' AND a.at = c.unsubscribed_at)
                    THEN 'stopped' ELSE 'unsubscribed' END,
               c.unsubscribed_at, ARRAY[c.channel],
               ARRAY(SELECT g.slug FROM resident_groups rg
                     JOIN interest_groups g ON g.id = rg.group_id
                     WHERE rg.resident_id = r.id ORDER BY g.slug),
               CASE WHEN r.source LIKE 'import:%' THEN 'import' ELSE 'self' END
        FROM resident_channels c JOIN residents r ON r.id = c.resident_id
        WHERE c.unsubscribed_at IS NOT NULL
        """
    )
    op.execute(
        """
        INSERT INTO resident_events (kind, at)
        SELECT 'deleted', a.at FROM audit_events a WHERE a.action = 'resident.deleted'
        """
    )


def downgrade() -> None:
    op.drop_index("ix_residents_confirmed_at", table_name="residents")
    op.drop_index("ix_residents_created_at", table_name="residents")
    op.drop_table("resident_events")
