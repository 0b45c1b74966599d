"""A template keeps the Welsh it was written with (alert_templates.title_cy, body_cy):
saved from an alert in both languages, it lost the Welsh, and using it left the Welsh
fields empty.

Revision ID: 0044
Revises: 0043
"""

import sqlalchemy as sa
from alembic import op

revision = "0044"
down_revision = "0043"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alert_templates", sa.Column("title_cy", sa.String(120)))
    op.add_column("alert_templates", sa.Column("body_cy", sa.Text()))


def downgrade() -> None:
    op.drop_column("alert_templates", "body_cy")
    op.drop_column("alert_templates", "title_cy")
