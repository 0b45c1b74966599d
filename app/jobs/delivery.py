"""Deliver messages: claim each delivery, hand it to its channel's transport, record."""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import exists, func, select, update

from app.channels import OutgoingMessage, TransportError, transport_for
from app.extensions import db
from app.jobs import with_app_context
from app.models import Alert, Delivery

log = logging.getLogger(__name__)


@with_app_context
def deliver_batch(delivery_ids: list[int]) -> dict[str, int]:
    """Send each delivery that is still queued. Returns counts by outcome."""
    outcomes = {"sent": 0, "skipped": 0, "failed": 0}
    alerts: dict[int, Alert] = {}
    alert_ids: set[int] = set()
    for delivery_id in delivery_ids:
        claimed = _claim(delivery_id)
        if claimed is None:
            outcomes["skipped"] += 1  # already taken by another run of this job
            continue
        alert_id, channel, address = claimed
        alert_ids.add(alert_id)
        alert = alerts.get(alert_id) or db.session.get(Alert, alert_id)
        alerts[alert_id] = alert
        message = render_message(alert, delivery_id=delivery_id, channel=channel, recipient=address)
        transport = transport_for(channel)
        try:
            result = transport.send(message)
        except TransportError as error:
            db.session.rollback()
            _finish(delivery_id, status="failed", reason=error.reason)
            outcomes["failed"] += 1
            continue
        except Exception as error:
            # Never leave a delivery in "sending" because of a bug: record it, with the
            # kind of error only (its text could quote the recipient).
            db.session.rollback()
            log.exception("delivery %s: %s failed unexpectedly", delivery_id, transport.name)
            _finish(
                delivery_id,
                status="failed",
                reason=f"unexpected error in {transport.name}: {type(error).__name__}",
            )
            outcomes["failed"] += 1
            continue
        _finish(delivery_id, status=result.status, provider_ref=result.provider_ref)
        outcomes["sent"] += 1
    for alert_id in alert_ids:
        _mark_alert_sent_when_done(alert_id)
    log.info("delivered batch of %s: %s", len(delivery_ids), outcomes)
    return outcomes


def _claim(delivery_id: int):
    """Compare-and-swap queued -> sending; None when another worker got there first."""
    row = db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "queued")
        .values(status="sending", updated_at=func.now())
        .returning(Delivery.alert_id, Delivery.channel, Delivery.address)
    ).first()
    if row is None:
        db.session.rollback()
        return None
    db.session.commit()
    return tuple(row)


def _finish(delivery_id: int, *, status: str, provider_ref: str | None = None, reason=None):
    """Move sending -> its outcome, in the transaction the transport wrote in."""
    db.session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == "sending")
        .values(status=status, provider_ref=provider_ref, reason=reason, updated_at=func.now())
    )
    db.session.commit()


def _mark_alert_sent_when_done(alert_id: int) -> None:
    unfinished = exists().where(
        Delivery.alert_id == alert_id, Delivery.status.in_(("queued", "sending"))
    )
    db.session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.status == "sending", ~unfinished)
        .values(status="sent")
    )
    db.session.commit()


def render_message(alert: Alert, *, delivery_id: int, channel: str, recipient: str):
    """The words each channel carries. Alert text is plain text everywhere."""
    force = current_app.config["FORCE_NAME"]
    if channel == "sms":
        body = f"{alert.title}: {alert.body}\n- {force} Police"
        subject = None
    elif channel == "voice":
        body = f"This is a message from {force} Police. {alert.title}. {alert.body}"
        subject = None
    else:
        subject = f"{force} Police: {alert.title}"
        body = f"{alert.body}\n\n{force} Police"
    return OutgoingMessage(
        delivery_id=delivery_id,
        alert_id=alert.id,
        channel=channel,
        recipient=recipient,
        subject=subject,
        body=body,
    )


def find_unfinished_alert_ids() -> list[int]:
    return list(db.session.scalars(select(Alert.id).where(Alert.status == "sending")))


def release_stalled_deliveries(older_than_minutes: int = 10) -> int:
    """Put back to "queued" deliveries stuck in "sending" (their worker died) that the
    outbox never recorded. The outbox writes in the same transaction as the status, so
    no record means it was not sent. Returns how many were released."""
    from app.models import OutboxMessage

    recorded = exists().where(OutboxMessage.delivery_id == Delivery.id)
    result = db.session.execute(
        update(Delivery)
        .where(
            Delivery.status == "sending",
            Delivery.updated_at
            < func.now() - func.make_interval(0, 0, 0, 0, 0, older_than_minutes),
            ~recorded,
        )
        .values(status="queued", updated_at=func.now())
        .returning(Delivery.id)
    )
    released = len(result.all())
    db.session.commit()
    return released
