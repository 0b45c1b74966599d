"""A resident's sign-out closes their page on the server (residents.session_generation):
the session cookie holds the generation it was opened under, and signing out raises it.
Before, signing out only cleared this browser's cookie, and a copy of it still opened
the page, with their name, number and address (an outside check).

Revision ID: 0058
Revises: 0057
"""

import sqlalchemy as sa
from alembic import op

revision = "0058"
down_revision = "0057"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: a change to the catalogue only, however many residents.
    op.add_column(
        "residents",
        sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("residents", "session_generation")
