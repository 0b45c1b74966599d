"""A notice knows its force when it is not to a resident (resident_notices.force_id):
an invitation to a force's new administrator, a question to its supervisors. The
outbox took such notices for the default force's, so another force's staff read them
there, set-password links and all. The outbox's trigger now takes the notice's own
force first; residents' notices keep their first place's force.

Revision ID: 0045
Revises: 0044
"""

import sqlalchemy as sa
from alembic import op

revision = "0045"
down_revision = "0044"
branch_labels = None
depends_on = None


def _outbox_trigger(notice_force: bool) -> str:
    first = (
        "(SELECT n.force_id FROM resident_notices n WHERE n.id = NEW.notice_id),"
        if notice_force
        else ""
    )
    return f"""
CREATE OR REPLACE FUNCTION outbox_messages_set_force() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.alert_id IS NOT NULL THEN
        NEW.force_id := coalesce(
            (SELECT force_id FROM alerts WHERE id = NEW.alert_id), NEW.force_id);
    ELSE
        NEW.force_id := coalesce({first}
            (SELECT l.force_id FROM resident_locations l
             WHERE l.resident_id = (SELECT n.resident_id FROM resident_notices n
                                    WHERE n.id = NEW.notice_id)
               AND l.force_id IS NOT NULL
             ORDER BY l.id LIMIT 1),
            NEW.force_id);
    END IF;
    RETURN NEW;
END $$;
"""  # noqa: S608 (no outside text: one of two fixed forms)


def upgrade() -> None:
    op.add_column(
        "resident_notices",
        sa.Column(
            "force_id",
            sa.Integer,
            sa.ForeignKey("forces.id", name="fk_resident_notices_force_id_forces"),
        ),
    )
    op.execute(_outbox_trigger(notice_force=True))


def downgrade() -> None:
    op.execute(_outbox_trigger(notice_force=False))
    op.drop_column("resident_notices", "force_id")
