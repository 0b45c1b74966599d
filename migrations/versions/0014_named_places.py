"""Named places: the streets and localities a force loads (OS Open Names, Open Roads),
one point each, so the officer's search box finds "Stapleton Road" as well as a
postcode where there is no tile server to search.

The name is searched by prefix, in any case and with curly apostrophes as plain ones:
a btree index with text_pattern_ops on that expression serves LIKE 'stap%' whatever
the database's collation, without an extension (pg_trgm would find words inside
names too, but needs one).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The same words as app.models.place.NAME_SEARCH_KEY: the search repeats them exactly.
SEARCH_KEY = "lower(translate(name, '‘’ʼ', ''''''''))"


def upgrade() -> None:
    op.create_geospatial_table(
        "named_places",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("area", sa.Text),
        sa.Column("release", sa.String(40), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column(
            "location",
            Geometry(
                geometry_type="POINT",
                srid=27700,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=False,
        ),
        sa.Column("longitude", sa.Float, nullable=False),
        sa.Column("latitude", sa.Float, nullable=False),
    )
    op.create_geospatial_index(
        "idx_named_places_location",
        "named_places",
        ["location"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(
        "ix_named_places_search_key",
        "named_places",
        [sa.text(f"{SEARCH_KEY} text_pattern_ops")],
    )
    # A load replaces the rows of its file and release.
    op.create_index("ix_named_places_source_release", "named_places", ["source", "release"])


def downgrade() -> None:
    op.drop_index("ix_named_places_source_release", "named_places")
    op.drop_index("ix_named_places_search_key", "named_places")
    op.drop_geospatial_index(
        "idx_named_places_location",
        table_name="named_places",
        postgresql_using="gist",
        column_name="location",
    )
    op.drop_geospatial_table("named_places")
