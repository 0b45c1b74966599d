"""The audit log may forget an event's IP address, and nothing else: the append-only
trigger (migration 0024) lets through one kind of UPDATE, setting ip_address to NULL
with every other column as it was, on an event at least 30 days old. The retention rules forget IP addresses after
AUDIT_IP_DAYS; before, residents' and staff's addresses were kept for ever (an
outside check).

Revision ID: 0059
Revises: 0058
"""

from alembic import op

revision = "0059"
down_revision = "0058"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            -- Only an address at least 30 days old (app/config.AUDIT_IP_DAYS_AT_LEAST):
            -- whoever holds the app's credentials cannot wipe the recent ones.
            IF TG_OP = 'UPDATE' AND NEW.ip_address IS NULL
               AND OLD.at < now() - interval '30 days'
               AND to_jsonb(NEW) - 'ip_address' = to_jsonb(OLD) - 'ip_address' THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        """
    )
    # The events whose address is still kept, by time: the hourly retention reads only
    # those, not every event older than its cut-off.
    op.execute(
        "CREATE INDEX ix_audit_events_at_with_address ON audit_events (at)"
        " WHERE ip_address IS NOT NULL"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_audit_events_at_with_address")
    op.execute(
        """
        CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        """
    )
