"""A supervisor approves or rejects an alert that waits for approval."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from app.extensions import db
from app.models import Alert, Officer
from app.services.alerts.drafts import AlertInvalid
from app.services.alerts.lifecycle import NotAllowed, approval_refusal, lock_alert, transition
from app.services.alerts.sending import enqueue_safely, send_now_or_later
from app.services.text import checked_field
from app.services.transaction import transaction


def approve_alert(supervisor: Officer, alert_id: int) -> Alert:
    """A supervisor approves someone else's alert: it goes now, or at its time.
    Raises NotAllowed."""
    with transaction():
        alert = _alert_to_decide(supervisor, alert_id, "approve")
        transition(alert, "approve", supervisor)
        later = alert.send_at is not None and alert.send_at > datetime.now(UTC)
        deliveries = send_now_or_later(alert, supervisor, later=later)
    if deliveries is not None:
        enqueue_safely(alert_id)
    return alert


def reject_alert(supervisor: Officer, alert_id: int, reason: str) -> Alert:
    """Send it back with a reason the author can act on. Raises NotAllowed or
    AlertInvalid."""
    errors: dict[str, str] = {}
    reason = checked_field(errors, "reason", reason, "The reason", multiline=True)
    if errors:
        raise AlertInvalid(errors)
    if not reason:
        raise AlertInvalid({"reason": "Say why, so the officer can put it right."})
    with transaction():
        alert = _alert_to_decide(supervisor, alert_id, "reject")
        alert.rejection_reason = reason[:1000]
        transition(alert, "reject", supervisor, {"reason": reason[:1000]})
    return alert


def _alert_to_decide(supervisor: Officer, alert_id: int, action: str) -> Alert:
    """The alert, locked, if this officer may approve or reject it now; the decision
    is stamped with who and when. Raises NotAllowed."""
    alert = lock_alert(alert_id)
    refused = approval_refusal(supervisor, alert, action)
    if refused is not None:
        raise NotAllowed(refused)
    alert.decided_by_id = supervisor.id
    alert.decided_at = func.now()
    return alert


def find_pending_approval() -> list[Alert]:
    return list(
        db.session.scalars(
            select(Alert).where(Alert.status == "pending_approval").order_by(Alert.created_at)
        )
    )
