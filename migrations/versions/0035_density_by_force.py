"""The analysts' figures counted by force, so each force's analysts see their own
force's residents (a resident belongs to the forces of their places, migration 0034):
density squares (a resident is counted in a square for the force of their place
there), and registrations per day (a resident counts for each force they have a place
in). What residents did is recorded with their forces too (resident_events.forces);
events recorded before are the default force's.

Revision ID: 0035
Revises: 0034
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None

# (table, its primary key's columns before)
KEYS = {
    "density_squares": ("cell_m", "filter_kind", "filter_value", "i", "j"),
    "resident_days": ("kind", "dimension", "value", "day"),
}


def upgrade() -> None:
    # Counted again by the sweeper's next round (or a page that finds them stale).
    op.execute("DELETE FROM figure_refreshes WHERE name IN ('density', 'timeline')")
    for table, key in KEYS.items():
        op.execute(f"DELETE FROM {table}")  # noqa: S608 (names from KEYS)
        op.add_column(table, sa.Column("force_id", sa.Integer, nullable=False, server_default="0"))
        op.drop_constraint(f"pk_{table}", table)
        op.create_primary_key(f"pk_{table}", table, ["force_id", *key])
    op.add_column(
        "resident_events",
        # An event written without them is the default force's, like every such row.
        sa.Column(
            "forces",
            ARRAY(sa.Integer),
            nullable=False,
            server_default=sa.text("ARRAY[default_force_id()]"),
        ),
    )
    op.execute("UPDATE resident_events SET forces = ARRAY[default_force_id()]")


def downgrade() -> None:
    op.drop_column("resident_events", "forces")
    op.execute("DELETE FROM figure_refreshes WHERE name IN ('density', 'timeline')")
    for table, key in KEYS.items():
        op.execute(f"DELETE FROM {table}")  # noqa: S608 (names from KEYS)
        op.drop_constraint(f"pk_{table}", table)
        op.drop_column(table, "force_id")
        op.create_primary_key(f"pk_{table}", table, list(key))
