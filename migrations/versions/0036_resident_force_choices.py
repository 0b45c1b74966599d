"""A resident chooses per force: a resident with places in two forces' areas may stop
hearing from one of them and keep the other. resident_force_stops holds the forces a
resident stopped; their places in those forces are no longer targets (so neither the
preview nor the send of that force counts them), and resuming is deleting the row.
PostgreSQL keeps the targets in step, as for every other change of a resident
(migration 0022's statement triggers call refresh_targets).

Revision ID: 0036
Revises: 0035
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def _migration(name: str):
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STOPPED = """
      AND NOT EXISTS (
          SELECT 1 FROM resident_force_stops s
          WHERE s.resident_id = c.resident_id AND s.force_id = l.force_id)"""


def _refresh(with_stops: bool) -> str:
    m0031, m0034 = _migration("0031_target_squares.py"), _migration("0034_forces.py")
    rebuild = m0034.REBUILD
    if with_stops:
        rebuild = rebuild.replace(
            "      AND c.verified_at IS NOT NULL;", f"      AND c.verified_at IS NOT NULL{STOPPED};"
        )
        assert rebuild != m0034.REBUILD
    return m0031.REFRESH.replace(m0031.REBUILD, rebuild)


def upgrade() -> None:
    op.create_table(
        "resident_force_stops",
        sa.Column(
            "resident_id",
            sa.Integer,
            sa.ForeignKey("residents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "force_id",
            sa.Integer,
            sa.ForeignKey("forces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "stopped_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.execute(_refresh(with_stops=True))
    for statement in _migration("0022_targets.py")._functions(
        "resident_force_stops", "resident_id", ("force_id",)
    ):
        op.execute(statement)


def downgrade() -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER targets_after_{event} ON resident_force_stops")
        op.execute(f"DROP FUNCTION targets_after_{event}_resident_force_stops()")
    op.execute(_refresh(with_stops=False))
    # Residents who had stopped a force are its targets again.
    op.execute(
        "SELECT refresh_targets(ARRAY(SELECT DISTINCT resident_id FROM resident_force_stops))"
    )
    op.drop_table("resident_force_stops")
