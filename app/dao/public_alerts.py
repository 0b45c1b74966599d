"""What the public may see of alerts: only alerts that went to residents for real or
as an exercise (never a test), and of those only what the force publishes."""

from __future__ import annotations

from sqlalchemy import Select, and_, func, select, text

from app.dao.places import drawable
from app.extensions import db
from app.models import Alert
from geo.projection import WGS84

PUBLIC_MODES = ("live", "exercise")
# An officer's test to themselves (audience "self") is never public, whatever its mode:
# one sent with the exercise box ticked is kept as an exercise, and its draft went on
# the public pages, the feeds and the CAP feed (an outside check). As the sent report
# counts alerts (dao.reports) and lifecycle.is_test says.
TEST_AUDIENCE = "self"


def _public():
    return and_(
        Alert.mode.in_(PUBLIC_MODES),
        Alert.audience != TEST_AUDIENCE,
        Alert.sent_at.is_not(None),
    )


def public_alerts(*, taken_down_too: bool = False) -> Select:
    """Alerts the public can see, newest first: sent (or cancelled after sending began),
    and not taken down; `taken_down_too` for the message check alone (a resident asking
    whether an appeal they got was ours is told it was, not that it never was)."""
    query = select(Alert).where(_public()).order_by(Alert.sent_at.desc(), Alert.id.desc())
    return query if taken_down_too else query.where(Alert.taken_down_at.is_(None))


def find_public_alert(reference: str, *, taken_down_too: bool = False) -> Alert | None:
    return db.session.scalar(
        public_alerts(taken_down_too=taken_down_too).where(Alert.reference == reference)
    )


def find_taken_down(reference: str) -> Alert | None:
    """A public alert whose page has been taken down (its page says so)."""
    return db.session.scalar(
        select(Alert).where(
            _public(), Alert.reference == reference, Alert.taken_down_at.is_not(None)
        )
    )


def find_public_page(
    *,
    offset: int,
    limit: int,
    category: str | None = None,
    area_wkb: bytes | None = None,
    roots_only: bool = False,
) -> tuple[list[Alert], int]:
    """One page of public alerts and how many there are in all, limited to a category
    and to alerts whose area meets `area_wkb` (BNG; a point or a place's boundary)."""
    query = public_alerts()
    if category:
        query = query.where(Alert.category == category)
    if area_wkb is not None:
        # A follow-up to "the residents the first alert reached" has no area of its
        # own: it is found through its original's.
        parent = Alert.__table__.alias("parent")
        area = func.coalesce(
            Alert.area,
            select(parent.c.area).where(parent.c.id == Alert.parent_id).scalar_subquery(),
        )
        asked = func.ST_GeomFromWKB(area_wkb, 27700)
        # A place's boundary must share more than an edge with the alert's area: a
        # point (a postcode's) only has to be in it.
        query = query.where(
            func.ST_Intersects(area, asked),
            (func.ST_Dimension(asked) == 0)
            | (func.ST_Area(func.ST_Intersection(area, asked)) >= WARD_OVERLAP_MIN_M2),
        )
    if roots_only:
        query = query.where(Alert.parent_id.is_(None))
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return list(db.session.scalars(query.offset(offset).limit(limit))), int(total or 0)


def find_public_since(
    limit: int, *, taken_down_too: bool = False, withdrawn_too: bool = False
) -> list[Alert]:
    """The newest public alerts, for the feeds and the message check; `withdrawn_too`:
    those taken down after they were public (the feeds' withdrawals), not those never
    public (an update sent after its original came down had a withdrawal, of nothing
    any reader had: a review)."""
    query = public_alerts(taken_down_too=taken_down_too or withdrawn_too)
    if withdrawn_too and not taken_down_too:
        query = query.where(Alert.taken_down_at.is_(None) | (Alert.taken_down_at > Alert.sent_at))
    return list(db.session.scalars(query.limit(limit)))


def find_public_thread(root_id: int) -> list[Alert]:
    """The original and its public follow-ups, oldest first."""
    return list(
        db.session.scalars(
            select(Alert)
            .where(
                (Alert.id == root_id) | (Alert.parent_id == root_id),
                _public(),
                Alert.taken_down_at.is_(None),
            )
            .order_by(Alert.sent_at, Alert.id)
        )
    )


def find_area_geojson(alert_id: int) -> str | None:
    """The area an alert was for, simplified to 10 m, in WGS84 (for the public map)."""
    return db.session.scalar(
        select(func.ST_AsGeoJSON(func.ST_Transform(drawable(Alert.area, 10), WGS84), 5)).where(
            Alert.id == alert_id
        )
    )


# How far a published outline lies outside the area at least: simplified by 10 m after
# this widening, it keeps 3 m, more than five decimals of a degree move a point.
COVER_WIDEN_M = 13
COVER_SIMPLIFY_M = 10


def find_area_cover_geojson(alert_id: int) -> str | None:
    """An outline in WGS84 that covers the whole area an alert was for (CAP's, which
    has no holes and is taken as where to warn): widened, then simplified by less. The
    map's outline (find_area_geojson) is simplified and loses the 2 m squares fitted
    to postcodes, so a published one lay 7 m inside a resident who had the alert (an
    outside check)."""
    widened = func.ST_Buffer(Alert.area, COVER_WIDEN_M, "join=mitre mitre_limit=2")
    cover = func.ST_SimplifyPreserveTopology(widened, COVER_SIMPLIFY_M)
    return db.session.scalar(
        select(func.ST_AsGeoJSON(func.ST_Transform(cover, WGS84), 5)).where(Alert.id == alert_id)
    )


# Less of a ward than this inside an area is not "in" it: a ward beside a ward the
# area is made of shares its edge, and two boundaries' copies of an edge differ by
# slivers of float.
WARD_OVERLAP_MIN_M2 = 10


def find_ward_names(alert_id: int, limit: int = 12) -> list[str]:
    """The wards an alert's area covers, those it covers most first, and the districts
    it covers where no ward of theirs is loaded (a force may load only its own wards:
    a cross-border alert named only Bath's wards to Wiltshire's residents). Not those
    that only touch it: an alert of Ashley ward with Clifton left out named five wards
    beside them, and the list of alerts found it "for Lockleaze" (an outside check)."""
    rows = db.session.execute(
        text(
            """
            WITH area AS (SELECT area FROM alerts WHERE id = :alert_id),
            covered AS (
                SELECT p.kind, p.name, p.boundary,
                       ST_Area(ST_Intersection(p.boundary, area.area)) AS overlap
                FROM places p, area
                WHERE p.kind IN ('ward', 'district') AND ST_Intersects(p.boundary, area.area)
            )
            SELECT name, max(overlap) AS overlap FROM covered c
            WHERE overlap >= :least
              AND (kind = 'ward' OR NOT EXISTS (
                  SELECT 1 FROM covered w
                  WHERE w.kind = 'ward' AND w.overlap >= :least
                    AND ST_Contains(c.boundary, ST_PointOnSurface(w.boundary))))
            GROUP BY name
            ORDER BY max(overlap) DESC, name
            LIMIT :limit
            """
        ),
        {"alert_id": alert_id, "least": WARD_OVERLAP_MIN_M2, "limit": limit},
    ).all()
    return [name for name, _ in rows]
