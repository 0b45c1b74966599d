"""A supervisor approves or rejects an alert that waits for approval."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.dao import forces as forces_dao
from app.dao.targeting import count_targets, suppressed
from app.extensions import db
from app.models import Alert, Officer
from app.services import authorisation, forces, teams
from app.services.alerts.drafts import AlertInvalid
from app.services.alerts.lifecycle import (
    APPROVERS,
    NotAllowed,
    approval_refusal,
    checked_reason,
    lock_alert,
    transition,
)
from app.services.alerts.review import review_alert
from app.services.alerts.sending import enqueue_safely, send_now_or_later
from app.services.alerts.targeting import audience_of, count_label
from app.services.transaction import transaction

log = logging.getLogger(__name__)


# How far the count an alert goes to may stray from the one its supervisor saw (a
# share of it) before the approval is refused: a sign-up or two a minute in a large
# area should not refuse every approval, but 51 residents sent where 11 were
# approved (an import in between: an outside check) must not happen.
COUNT_LEEWAY = 0.05


def approve_alert(supervisor: Officer, alert_id: int, *, expected: int | None) -> Alert:
    """A supervisor approves someone else's alert: it goes now, or at its time.
    `expected`: the count of residents the page showed (0 for a hidden one); one that
    differs, as staff may see it, by more than COUNT_LEEWAY from the count it goes to
    now refuses the approval, nothing sent, and so does none (None: a page kept open
    from before the count was sent, or a form by hand). Raises NotAllowed."""
    with transaction():
        alert = _alert_to_decide(supervisor, alert_id, "approve")
        if expected is None:
            raise NotAllowed(count_unseen())
        transition(alert, "approve", supervisor)
        later = alert.send_at is not None and alert.send_at > datetime.now(UTC)
        deliveries = send_now_or_later(alert, supervisor, later=later)
        # Scheduled, as its page counted it (approved for 1 of 24, it was: a re-check).
        reached = (
            alert.recipient_count or 0
            if deliveries is not None
            else count_targets(db.session, audience_of(alert))["residents"]
        )
        check_count_as_seen(reached, expected)
    if deliveries is not None:
        enqueue_safely(alert_id)
    return alert


# How long after a supervisor's approval a second one of theirs is taken as a repeat.
APPROVED_JUST_NOW_SECONDS = 120


def approved_just_now(supervisor: Officer, alert_id: int) -> Alert | None:
    """The alert, when this supervisor's own approval of it has just gone through: a
    second tap's request then says what the first did (a double tap on "Approve and
    send" said "Approved" and "nothing to approve" together: an outside check)."""
    db.session.rollback()
    alert = db.session.get(Alert, alert_id)
    if (
        alert is None
        or alert.decided_by_id != supervisor.id
        or alert.status not in ("sending", "sent", "scheduled")
        or alert.decided_at is None
        or (datetime.now(UTC) - alert.decided_at).total_seconds() > APPROVED_JUST_NOW_SECONDS
    ):
        return None
    return alert


def count_unseen() -> str:
    """Why an approval that did not say which count it saw sent nothing."""
    return gettext(
        "Nothing was sent: the approval did not say how many residents you saw. Look at "
        "the count on this page, then approve it again."
    )


def check_count_as_seen(now: int, seen: int) -> None:
    """Raise NotAllowed (its transaction undone) when `now` is not the count seen
    (`seen`: as the page showed it, 0 for a hidden one), give or take COUNT_LEEWAY."""
    shown, before = suppressed(now), suppressed(seen)
    if shown == before or (
        shown is not None and before is not None and abs(shown - before) <= before * COUNT_LEEWAY
    ):
        return
    raise NotAllowed(
        gettext(
            "It was not sent: the area now reaches %(now)s residents, not %(before)s as "
            "the page said. Look at the new count, then approve it again.",
            now=count_label(now),
            before=count_label(seen),
        )
    )


def reject_alert(supervisor: Officer, alert_id: int, reason: str) -> Alert:
    """Send it back with a reason the author can act on. Raises NotAllowed or
    AlertInvalid."""
    errors: dict[str, str] = {}
    with transaction():
        # Whether it can be rejected at all first: a second supervisor's empty reason,
        # the alert approved meanwhile, was shown a page with no message (the reason's
        # box is not drawn once it has gone: an outside check).
        alert = _alert_to_decide(supervisor, alert_id, "reject")
        reason = checked_reason(errors, reason)
        if errors:
            raise AlertInvalid(errors)
        if not reason:
            raise AlertInvalid({"reason": gettext("Say why, so the officer can put it right.")})
        alert.rejection_reason = reason
        transition(alert, "reject", supervisor, {"reason": reason})
    return alert


def _alert_to_decide(supervisor: Officer, alert_id: int, action: str) -> Alert:
    """The alert, locked, if this officer may approve or reject it now; the decision
    is stamped with who and when. Raises NotAllowed."""
    alert = lock_alert(alert_id)
    refused = approval_refusal(supervisor, alert, action)
    if refused is None and not authorisation.may(supervisor, "alert.approve", alert):
        names = ", ".join(teams.alert_team_names(alert))
        refused = gettext(
            "This alert is %(names)s's: a supervisor of that team decides on it.", names=names
        )
    if refused is not None:
        raise NotAllowed(refused)
    alert.decided_by_id = supervisor.id
    alert.decided_at = func.now()
    return alert


def find_pending_approval(officer: Officer | None = None) -> list[Alert]:
    """The alerts waiting for approval, oldest first: with an officer, those of the
    teams they supervise (authorisation, "approvals.list")."""
    query = select(Alert).where(Alert.status == "pending_approval").order_by(Alert.created_at)
    if officer is not None:
        only = authorisation.list_filter(officer, "approvals.list")
        if only is not None:
            query = query.where(only)
    return list(db.session.scalars(query))


def find_pending_reviews(officer: Officer | None = None) -> list[tuple[Alert, dict]]:
    """Each alert waiting for approval (for this officer's teams), oldest first, with
    what residents will get and what it costs (review.review_alert)."""
    return [(alert, review_alert(alert)) for alert in find_pending_approval(officer)]


def count_waiting_for(officer: Officer) -> int | None:
    """How many alerts wait for this officer's decision: other people's, pending
    approval, of the teams they supervise, and other forces' asking this force. None
    for an officer who does not approve, or when the database cannot answer (the menu
    is on every page, error pages too, and must not fail them)."""
    if officer.role not in APPROVERS:
        return None
    try:
        query = (
            select(func.count())
            .select_from(Alert)
            .where(Alert.status == "pending_approval", Alert.created_by_id != officer.id)
        )
        only = authorisation.list_filter(officer, "approvals.list")
        if only is not None:
            query = query.where(only)
        # The officer's force's, on any page: the menu is on a public page of another
        # force too, scoped to that force, where it counted that force's.
        with forces.scoped(officer.force_id):
            waiting = db.session.scalar(query)

        # And what other forces ask this force to send (cross_border.py): their alerts.
        with forces.unscoped():
            return waiting + forces_dao.count_asks_waiting(officer.force_id)
    except SQLAlchemyError:
        log.warning("approvals waiting not counted: the database did not answer")
        return None
