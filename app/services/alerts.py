"""Preview who an area reaches, send an alert, and follow its deliveries."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy import func, insert, literal, select, update

from app.dao.audit import create_audit_event
from app.dao.targeting import count_targets, targeted_channels
from app.extensions import db
from app.models import Alert, Delivery, Officer
from app.services.text import clean_text
from geo.areas import AreaError, area_from_shapes, clean_shapes

log = logging.getLogger(__name__)

MAX_TITLE = 120
MAX_BODY = 1_000
FINISHED_STATUSES = ("sent", "delivered", "failed", "cancelled")


class AlertInvalid(ValueError):
    """The alert cannot be sent as it is; `errors` maps each field to what to fix."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def preview_targets(shapes: list) -> dict:
    """Residents reached per channel by these shapes. Raises AreaError."""
    area = area_from_shapes(shapes)
    counts = count_targets(db.session, area.wkb)
    counts["area_km2"] = round(area.area / 1e6, 3)
    db.session.rollback()  # read-only: end the transaction
    return counts


@dataclass
class SentAlert:
    alert: Alert
    deliveries: int


def submit_alert(
    officer: Officer,
    *,
    shapes: list,
    title: str,
    body: str,
    expected_residents: int | None = None,
) -> SentAlert:
    """Record the alert and one delivery per resident and channel in one transaction,
    then queue the work. Raises AlertInvalid."""
    title, body = clean_text(title), clean_text(body, multiline=True)
    errors: dict[str, str] = {}
    area = None
    try:
        area = area_from_shapes(shapes)
    except AreaError as refusal:
        errors["area"] = str(refusal)
    if not title:
        errors["title"] = "Give the alert a title."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Keep the title to {MAX_TITLE} characters (it is {len(title)})."
    if not body:
        errors["body"] = "Write the message."
    elif len(body) > MAX_BODY:
        errors["body"] = f"Keep the message to {MAX_BODY:,} characters (it is {len(body):,})."
    if errors:
        raise AlertInvalid(errors)

    assert area is not None
    alert = Alert(
        created_by_id=officer.id,
        title=title,
        body=body,
        shapes=clean_shapes(shapes),
        area=func.ST_GeomFromWKB(area.wkb, 27700),
        status="sending",
    )
    db.session.add(alert)
    try:
        db.session.flush()
        targets = targeted_channels(area.wkb).subquery()
        inserted = (
            insert(Delivery)
            .from_select(
                ["alert_id", "resident_id", "channel", "address"],
                select(
                    literal(alert.id), targets.c.resident_id, targets.c.channel, targets.c.address
                ),
            )
            .returning(Delivery.id)
            .cte("inserted")
        )
        count = db.session.scalar(select(func.count()).select_from(inserted))
        if count == 0:
            raise AlertInvalid(
                {"area": "Nobody registered is inside this area. Make it larger or move it."}
            )
        alert.recipient_count = db.session.scalar(
            select(func.count(func.distinct(Delivery.resident_id))).where(
                Delivery.alert_id == alert.id
            )
        )
        if expected_residents is not None and alert.recipient_count != expected_residents:
            # Someone registered or left since the officer saw the count: they must
            # confirm the number that will actually be sent.
            raise AlertInvalid(
                {
                    "area": f"The area now reaches {alert.recipient_count:,} residents, not "
                    f"{expected_residents:,}. Check the new count and send again."
                }
            )
        alert.sent_at = func.now()
        create_audit_event(
            "alert.sent",
            actor_id=officer.id,
            subject_type="alert",
            subject_id=alert.id,
            details={"title": title, "deliveries": count, "shapes": len(shapes)},
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    try:
        enqueue_alert_deliveries(alert.id)
    except RedisError:
        # The alert and its deliveries are safely recorded; `flask alerts requeue`
        # (and, later, the periodic sweeper) queues them when Redis is back.
        log.exception("alert %s recorded but not queued: Redis unavailable", alert.id)
    return SentAlert(alert=alert, deliveries=count)


def enqueue_alert_deliveries(alert_id: int) -> int:
    """Queue every still-queued delivery of an alert in batches. Safe to repeat: a job
    only acts on deliveries still in the state it expects."""
    from app.services.dispatch import enqueue

    ids = list(
        db.session.scalars(
            select(Delivery.id)
            .where(Delivery.alert_id == alert_id, Delivery.status == "queued")
            .order_by(Delivery.id)
        )
    )
    db.session.rollback()
    enqueue(ids)
    log.info("alert %s: queued %s deliveries", alert_id, len(ids))
    return len(ids)


def cancel_alert(officer: Officer, alert_id: int) -> int:
    """Stop an alert: nothing more goes out. Messages already handed to a provider
    cannot be recalled. Returns how many deliveries were cancelled."""
    alert = db.session.get(Alert, alert_id)
    if alert is None or alert.status not in ("sending", "draft"):
        db.session.rollback()
        return 0
    cancelled = db.session.execute(
        update(Delivery)
        .where(Delivery.alert_id == alert_id, Delivery.status == "queued")
        .values(
            status="cancelled",
            reason=f"alert cancelled by {officer.name}",
            finished_at=func.now(),
            updated_at=func.now(),
        )
        .returning(Delivery.id)
    ).all()
    alert.status = "cancelled"
    alert.cancelled_at = func.now()
    alert.cancelled_by_id = officer.id
    create_audit_event(
        "alert.cancelled",
        actor_id=officer.id,
        subject_type="alert",
        subject_id=alert_id,
        details={"deliveries_cancelled": len(cancelled)},
    )
    db.session.commit()
    return len(cancelled)


def alert_progress(alert_id: int) -> dict:
    """Counts of deliveries per channel and status, and whether the alert is finished."""
    rows = db.session.execute(
        select(Delivery.channel, Delivery.status, func.count())
        .where(Delivery.alert_id == alert_id)
        .group_by(Delivery.channel, Delivery.status)
    ).all()
    by_channel: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for channel, status, count in rows:
        by_channel.setdefault(channel, {})[status] = count
        totals[status] = totals.get(status, 0) + count
    total = sum(totals.values())
    done = sum(totals.get(status, 0) for status in FINISHED_STATUSES)
    db.session.rollback()
    return {
        "total": total,
        "by_status": totals,
        "by_channel": by_channel,
        "finished": done == total,
    }
