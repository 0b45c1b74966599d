"""Which release set each group of a postcode's fields; which postcode areas a complete
Code-Point edition covered.

Postcodes come from several products (OS Code-Point Open, the ONS Postcode Directory),
each with its own release date. A load replaces a field only when it is at least as new
as the release that set it, so the order of loading does not matter; these columns
record that release per field group (NULL: loaded before this was recorded, older than
any dated release). postcode_area_coverage remembers that a complete edition did not
list a postcode of an area, so an older source loaded later cannot bring it back to life.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GROUPS = ("position", "codes", "introduced", "status")


def upgrade() -> None:
    for group in GROUPS:
        op.add_column("postcodes", sa.Column(f"{group}_release", sa.Date(), nullable=True))
    op.create_table(
        "postcode_area_coverage",
        sa.Column("area", sa.String(2), primary_key=True),
        sa.Column("release", sa.Date(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column(
            "loaded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


def downgrade() -> None:
    op.drop_table("postcode_area_coverage")
    for group in GROUPS:
        op.drop_column("postcodes", f"{group}_release")
