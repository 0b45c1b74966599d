"""An alert's quick question in Welsh too: a Welsh speaker's text, call and e-mail
asked the officer's English question in Welsh words around it (the Welsh voice read
"Did you see anything?"), when the alert itself was written in both languages.

Revision ID: 0070
Revises: 0069
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0070"
down_revision = "0069"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("question_cy", sa.Text))
    op.add_column("alerts", sa.Column("answer_options_cy", JSONB))


def downgrade() -> None:
    op.drop_column("alerts", "answer_options_cy")
    op.drop_column("alerts", "question_cy")
