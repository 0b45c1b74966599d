"""Calls that found the line busy or were not answered are placed again: a resident
on a landline that was engaged missed every alert of the day (an outside check).
Each delivery counts its redials, and keeps the references of its earlier calls so
that no word about those (a late or repeated callback, a slow answer to the send)
is taken for its new call's. The notices' ledger has the same shape (one engine sends
both) and never redials. Adding a column with a constant default rewrites nothing.

Revision ID: 0064
Revises: 0063
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0064"
down_revision = "0063"
branch_labels = None
depends_on = None

TABLES = ("deliveries", "resident_notices")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("redials", sa.Integer(), server_default="0", nullable=False))
        op.add_column(table, sa.Column("earlier_refs", postgresql.ARRAY(sa.String(64))))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "earlier_refs")
        op.drop_column(table, "redials")
