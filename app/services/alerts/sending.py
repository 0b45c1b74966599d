"""Sending an alert: one delivery per resident, channel and address written in the
caller's transaction, queued once it is committed; a test to the officer alone; the
sweeper's release of scheduled alerts; and cancelling."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import func, insert, literal, null, select, update

from app.dao.targeting import targeted_channels
from app.extensions import db
from app.models import Alert, Delivery, Officer, Resident
from app.services.alerts.compose import check_words
from app.services.alerts.drafts import AlertDraft, AlertInvalid
from app.services.alerts.lifecycle import NotAllowed, lock_alert, require, transition
from app.services.alerts.targeting import audience_of
from app.services.dispatch import enqueue
from app.services.transaction import read_only, transaction

log = logging.getLogger(__name__)


@dataclass
class SentAlert:
    alert: Alert
    deliveries: int


def send_now_or_later(alert: Alert, actor: Officer | None, *, later: bool) -> int | None:
    """Schedule the alert (later) or write its deliveries now, in the caller's
    transaction. Returns the deliveries written, or None when scheduled: the caller
    queues them (enqueue_safely) once it has committed."""
    if later:
        send_at = alert.send_at.isoformat() if alert.send_at else None
        transition(alert, "schedule", actor, {"send_at": send_at})
        return None
    return write_deliveries(alert, actor)


def write_deliveries(alert: Alert, actor: Officer | None) -> int:
    """Write one delivery per resident, channel and address and mark the alert sending,
    in the caller's transaction. Returns the deliveries written. Raises NotAllowed."""
    targets = targeted_channels(audience_of(alert)).subquery()
    # Quiet hours hold routine alerts until the resident's morning; urgent ones go.
    urgent = alert.category in current_app.config["URGENT_CATEGORIES"]
    held_until = (
        null()
        if urgent or alert.mode == "test"
        else func.quiet_hours_release(Resident.quiet_from, Resident.quiet_until, func.now())
    )
    inserted = (
        insert(Delivery)
        .from_select(
            ["alert_id", "resident_id", "channel", "address", "next_attempt_at"],
            select(
                literal(alert.id),
                targets.c.resident_id,
                targets.c.channel,
                targets.c.address,
                held_until,
            ).join(Resident, Resident.id == targets.c.resident_id),
        )
        .returning(Delivery.id)
        .cte("inserted")
    )
    count = db.session.scalar(select(func.count()).select_from(inserted))
    alert.recipient_count = db.session.scalar(
        select(func.count(func.distinct(Delivery.resident_id))).where(Delivery.alert_id == alert.id)
    )
    alert.sent_at = func.now()
    details = {
        "title": alert.title,
        "mode": alert.mode,
        "deliveries": count,
        "residents": alert.recipient_count,
    }
    transition(alert, "send", actor, details)
    if not count:
        transition(alert, "finish", actor)
    return count


def enqueue_alert_deliveries(alert_id: int) -> int:
    """Queue every still-queued delivery of an alert in batches. Safe to repeat: a job
    only acts on deliveries still in the state it expects."""
    with read_only():
        ids = list(
            db.session.scalars(
                select(Delivery.id)
                .where(Delivery.alert_id == alert_id, Delivery.status == "queued")
                .order_by(Delivery.id)
            )
        )
    enqueue(ids)
    log.info("alert %s: queued %s deliveries", alert_id, len(ids))
    return len(ids)


def enqueue_safely(alert_id: int) -> None:
    """Queue a committed alert's deliveries; with Redis down, leave them to the sweeper."""
    try:
        enqueue_alert_deliveries(alert_id)
    except RedisError:
        # The alert and its deliveries are safely recorded; the sweeper queues them
        # when Redis is back.
        log.exception("alert %s recorded but not queued: Redis unavailable", alert_id)


def send_test_to_self(officer: Officer, *, title: str, body: str) -> SentAlert:
    """The message, marked as a test, to the officer's own e-mail (and mobile, if
    they gave one): nobody else. Raises AlertInvalid."""
    addresses = [("email", officer.email)] + ([("sms", officer.mobile)] if officer.mobile else [])
    with transaction():
        errors: dict[str, str] = {}
        title, body = check_words(AlertDraft(title=title, body=body), errors)
        if errors:
            raise AlertInvalid(errors)
        alert = Alert(
            created_by_id=officer.id,
            title=title,
            body=body,
            mode="test",
            shapes=[],
            recipient_count=1,
            status="draft",
            sent_at=func.now(),
        )
        db.session.add(alert)
        db.session.flush()
        alert_id = alert.id
        for channel, address in addresses:
            db.session.add(Delivery(alert_id=alert.id, channel=channel, address=address))
        transition(alert, "send_test", officer, {"channels": [c for c, _ in addresses]})
    enqueue_safely(alert_id)
    return SentAlert(alert=alert, deliveries=len(addresses))


def release_scheduled_alerts() -> int:
    """Send every scheduled alert whose time has come (the sweeper calls this).
    Safe to run twice at once: each alert is locked and rechecked."""
    with read_only():
        due = list(
            db.session.scalars(
                select(Alert.id).where(Alert.status == "scheduled", Alert.send_at <= func.now())
            )
        )
    released = 0
    for alert_id in due:
        with transaction():
            alert = db.session.scalar(
                select(Alert)
                .where(Alert.id == alert_id, Alert.status == "scheduled")
                .with_for_update(skip_locked=True)
            )
            if alert is not None:
                write_deliveries(alert, None)
        if alert is not None:
            enqueue_safely(alert_id)
            released += 1
    return released


def cancel_alert(officer: Officer, alert_id: int) -> int:
    """Stop an alert: nothing more goes out (a scheduled or unapproved one never does).
    Messages already handed to a provider cannot be recalled. Returns how many
    deliveries were cancelled, or -1 when the alert had already finished."""
    try:
        with transaction():
            # Locked, so that an approval or a scheduled release at the same moment
            # either happens first (and its deliveries are cancelled here) or finds it
            # cancelled.
            alert = lock_alert(alert_id)
            require(alert, "cancel")
            cancelled = _cancel_queued_deliveries(alert_id, f"alert cancelled by {officer.name}")
            alert.cancelled_at = func.now()
            alert.cancelled_by_id = officer.id
            transition(alert, "cancel", officer, {"deliveries_cancelled": cancelled})
    except NotAllowed:
        return -1
    return cancelled


def _cancel_queued_deliveries(alert_id: int, reason: str) -> int:
    cancelled = db.session.execute(
        update(Delivery)
        .where(Delivery.alert_id == alert_id, Delivery.status == "queued")
        .values(
            status="cancelled",
            reason=reason,
            finished_at=func.now(),
            updated_at=func.now(),
        )
        .returning(Delivery.id)
    ).all()
    return len(cancelled)
