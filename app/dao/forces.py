"""Forces (app/models/force.py): lookups that read as questions."""

from __future__ import annotations

from sqlalchemy import func, select, text, type_coerce

from app.extensions import db
from app.models import Alert, AlertForce, Delivery, Force, Place, ResidentLocation


def find_default_force() -> Force | None:
    return db.session.scalars(select(Force).where(Force.is_default)).first()


def find_force(force_id: int) -> Force | None:
    return db.session.get(Force, force_id)


def find_force_by_slug(slug: str) -> Force | None:
    return db.session.scalars(select(Force).where(Force.slug == slug)).first()


def find_force_by_code(code: str) -> Force | None:
    return db.session.scalars(select(Force).where(Force.code == code)).first()


def find_forces() -> list[Force]:
    """Every force, the default first, then by name."""
    return list(db.session.scalars(select(Force).order_by(Force.is_default.desc(), Force.name)))


def force_id_at(postcode: str, location) -> int | None:
    """The force a place at this postcode and point is in, as PostgreSQL writes it on
    a resident's place (migration 0034's location_force)."""
    point = type_coerce(location, ResidentLocation.location.type)
    return db.session.scalar(select(func.location_force(postcode, point)))


def reassign_location_forces(wait_seconds: int = 300) -> int:
    """Every resident's place given its force again (migration 0040); how many moved.
    It starts once residents' changes pause, waiting at most wait_seconds."""
    return (
        db.session.scalar(
            text("SELECT reassign_location_forces(:wait)"), {"wait": int(wait_seconds)}
        )
        or 0
    )


def _force_boundary():
    """The newest boundary of the force in the enclosing query (a scalar subquery)."""
    return (
        select(Place.boundary)
        .where(Place.kind == "force", Place.code == Force.code)
        .order_by(Place.release.desc())
        .limit(1)
        .correlate(Force)
        .scalar_subquery()
    )


def find_forces_reaching(alert_id: int, except_force_id: int) -> list[Force]:
    """The forces, other than the alert's own, whose area holds some of the alert's area
    (touching its edge is not enough), by name."""
    boundary = _force_boundary()
    area = select(Alert.area).where(Alert.id == alert_id).scalar_subquery()
    return list(
        db.session.scalars(
            select(Force)
            .where(
                Force.id != except_force_id,
                func.ST_Intersects(boundary, area),
                ~func.ST_Touches(boundary, area),
            )
            .order_by(Force.name)
        )
    )


def find_asks(alert_id: int) -> list[AlertForce]:
    """What the alert's force asked of other forces, by when."""
    return list(
        db.session.scalars(
            select(AlertForce).where(AlertForce.alert_id == alert_id).order_by(AlertForce.asked_at)
        )
    )


def find_ask(alert_id: int, force_id: int, *, lock: bool = False) -> AlertForce | None:
    query = select(AlertForce).where(
        AlertForce.alert_id == alert_id, AlertForce.force_id == force_id
    )
    return db.session.scalar(query.with_for_update() if lock else query)


def find_approved_unsent(alert_id: int) -> list[AlertForce]:
    """The forces that approved an alert whose residents have not been sent it yet."""
    return list(
        db.session.scalars(
            select(AlertForce)
            .where(
                AlertForce.alert_id == alert_id,
                AlertForce.status == "approved",
                AlertForce.sent_at.is_(None),
            )
            .order_by(AlertForce.force_id)
            .with_for_update()
        )
    )


def find_follow_ups_sent_via(alert_id: int, force_id: int) -> list[tuple[Alert, int]]:
    """The alert's follow-ups to the same people that reached force `force_id`'s
    residents through it, with how many of them each reached, oldest first (read
    without the force scope by the caller: the alerts are another force's)."""
    query = (
        select(Alert, func.count(func.distinct(Delivery.resident_id)))
        .join(Delivery, (Delivery.alert_id == Alert.id) & (Delivery.via_force_id == force_id))
        .where(Alert.parent_id == alert_id, Alert.audience == "parent")
        .group_by(Alert.id)
        .order_by(Alert.id)
    )
    return [(alert, residents) for alert, residents in db.session.execute(query)]


def find_asks_of(force_id: int, limit: int = 50) -> list[tuple[AlertForce, Alert]]:
    """What other forces asked of this force, with their alerts (read without the force
    scope by the caller: the alerts are the other forces'): every one waiting, then the
    newest decided, `limit` in all."""
    query = (
        select(AlertForce, Alert)
        .join(Alert, Alert.id == AlertForce.alert_id)
        .where(AlertForce.force_id == force_id)
        .order_by((AlertForce.status != "asked"), AlertForce.asked_at.desc())
        .limit(limit)
    )
    return [(ask, alert) for ask, alert in db.session.execute(query)]


def count_asks_waiting(force_id: int) -> int:
    """How many alerts other forces asked this force to send wait for its decision (not
    those their own force has since cancelled or rejected). The caller counts without
    the force scope: the alerts are the other forces'."""
    return db.session.scalar(
        select(func.count())
        .select_from(AlertForce)
        .join(Alert, Alert.id == AlertForce.alert_id)
        .where(
            AlertForce.force_id == force_id,
            AlertForce.status == "asked",
            Alert.status.not_in(("rejected", "cancelled")),
        )
    )
