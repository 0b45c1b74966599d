"""The rules of an alert's life: which status each action may start from and where it
leaves the alert (one table), the audit event each move writes, who may approve, and
what needs approval. Nothing here commits: the use cases that call it own the
transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.dao.audit import create_audit_event
from app.extensions import db
from app.models import Alert, Officer
from app.services.text import checked_field

# Roles that may approve other people's alerts.
APPROVERS = ("supervisor", "admin")

# A supervisor's reason is refused past this, not cut short: its end may be what matters.
REASON_LENGTH = 1000


def checked_reason(errors: dict[str, str], reason: str) -> str:
    """A supervisor's reason (rejecting an alert, refusing another force's) as kept, its
    mistakes added to `errors` as "reason"'s; "" when none was given."""
    return (
        checked_field(
            errors,
            "reason",
            reason,
            gettext("The reason"),
            multiline=True,
            max_length=REASON_LENGTH,
        )
        or ""
    )


class NotAllowed(PermissionError):
    """The officer may not do this to this alert; the message says why."""


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]  # the statuses the action may start from
    target: str | None  # where it leaves the alert; None: a decision, the status stays
    event: str | None  # the audit event it writes; None: not audited
    verb: str  # for a refusal: "This alert is sent: nothing to approve."


# Not gone yet: nothing of these has reached anyone.
UNSENT = ("draft", "pending_approval", "scheduled")

# Every change of an alert's status goes through this table (models/alert.py lists the
# statuses). An alert is created "draft", which is not a transition.
TRANSITIONS: dict[str, Transition] = {
    # action: Transition(from, to, audit event, verb)
    "request_approval": Transition(
        ("draft",), "pending_approval", "alert.approval_requested", "submit"
    ),
    # The supervisor's yes; "schedule" or "send" moves it on in the same transaction.
    "approve": Transition(("pending_approval",), None, "alert.approved", "approve"),
    "reject": Transition(("pending_approval",), "rejected", "alert.rejected", "reject"),
    # From pending_approval only after "approve" (approval.approve_alert).
    "schedule": Transition(
        ("draft", "pending_approval"), "scheduled", "alert.scheduled", "schedule"
    ),
    "send": Transition(UNSENT, "sending", "alert.sent", "send"),
    "send_test": Transition(("draft",), "sending", "alert.test_sent", "send"),
    # A neighbouring force approved it after it went: sending again, to their residents
    # (cross_border.py; the part's own event is alert.sent_to_force).
    "send_to_force": Transition(("sending", "sent"), "sending", None, "send"),
    # Its messages no provider ever took, queued again by an officer (resend.py).
    "send_again": Transition(("sending", "sent"), "sending", "alert.sent_again", "send_again"),
    # Sent with nothing to deliver (everyone it was for has left). Once deliveries
    # finish, dispatch.mark_alert_sent_when_done makes the same move in its SQL.
    "finish": Transition(("sending",), "sent", None, "finish"),
    "cancel": Transition((*UNSENT, "sending"), "cancelled", "alert.cancelled", "cancel"),
}


# "Send a test to myself" goes to the officer who asked and nobody else: its audience
# is "self". Its mode is "test" (its messages start "TEST, only to you"), or
# "exercise" when it tries out an exercise, so that it carries the exercise marking
# exactly as residents will get it.
TEST_AUDIENCE = "self"


def is_test(alert: Alert) -> bool:
    """Whether the alert is an officer's test to themselves (never followed up, never
    counted as an alert to residents)."""
    return alert.audience == TEST_AUDIENCE or alert.mode == "test"


# An alert's status as a refusal says it ("This alert is sent: nothing to approve."),
# and the refusal for each verb, in the page's language.
STATE_WORDS = {
    "draft": _l("draft"),
    "pending_approval": _l("pending approval"),
    "scheduled": _l("scheduled"),
    "sending": _l("sending"),
    "sent": _l("sent"),
    "rejected": _l("rejected"),
    "cancelled": _l("cancelled"),
}
NOTHING_TO = {
    "submit": _l("This alert is %(status)s: nothing to submit."),
    "approve": _l("This alert is %(status)s: nothing to approve."),
    "reject": _l("This alert is %(status)s: nothing to reject."),
    "schedule": _l("This alert is %(status)s: nothing to schedule."),
    "send": _l("This alert is %(status)s: nothing to send."),
    "finish": _l("This alert is %(status)s: nothing to finish."),
    "cancel": _l("This alert is %(status)s: nothing to cancel."),
    "send_again": _l("This alert is %(status)s: nothing to send again."),
    "ask": _l("This alert is %(status)s: nothing to ask."),
}


def nothing_to(alert: Alert, verb: str) -> str:
    """ "This alert is sent: nothing to approve." """
    status = STATE_WORDS.get(alert.status, alert.status.replace("_", " "))
    return str(NOTHING_TO[verb]) % {"status": status}


def refusal(alert: Alert, action: str) -> str | None:
    """Why the table does not let this alert take this action now, or None."""
    step = TRANSITIONS[action]
    if alert.status in step.sources:
        return None
    return nothing_to(alert, step.verb)


def require(alert: Alert, action: str) -> None:
    """Raises NotAllowed unless the table lets this alert take this action now."""
    refused = refusal(alert, action)
    if refused is not None:
        raise NotAllowed(refused)


def transition(
    alert: Alert, action: str, actor: Officer | None, details: dict[str, Any] | None = None
) -> None:
    """Move the alert as the table says and write the move's audit event, in the
    caller's transaction. `actor` is None for the sweeper. Raises NotAllowed."""
    require(alert, action)
    step = TRANSITIONS[action]
    if step.target is not None:
        alert.status = step.target
    if step.event is not None:
        audit(alert, step.event, actor, details)


def audit(
    alert: Alert, event: str, actor: Officer | None, details: dict[str, Any] | None = None
) -> None:
    """The audit event of something done to an alert, in the caller's transaction: of
    no actor (the sweeper, an all-clear's take-down), in the alert's force's log (it
    went to the first force's: a review)."""
    create_audit_event(
        event,
        actor_id=actor.id if actor else None,
        subject_type="alert",
        subject_id=alert.id,
        details=details,
        force_id=alert.force_id if actor is None else None,
    )


def lock_alert(alert_id: int) -> Alert:
    """The alert, locked until the transaction ends, so that two decisions on it (an
    approval and a cancel, a release by the sweeper) happen one after the other.
    Raises NotAllowed when there is no such alert."""
    lock_original_of(alert_id)
    alert = db.session.scalar(select(Alert).where(Alert.id == alert_id).with_for_update())
    if alert is None:
        raise NotAllowed(gettext("There is no such alert."))
    return alert


def lock_original_of(alert_id: int) -> None:
    """A follow-up to the same people goes to whoever its original reached: its
    original is locked first (shared), so that a neighbouring force's late approval of
    the original (which locks it, then its follow-ups) and this follow-up's send happen
    one after the other, and each sees the other's residents. Originals before
    follow-ups: the one order every decision takes them in."""
    parent_id = db.session.scalar(
        select(Alert.parent_id).where(Alert.id == alert_id, Alert.audience == "parent")
    )
    if parent_id is not None:
        db.session.execute(select(Alert.id).where(Alert.id == parent_id).with_for_update(read=True))


# --- approval -----------------------------------------------------------------------


def needs_approval(category: str, residents: int) -> bool:
    """Whether an alert of this category to this many residents waits for a supervisor."""
    config = current_app.config
    return category in config["APPROVAL_CATEGORIES"] or residents > config["APPROVAL_THRESHOLD"]


def approval_refusal(officer: Officer, alert: Alert, action: str = "approve") -> str | None:
    """Why this officer may not approve (or, with action "reject", reject) this alert,
    or None if they may: a supervisor or admin decides on an alert that waits for
    approval, and never approves their own."""
    if officer.role not in APPROVERS:
        return (
            gettext("Only a supervisor can approve alerts.")
            if action == "approve"
            else gettext("Only a supervisor can reject alerts.")
        )
    refused = refusal(alert, action)
    if refused is not None:
        return refused
    if action == "approve" and alert.created_by_id == officer.id:
        return gettext("You wrote this alert: another supervisor must approve it.")
    return None


def may_approve(officer: Officer, alert: Alert) -> bool:
    return approval_refusal(officer, alert) is None
