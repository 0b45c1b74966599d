from __future__ import annotations

from datetime import date, datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from geo.projection import BNG, WGS84


class Postcode(db.Model):
    """A postcode and its centroid. Stored twice: compact key and display form."""

    __tablename__ = "postcodes"

    postcode: Mapped[str] = mapped_column(String(8), primary_key=True)  # "BS11AD"
    display: Mapped[str] = mapped_column(String(8), nullable=False)  # "BS1 1AD"
    positional_quality: Mapped[int | None] = mapped_column(SmallInteger)
    country_code: Mapped[str | None] = mapped_column(String(9))
    admin_district_code: Mapped[str | None] = mapped_column(String(9))
    admin_ward_code: Mapped[str | None] = mapped_column(String(9))
    # Metres (British National Grid) for every distance and containment query; WGS84
    # only to draw on the map. NULL when the directory has no location for it.
    location = mapped_column(Geometry("POINT", srid=BNG, spatial_index=True))
    location_wgs84 = mapped_column(Geometry("POINT", srid=WGS84, spatial_index=False))
    introduced_on: Mapped[date | None] = mapped_column(Date)
    # Set for a postcode Royal Mail no longer uses (ONSPD's doterm, or the day a
    # complete Code-Point area file stopped listing it). Such rows are kept so that a
    # resident can be told why, and existing residents are not silently dropped.
    terminated_on: Mapped[date | None] = mapped_column(Date)
    # The release that set each group of fields (geo/postcode_loader.py): a load
    # replaces a group only with a release at least as new. NULL: older than any.
    position_release: Mapped[date | None] = mapped_column(Date)
    codes_release: Mapped[date | None] = mapped_column(Date)
    introduced_release: Mapped[date | None] = mapped_column(Date)
    status_release: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        # Prefix search (autocomplete, outward codes): LIKE 'BS1%' cannot use the
        # primary key's index under a non-C collation; text_pattern_ops can.
        Index(
            "ix_postcodes_postcode_prefix",
            "postcode",
            postgresql_ops={"postcode": "text_pattern_ops"},
        ),
    )


class PostcodeAreaCoverage(db.Model):
    """A postcode area (BS, TA...) that a complete Code-Point edition covered: the
    postcodes it did not list ended with that release, and an older source loaded
    later cannot bring them back."""

    __tablename__ = "postcode_area_coverage"

    area: Mapped[str] = mapped_column(String(2), primary_key=True)
    release: Mapped[date] = mapped_column(Date, nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    loaded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class Place(db.Model):
    """A named area (force, district, ward) from one boundary release."""

    __tablename__ = "places"
    __table_args__ = (
        UniqueConstraint("kind", "code", "release"),
        Index("ix_places_kind_name", "kind", "name"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    code: Mapped[str] = mapped_column(String(20), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    release: Mapped[str] = mapped_column(String(40), nullable=False)
    properties: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")
    boundary = mapped_column(Geometry("MULTIPOLYGON", srid=BNG, spatial_index=True), nullable=False)


# What a typed name is compared by: lower case, with the curly apostrophes phones type
# (’ ‘ ʼ) as a plain one, so "St Mary’s" finds "St Mary's Road". The index below and
# the search (app/dao/names.py) use these very words: PostgreSQL only uses an index on
# an expression for a query that repeats the expression exactly.
def name_search_key(expression: str = "name") -> str:
    """SQL folding `expression` (a column, a bound parameter) as names are searched."""
    return f"lower(translate({expression}, '‘’ʼ', ''''''''))"


NAME_SEARCH_KEY = name_search_key()


class NamedPlace(db.Model):
    """A street or locality a force loaded (OS Open Names, Open Roads...), at one point,
    so the map's search box finds "Stapleton Road" as well as a postcode. Loaded by
    geo/names.py; a load replaces the rows of its source file and release."""

    __tablename__ = "named_places"
    __table_args__ = (
        # Prefix search (LIKE 'stap%') on the search key, whatever the collation.
        Index("ix_named_places_search_key", text(f"{NAME_SEARCH_KEY} text_pattern_ops")),
        Index("ix_named_places_source_release", "source", "release"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)  # "street", "Named Road"
    # The locality or district the source says it is in (Open Names' POPULATED_PLACE).
    area: Mapped[str | None] = mapped_column(Text)
    release: Mapped[str] = mapped_column(String(40), nullable=False)
    source: Mapped[str] = mapped_column(Text, nullable=False)  # the file's name
    # A line or area is stored as one point on it (the middle of a street).
    location = mapped_column(Geometry("POINT", srid=BNG, spatial_index=True), nullable=False)
    longitude: Mapped[float] = mapped_column(Float, nullable=False)  # WGS84, for the map
    latitude: Mapped[float] = mapped_column(Float, nullable=False)


class DataLoad(db.Model):
    """Which shipped or imported file was loaded, so re-running a load is a no-op."""

    __tablename__ = "data_loads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    summary: Mapped[dict] = mapped_column(JSONB, nullable=False, server_default="{}")
    loaded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (UniqueConstraint("dataset", "sha256"),)
