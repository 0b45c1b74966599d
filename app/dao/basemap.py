"""What the vector base map is drawn from: the force's places and its live postcodes.
Read only; open data, never residents."""

from __future__ import annotations

from shapely import from_wkb
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.dao.places import drawable
from app.models import Place, Postcode
from geo.basemap import Place as MapPlace

# A ward or district belongs on the force's map when most of it lies inside the force:
# the wards (200 m generalised) and the force (500 m) do not share edges exactly, and
# a neighbour's ward along the border overlaps the force a little.
MOSTLY_INSIDE = 0.5


def find_force_places(session: Session, force: Place, kind: str) -> list[MapPlace]:
    """The places of one kind (newest release of each code) mostly inside the force,
    by name, with their boundaries in BNG."""
    newest = (
        select(Place.id)
        .where(Place.kind == kind)
        .distinct(Place.code)
        .order_by(Place.code, Place.release.desc())
    )
    rows = session.execute(
        # As a map draws them: without the squares that fit them to their postcodes.
        select(Place.kind, Place.code, Place.name, func.ST_AsBinary(drawable(Place.boundary, 0)))
        .where(
            Place.id.in_(newest),
            func.ST_Intersects(Place.boundary, force.boundary),
            func.ST_Area(func.ST_Intersection(Place.boundary, force.boundary))
            > MOSTLY_INSIDE * func.ST_Area(Place.boundary),
        )
        .order_by(Place.name)
    )
    return [MapPlace(kind, code, name, from_wkb(bytes(wkb))) for kind, code, name, wkb in rows]


def find_force_postcodes(session: Session, force: Place) -> list[tuple[str, float, float]]:
    """(compact postcode, easting, northing) of every live, located postcode in the
    force: in its districts when the force lists them (as the law defines the area),
    else inside its boundary."""
    districts = force.properties.get("constituent_lad23cd")
    inside = (
        Postcode.admin_district_code.in_(districts)
        if isinstance(districts, list) and districts
        else func.ST_Covers(force.boundary, Postcode.location)
    )
    rows = session.execute(
        select(Postcode.postcode, func.ST_X(Postcode.location), func.ST_Y(Postcode.location))
        .where(Postcode.terminated_on.is_(None), Postcode.location.is_not(None), inside)
        .order_by(Postcode.postcode)
    )
    return [(postcode, float(easting), float(northing)) for postcode, easting, northing in rows]
