"""Postcodes and places: lookups that read as questions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, or_, select

from app.extensions import db
from app.models import Force, Place, Postcode
from geo.names import search_forms
from geo.projection import BNG, WGS84


def find_postcode(key: str) -> Postcode | None:
    """The postcode with this compact key, or None."""
    return db.session.get(Postcode, key)


def find_postcodes(keys: list[str]) -> dict[str, Postcode]:
    """The postcodes with these compact keys that exist, by key."""
    rows = db.session.scalars(select(Postcode).where(Postcode.postcode.in_(keys)))
    return {p.postcode: p for p in rows}


def holds_postcode_area(area: str) -> bool:
    """Whether the postcode data holds any postcode of this area ("BS", "S"). Keys are
    letters and digits, and an area's keys run from its letters and "0" to its letters
    and "9ZZZZZ" in any collation's order, so the primary key's index answers it."""
    return db.session.scalar(
        select(
            select(Postcode.postcode)
            .where(Postcode.postcode.between(area + "0", area + "9ZZZZZ"))
            .exists()
        )
    )


def find_force(code: str) -> Place | None:
    """The newest boundary release of the force with this ONS code."""
    return db.session.scalars(
        select(Place)
        .where(Place.kind == "force", Place.code == code)
        .order_by(Place.release.desc())
    ).first()


def find_district(code: str | None) -> Place | None:
    if not code:
        return None
    return db.session.scalars(
        select(Place).where(Place.kind == "district", Place.code == code)
    ).first()


def find_place_names_at(postcode: Postcode) -> dict[str, str]:
    """Names of the ward and district a postcode lies in, by kind."""
    names: dict[str, str] = {}
    for kind, code in (
        ("ward", postcode.admin_ward_code),
        ("district", postcode.admin_district_code),
    ):
        if code:
            name = db.session.scalar(
                select(Place.name).where(Place.kind == kind, Place.code == code).limit(1)
            )
            if name:
                names[kind] = name
    return names


def is_postcode_in_force(postcode: Postcode, force: Place) -> bool:
    """Inside the force: by its district (exact, as in law) or, with none, by its point."""
    districts = force.properties.get("constituent_lad23cd") or []
    if postcode.admin_district_code and districts:
        return postcode.admin_district_code in districts
    if postcode.location is None:
        return False
    return bool(db.session.scalar(select(func.ST_Covers(force.boundary, postcode.location))))


# Around a postcode district's points: enough that one street's postcodes on a line
# still make an area.
OUTWARD_CODE_MARGIN_M = 100


def find_outward_code_area_wkb(outward_code: str) -> bytes | None:
    """The area a postcode district's live postcodes cover ("BS1": BS1 1AA to BS1
    9ZZ, not BS10-BS16), as WKB (BNG): their hull, OUTWARD_CODE_MARGIN_M wider; None
    when none is known."""
    found = db.session.scalar(
        select(
            func.ST_AsBinary(
                func.ST_Buffer(
                    func.ST_ConvexHull(func.ST_Collect(Postcode.location)), OUTWARD_CODE_MARGIN_M
                )
            )
        ).where(
            Postcode.postcode.like(f"{escape_like(outward_code)}___", escape="\\"),
            Postcode.location.is_not(None),
            Postcode.terminated_on.is_(None),
        )
    )
    return bytes(found) if found is not None else None


def area_meets_area(wkb: bytes, area: Place) -> bool:
    """Whether an area (WKB, BNG) and another (a force's) share more than an edge."""
    shape = func.ST_GeomFromWKB(wkb, BNG)
    return bool(db.session.scalar(select(func.ST_Relate(shape, area.boundary, "T********"))))


def place_meets_area(place_id: int, area: Place) -> bool:
    """Whether a place and an area (a force's) share more than an edge."""
    return bool(
        db.session.scalar(
            select(func.ST_Relate(Place.boundary, area.boundary, "T********")).where(
                Place.id == place_id
            )
        )
    )


def drawable(geometry, simplify_m: float):
    """An outline as a map draws it (SQL): simplified by `simplify_m`, and without the
    2 m squares and holes that fit a place's outline to its postcodes
    (geo.loaders.fit_places_to_postcodes): closed, then opened, by 1.5 m. They decide
    who an area reaches, not what anyone sees, and five decimals of a degree would
    draw them as slivers."""
    closed = func.ST_Buffer(func.ST_Buffer(geometry, 1.5, "join=mitre"), -3.0, "join=mitre")
    return func.ST_SimplifyPreserveTopology(func.ST_Buffer(closed, 1.5, "join=mitre"), simplify_m)


def find_places_geojson(kind: str, simplify_m: float) -> list[dict]:
    """Boundaries of one kind in WGS84, simplified for drawing on the map."""
    geometry = func.ST_AsGeoJSON(func.ST_Transform(drawable(Place.boundary, simplify_m), WGS84), 5)
    rows = db.session.execute(
        select(Place.code, Place.name, geometry).where(Place.kind == kind).order_by(Place.name)
    )
    return [{"code": code, "name": name, "geometry": geo} for code, name, geo in rows]


def find_force_bounds_wgs84(force: Place) -> list[list[float]]:
    """[[south, west], [north, east]] of the force area, as Leaflet wants them."""
    box = db.session.execute(
        select(
            func.ST_XMin(func.ST_Transform(force.boundary, WGS84)),
            func.ST_YMin(func.ST_Transform(force.boundary, WGS84)),
            func.ST_XMax(func.ST_Transform(force.boundary, WGS84)),
            func.ST_YMax(func.ST_Transform(force.boundary, WGS84)),
        )
    ).one()
    return [[box[1], box[0]], [box[3], box[2]]]


def find_postcode_nearest_middle(force: Place) -> str | None:
    """The live postcode nearest a point inside the force area ("SN10 1AB"), shown
    displayed: an example a resident of that force recognises as theirs."""
    return postcode_nearest_middle_of(force.boundary)


def postcode_nearest_middle_of(area) -> str | None:
    """The live postcode nearest a point inside `area` (a BNG geometry, or SQL giving
    one), shown displayed."""
    middle = select(func.ST_PointOnSurface(area)).scalar_subquery()
    return db.session.scalar(
        select(Postcode.display)
        .where(Postcode.terminated_on.is_(None), Postcode.location.is_not(None))
        .order_by(Postcode.location.op("<->")(middle))
        .limit(1)
    )


def places_containing(conn, *, easting: float, northing: float) -> list[dict]:
    """Places (force, district, ward) whose boundary covers a BNG point: the force
    first, then districts, then wards, by name."""
    point = func.ST_SetSRID(func.ST_MakePoint(easting, northing), BNG)
    kind_order = case({"force": 0, "district": 1}, value=Place.kind, else_=2)
    rows = conn.execute(
        select(Place.id, Place.kind, Place.code, Place.name, Place.release)
        .where(func.ST_Covers(Place.boundary, point))
        .order_by(kind_order, Place.name)
    )
    return [dict(r._mapping) for r in rows]


def find_place_boundary_wkb(place_id: int, *, drawn: bool = False) -> bytes | None:
    """A place's boundary (BNG) as WKB, or None when there is no such place; `drawn`:
    as a map draws it (drawable), not as it decides who is in it."""
    boundary = drawable(Place.boundary, 0) if drawn else Place.boundary
    found = db.session.scalar(select(func.ST_AsBinary(boundary)).where(Place.id == place_id))
    return bytes(found) if found is not None else None


def outside_force_km2(force_id: int, area_wkb: bytes):
    """The km² of an area (BNG WKB) outside the newest boundary of this force, as a
    column to select (null: no boundary loaded). The boundary never leaves the database
    (loading it and sending it back cost more than the sum). The officer's preview
    statement (dao/targeting._COUNTED_AHEAD) writes the same in SQL."""
    boundary = (
        select(Place.boundary)
        .join(Force, (Force.code == Place.code) & (Place.kind == "force"))
        .where(Force.id == force_id)
        .order_by(Place.release.desc())
        .limit(1)
        .scalar_subquery()
    )
    area = func.ST_GeomFromWKB(area_wkb, BNG)
    return (func.ST_Area(func.ST_Difference(area, boundary)) / 1e6).label("outside_km2")


def area_outside_km2(force_id: int, area_wkb: bytes) -> float | None:
    """outside_force_km2, found."""
    return db.session.scalar(select(outside_force_km2(force_id, area_wkb)))


def find_targetable_places(
    force: Place | None,
    query: str,
    limit: int = 20,
    *,
    inside: Any = None,
    tolerance_m: float = 0,
) -> list[dict]:
    """The force, its districts and its wards whose names contain `query` (any case),
    force first, then districts, then wards, by name. `inside`: a BNG geometry (an
    officer's teams' permitted area) the places must lie in, give or take
    `tolerance_m` along its edge: a place outside could not be sent to."""
    districts = (force.properties.get("constituent_lad23cd") or []) if force else []
    kind_order = case({"force": 0, "district": 1, "ward": 2}, value=Place.kind)
    query_ = (
        select(Place.id, Place.kind, Place.name)
        .where(
            or_(
                *(
                    Place.name.ilike(f"%{escape_like(form)}%", escape="\\")
                    for form in search_forms(query)
                )
            ),
            # A ward of the force's own districts: another force's were offered.
            ((Place.kind == "ward") & Place.properties["lad23cd"].astext.in_(districts))
            | ((Place.kind == "district") & Place.code.in_(districts))
            | ((Place.kind == "force") & (Place.id == (force.id if force else -1))),
        )
        .order_by(kind_order, Place.name)
        .limit(limit)
    )
    if inside is not None:
        within = func.ST_Buffer(inside, tolerance_m)
        query_ = query_.where(func.ST_CoveredBy(Place.boundary, within))
    rows = db.session.execute(query_).all()
    return [{"id": pid, "kind": kind, "name": name} for pid, kind, name in rows]


def find_place_geojson(place_id: int, simplify_m: float = 20) -> dict | None:
    """One place's name, kind and outline in WGS84 (simplified for drawing)."""
    row = db.session.execute(
        select(
            Place.kind,
            Place.name,
            func.ST_AsGeoJSON(
                func.ST_Transform(drawable(Place.boundary, simplify_m), WGS84),
                5,
            ),
        ).where(Place.id == place_id)
    ).one_or_none()
    if row is None:
        return None
    return {"id": place_id, "kind": row[0], "name": row[1], "geometry": row[2]}


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_postcode_point_wkb(key: str) -> bytes | None:
    """A postcode's point (BNG) as WKB, or None when it has no location."""
    found = db.session.scalar(
        select(func.ST_AsBinary(Postcode.location)).where(
            Postcode.postcode == key, Postcode.location.is_not(None)
        )
    )
    return bytes(found) if found is not None else None


# The fewest characters a place's name is found by the start of.
PREFIX_MIN = 3


def find_place_named(name: str) -> tuple[int, str, str] | None:
    """(id, kind, name) of the ward or district called `name` (any case), or else the
    first whose name starts with it (given at least PREFIX_MIN characters), districts
    before wards; None when none does."""
    kind_order = case({"district": 0, "ward": 1}, value=Place.kind)
    forms = search_forms(name)
    exact = func.lower(Place.name).in_([form.lower() for form in forms])
    # "a" found Aberdeen City, for a list of alerts near "a" (an outside check): a
    # name that short is looked up whole only.
    starts = [
        Place.name.ilike(f"{escape_like(form)}%", escape="\\")
        for form in forms
        if len(form.strip()) >= PREFIX_MIN
    ]
    row = db.session.execute(
        select(Place.id, Place.kind, Place.name)
        .where(Place.kind.in_(("district", "ward")), or_(exact, *starts))
        .order_by(exact.desc(), kind_order, Place.name)
        .limit(1)
    ).one_or_none()
    return (row[0], row[1], row[2]) if row else None
