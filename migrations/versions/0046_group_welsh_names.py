"""An interest group's Welsh name (interest_groups.name_cy): the sign-up form and the
resident's page in Welsh named the groups in English. The usual groups get theirs.

Revision ID: 0046
Revises: 0045
"""

import sqlalchemy as sa
from alembic import op

revision = "0046"
down_revision = "0045"
branch_labels = None
depends_on = None

WELSH = {
    "neighbourhood-watch": "Gwarchod Cymdogaeth",
    "farm-watch": "Gwarchod Ffermydd",
    "business-watch": "Gwarchod Busnesau",
    "horse-watch": "Gwarchod Ceffylau",
}


def upgrade() -> None:
    op.add_column("interest_groups", sa.Column("name_cy", sa.Text()))
    groups = sa.table("interest_groups", sa.column("slug"), sa.column("name_cy"))
    for slug, name in WELSH.items():
        op.execute(groups.update().where(groups.c.slug == slug).values(name_cy=name))


def downgrade() -> None:
    op.drop_column("interest_groups", "name_cy")
