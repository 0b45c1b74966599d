"""Teams, who is in them, and the areas they may send to. Queries only; they never
commit."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, text, update

from app.dao import places as places_dao
from app.dao.places import drawable
from app.extensions import db
from app.models import Alert, Officer, Place, Team, TeamArea, alert_teams
from app.models import team_members as members_table
from app.models import team_supervisors as supervisors_table
from geo.projection import BNG, WGS84


def find_teams() -> list[Team]:
    return list(db.session.scalars(select(Team).order_by(func.lower(Team.name))))


def member_team_ids(officer_id: int) -> set[int]:
    return set(
        db.session.scalars(
            select(members_table.c.team_id).where(members_table.c.officer_id == officer_id)
        )
    )


def supervised_team_ids(officer_id: int) -> set[int]:
    return set(
        db.session.scalars(
            select(supervisors_table.c.team_id).where(supervisors_table.c.officer_id == officer_id)
        )
    )


def alert_team_ids(alert_id: int) -> set[int]:
    return set(
        db.session.scalars(select(alert_teams.c.team_id).where(alert_teams.c.alert_id == alert_id))
    )


def team_names(team_ids: set[int]) -> list[str]:
    if not team_ids:
        return []
    return list(
        db.session.scalars(
            select(Team.name).where(Team.id.in_(team_ids)).order_by(func.lower(Team.name))
        )
    )


def team_names_by_alert(alert_ids: list[int]) -> dict[int, list[str]]:
    """Each alert's teams' names, for lists of alerts."""
    if not alert_ids:
        return {}
    rows = db.session.execute(
        select(alert_teams.c.alert_id, Team.name)
        .join(Team, Team.id == alert_teams.c.team_id)
        .where(alert_teams.c.alert_id.in_(alert_ids))
        .order_by(func.lower(Team.name))
    ).all()
    found: dict[int, list[str]] = {}
    for alert_id, name in rows:
        found.setdefault(alert_id, []).append(name)
    return found


def visible_alerts_clause(officer_id: int, team_ids: set[int]):
    """The alerts an officer of these teams may see: their own, those of their teams,
    and those of no team (written by someone in no team)."""
    of_no_team = ~select(alert_teams.c.alert_id).where(alert_teams.c.alert_id == Alert.id).exists()
    of_my_teams = (
        select(alert_teams.c.alert_id)
        .where(alert_teams.c.alert_id == Alert.id, alert_teams.c.team_id.in_(team_ids or {-1}))
        .exists()
    )
    return (Alert.created_by_id == officer_id) | of_no_team | of_my_teams


def find_alerts(*, limit: int, where=None) -> list[Alert]:
    query = select(Alert).order_by(Alert.id.desc()).limit(limit)
    if where is not None:
        query = query.where(where)
    return list(db.session.scalars(query))


def find_pending_alerts(where=None) -> list[Alert]:
    query = select(Alert).where(Alert.status == "pending_approval").order_by(Alert.created_at)
    if where is not None:
        query = query.where(where)
    return list(db.session.scalars(query))


def count_pending_alerts(*, except_author_id: int, where=None) -> int:
    query = (
        select(func.count())
        .select_from(Alert)
        .where(Alert.status == "pending_approval", Alert.created_by_id != except_author_id)
    )
    if where is not None:
        query = query.where(where)
    return db.session.scalar(query) or 0


def alerts_of_teams_clause(team_ids: set[int]):
    """Alerts of any of these teams, or of no team."""
    of_no_team = ~select(alert_teams.c.alert_id).where(alert_teams.c.alert_id == Alert.id).exists()
    of_teams = (
        select(alert_teams.c.alert_id)
        .where(alert_teams.c.alert_id == Alert.id, alert_teams.c.team_id.in_(team_ids or {-1}))
        .exists()
    )
    return of_no_team | of_teams


def supervisors_of(team_ids: set[int]) -> list[Officer]:
    """The active supervisors (and admins named as supervisors) of these teams."""
    if not team_ids:
        return []
    return list(
        db.session.scalars(
            select(Officer)
            .where(
                Officer.active.is_(True),
                Officer.id.in_(
                    select(supervisors_table.c.officer_id).where(
                        supervisors_table.c.team_id.in_(team_ids)
                    )
                ),
            )
            .order_by(Officer.id)
        )
    )


def set_links(table, team_id: int, officer_ids: set[int]) -> tuple[set[int], set[int]]:
    """Make the team's rows in a link table (members or supervisors) exactly these
    officers. Returns (added, removed)."""
    before = set(db.session.scalars(select(table.c.officer_id).where(table.c.team_id == team_id)))
    added, removed = officer_ids - before, before - officer_ids
    if removed:
        db.session.execute(
            delete(table).where(table.c.team_id == team_id, table.c.officer_id.in_(removed))
        )
    if added:
        db.session.execute(
            insert(table), [{"team_id": team_id, "officer_id": oid} for oid in sorted(added)]
        )
    return added, removed


def remove_links(table, officer_id: int) -> set[int]:
    """An officer leaves every team's rows in a link table (members or supervisors).
    Returns the teams' ids."""
    return set(
        db.session.scalars(
            delete(table).where(table.c.officer_id == officer_id).returning(table.c.team_id)
        )
    )


def add_link(table, team_id: int, officer_id: int) -> None:
    """One officer joins a team's rows in a link table (members or supervisors)."""
    db.session.execute(insert(table).values(team_id=team_id, officer_id=officer_id))


def find_staff(roles: tuple[str, ...]) -> list[Officer]:
    return list(
        db.session.scalars(select(Officer).where(Officer.role.in_(roles)).order_by(Officer.name))
    )


def find_area_places(district_codes: list[str]) -> list[dict]:
    """The force's districts and their wards, for choosing permitted areas: districts
    first, then wards by district and name."""
    rows = db.session.execute(
        select(Place.id, Place.kind, Place.name, Place.properties["lad23nm"].astext)
        .where(_of_districts(district_codes))
        .order_by((Place.kind == "ward"), Place.properties["lad23nm"].astext, Place.name)
    ).all()
    return [
        {"id": pid, "kind": kind, "name": name, "district": district or ""}
        for pid, kind, name, district in rows
    ]


def find_place_label(place_id: int, district_codes: list[str]) -> tuple[str, str] | None:
    """(kind, name) of a ward or a district of the force with this id; else None."""
    row = db.session.execute(
        select(Place.kind, Place.name).where(Place.id == place_id, _of_districts(district_codes))
    ).first()
    return (row[0], row[1]) if row else None


def _of_districts(district_codes: list[str]):
    """A district of these, or a ward of one of them (by its release's district code)."""
    codes = district_codes or ["-"]
    return ((Place.kind == "ward") & Place.properties["lad23cd"].astext.in_(codes)) | (
        (Place.kind == "district") & Place.code.in_(codes)
    )


REFRESH_AREA = """
UPDATE teams SET updated_at = now(), area = (
    SELECT ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(coalesce(a.shape, p.boundary))), 3))
    FROM team_areas a LEFT JOIN places p ON p.id = a.place_id
    WHERE a.team_id = :team_id
) WHERE id = :team_id
"""


def refresh_team_area(team_id: int) -> None:
    """Set the team's union area from its permitted areas (NULL when it has none)."""
    db.session.execute(text(REFRESH_AREA), {"team_id": team_id})


def touch_team(team_id: int) -> None:
    db.session.execute(update(Team).where(Team.id == team_id).values(updated_at=func.now()))


def shape_from_geojson(geojson: str):
    """A drawn shape (GeoJSON in WGS84) as a BNG multipolygon expression."""
    return func.ST_Multi(
        func.ST_CollectionExtract(
            func.ST_MakeValid(
                func.ST_Transform(func.ST_SetSRID(func.ST_GeomFromGeoJSON(geojson), WGS84), BNG)
            ),
            3,
        )
    )


def add_shape_area(team_id: int, label: str, geojson: str) -> TeamArea:
    area = TeamArea(team_id=team_id, label=label, shape=shape_from_geojson(geojson))
    db.session.add(area)
    db.session.flush()
    return area


def permitted_teams_limited(team_ids: set[int]) -> bool:
    """Whether every one of these teams has permitted areas (and so limits where its
    officers may send). Any team without: the officer may send anywhere."""
    if not team_ids:
        return False
    unlimited = db.session.scalar(
        select(func.count()).select_from(Team).where(Team.id.in_(team_ids), Team.area.is_(None))
    )
    return unlimited == 0


def permitted_union(team_ids: set[int]):
    """These teams' permitted areas as one BNG geometry (an SQL expression)."""
    return _union(team_ids)


def postcode_nearest_middle(team_ids: set[int]) -> str | None:
    """The live postcode nearest a point inside these teams' permitted areas: the
    example on their officers' map."""
    return places_dao.postcode_nearest_middle_of(_union(team_ids))


def _union(team_ids: set[int]):
    return select(func.ST_Union(Team.area)).where(Team.id.in_(team_ids)).scalar_subquery()


def area_outside_km2(team_ids: set[int], area_wkb: bytes, tolerance_m: float) -> float:
    """How much of an area (BNG WKB) lies outside these teams' permitted areas, in km²,
    allowing `tolerance_m` along their edges (a ward drawn round its own outline)."""
    area = func.ST_GeomFromWKB(area_wkb, BNG)
    permitted = _union(team_ids)
    inside = func.ST_CoveredBy(area, func.ST_Buffer(permitted, tolerance_m))
    outside = func.ST_Area(func.ST_Difference(area, permitted)) / 1e6
    row = db.session.execute(select(inside, outside)).one()
    return 0.0 if row[0] else float(row[1] or 0.0)


def area_inside_geojson(
    team_ids: set[int], area_wkb: bytes, simplify_m: float
) -> tuple[str, float] | None:
    """The part of an area (BNG WKB) inside these teams' permitted areas, as a WGS84
    GeoJSON MultiPolygon simplified by `simplify_m` (a ward's outline has thousands of
    points; within the edge's slack the simplified part is still inside), and its km².
    None when no part is inside."""
    inside = func.ST_Intersection(func.ST_GeomFromWKB(area_wkb, BNG), _union(team_ids))
    # As a map draws it: without slivers, nor the 2 m squares that fit a ward to its
    # postcodes, which no one could draw and six decimals of a degree cannot send back.
    part = func.ST_CollectionExtract(func.ST_MakeValid(drawable(inside, simplify_m)), 3)
    row = db.session.execute(
        select(
            func.ST_AsGeoJSON(func.ST_Transform(func.ST_Multi(part), WGS84), 6),
            func.ST_Area(part) / 1e6,
        ).where(func.NOT(func.ST_IsEmpty(part)))
    ).first()
    return (row[0], float(row[1])) if row else None


def permitted_area_geojson(team_ids: set[int], simplify_m: float = 20) -> str | None:
    """The union of these teams' permitted areas in WGS84, simplified for the map."""
    return db.session.scalar(
        select(
            func.ST_AsGeoJSON(
                func.ST_Transform(drawable(_union(team_ids), simplify_m), WGS84),
                5,
            )
        )
    )


def team_area_geojson(team_id: int, simplify_m: float = 20) -> str | None:
    return db.session.scalar(
        select(
            func.ST_AsGeoJSON(func.ST_Transform(drawable(Team.area, simplify_m), WGS84), 5)
        ).where(Team.id == team_id)
    )


def officers_in_no_team(roles: tuple[str, ...]) -> list[Officer]:
    in_a_team = select(members_table.c.officer_id)
    return list(
        db.session.scalars(
            select(Officer)
            .where(Officer.role.in_(roles), Officer.active.is_(True), Officer.id.not_in(in_a_team))
            .order_by(Officer.name)
        )
    )
