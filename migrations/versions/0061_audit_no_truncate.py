"""The audit log refuses TRUNCATE too: its row trigger (0024, 0059) refused UPDATE and
DELETE, but TRUNCATE audit_events, run with the application's own database login,
emptied it (an outside check). A statement trigger now refuses it, also when another
table's TRUNCATE ... CASCADE would reach it. (The tables' owner can still disable the
triggers: docs/deploy.md says how to have another role own the log.)

Revision ID: 0061
Revises: 0060
"""

from alembic import op

revision = "0061"
down_revision = "0060"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION audit_events_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_events is append-only: TRUNCATE refused'
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_no_truncate()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
    op.execute("DROP FUNCTION audit_events_no_truncate()")
