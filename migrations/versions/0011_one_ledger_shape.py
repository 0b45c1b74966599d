"""Notices get the ledger shape deliveries have, so one outbound engine claims, sends,
records, reconciles and sweeps both: attempts, retry times, when the attempt began,
when the row last moved and finished, and the same statuses.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

STATUSES = (
    "'queued', 'sending', 'unknown', 'possibly_sent', 'sent', 'delivered', 'failed', 'cancelled'"
)


def upgrade() -> None:
    table = "resident_notices"
    op.add_column(table, sa.Column("attempts", sa.Integer, nullable=False, server_default="0"))
    op.add_column(table, sa.Column("next_attempt_at", sa.DateTime(timezone=True)))
    op.add_column(table, sa.Column("attempted_at", sa.DateTime(timezone=True)))
    op.add_column(table, sa.Column("finished_at", sa.DateTime(timezone=True)))
    op.add_column(table, sa.Column("segments", sa.Integer))
    op.add_column(table, sa.Column("duration_seconds", sa.Integer))
    op.add_column(
        table,
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.drop_constraint(op.f("ck_resident_notices_status_known"), table, type_="check")
    op.create_check_constraint("status_known", table, f"status IN ({STATUSES})")
    op.create_index(
        "ix_resident_notices_unfinished",
        table,
        ["status", "updated_at"],
        postgresql_where=sa.text("status IN ('queued', 'sending', 'unknown')"),
    )
    op.create_index("ix_resident_notices_provider_ref", table, ["provider_ref"])


def downgrade() -> None:
    table = "resident_notices"
    op.drop_index("ix_resident_notices_provider_ref", table)
    op.drop_index("ix_resident_notices_unfinished", table)
    op.execute(
        "UPDATE resident_notices SET status = CASE WHEN status IN ('unknown', 'sending') "
        "THEN 'sending' WHEN status IN ('possibly_sent', 'delivered') THEN 'sent' "
        "WHEN status = 'cancelled' THEN 'failed' ELSE status END"
    )
    op.drop_constraint(op.f("ck_resident_notices_status_known"), table, type_="check")
    op.create_check_constraint(
        "status_known", table, "status IN ('queued', 'sending', 'sent', 'failed')"
    )
    for column in (
        "updated_at",
        "duration_seconds",
        "segments",
        "finished_at",
        "attempted_at",
        "next_attempt_at",
        "attempts",
    ):
        op.drop_column(table, column)
