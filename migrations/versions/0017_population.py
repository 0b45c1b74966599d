"""Ward population and penetration (issue 14): ONS population estimates per ward code
and year, each row naming the data load (file, year, attribution) it came from.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ward_population",
        sa.Column("year", sa.SmallInteger, nullable=False),
        sa.Column("ward_code", sa.String(9), nullable=False),
        sa.Column("adults", sa.Integer, nullable=False),
        sa.Column("all_ages", sa.Integer, nullable=False),
        sa.Column("data_load_id", sa.Integer, nullable=False),
        sa.CheckConstraint(
            "adults >= 0 AND all_ages >= adults", name=op.f("ck_ward_population_counts_add_up")
        ),
        sa.ForeignKeyConstraint(
            ["data_load_id"],
            ["data_loads.id"],
            name=op.f("fk_ward_population_data_load_id_data_loads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("year", "ward_code", name=op.f("pk_ward_population")),
    )
    op.create_index("ix_ward_population_data_load_id", "ward_population", ["data_load_id"])


def downgrade() -> None:
    op.drop_index("ix_ward_population_data_load_id", "ward_population")
    op.drop_table("ward_population")
