"""Replies and the development outbox by force: what residents texted back, and the
messages the outbox caught, are the force's whose alert they answer or carry; with no
alert, the force of the resident's first place (a HELP text, a notice to a resident);
else the default force's. Each force's staff read only their own (app/services/forces.py
scopes them as it does alerts).

Revision ID: 0037
Revises: 0036
"""

import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None

# Each table's resident, when the row names no alert: the first place's force is theirs.
RESIDENT_OF = {
    "replies": "NEW.resident_id",
    "outbox_messages": "(SELECT n.resident_id FROM resident_notices n WHERE n.id = NEW.notice_id)",
}
TABLES = tuple(RESIDENT_OF)


def _trigger(table: str) -> str:
    return f"""
CREATE FUNCTION {table}_set_force() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.alert_id IS NOT NULL THEN
        NEW.force_id := coalesce(
            (SELECT force_id FROM alerts WHERE id = NEW.alert_id), NEW.force_id);
    ELSE
        NEW.force_id := coalesce(
            (SELECT l.force_id FROM resident_locations l
             WHERE l.resident_id = {RESIDENT_OF[table]} AND l.force_id IS NOT NULL
             ORDER BY l.id LIMIT 1),
            NEW.force_id);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER {table}_set_force BEFORE INSERT OR UPDATE OF alert_id ON {table}
    FOR EACH ROW EXECUTE FUNCTION {table}_set_force();
"""  # noqa: S608 (table names from TABLES)


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table,
            sa.Column(
                "force_id",
                sa.Integer,
                sa.ForeignKey("forces.id", name=f"fk_{table}_force_id_forces"),
                nullable=False,
                server_default=sa.text("default_force_id()"),
            ),
        )
        op.execute(
            f"UPDATE {table} t SET force_id = a.force_id FROM alerts a"  # noqa: S608
            " WHERE a.id = t.alert_id AND a.force_id <> t.force_id"
        )
        op.create_index(f"ix_{table}_force_id", table, ["force_id"])
        op.execute(_trigger(table))


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_set_force ON {table}")
        op.execute(f"DROP FUNCTION {table}_set_force()")
        op.drop_column(table, "force_id")
