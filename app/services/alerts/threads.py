"""Follow-ups (updates, all-clears) hang off the original alert: a thread is the
original and every follow-up of it."""

from __future__ import annotations

import dataclasses

from flask import current_app
from sqlalchemy import exists, or_, select

from app.extensions import db
from app.models import Alert


def thread_root(alert: Alert) -> Alert:
    """The original alert of the thread this alert belongs to."""
    root = alert
    while root.parent is not None:
        root = root.parent
    return root


def is_urgent(alert: Alert) -> bool:
    """Whether the alert goes through residents' quiet hours: its category is urgent
    (URGENT_CATEGORIES), or it follows up an alert whose category is. An update of a
    fire's alert ("leave Redcliff Street now") went at the end of the quiet hours of a
    resident its alert had just woken: the page's category for an update is "update"
    (an outside check)."""
    urgent = current_app.config["URGENT_CATEGORIES"]
    return alert.category in urgent or (
        alert.parent is not None and thread_root(alert).category in urgent
    )


def find_thread_root(alert_id: int) -> Alert | None:
    """The original of the thread alert_id belongs to, which a new follow-up hangs off;
    None when there is no such alert."""
    alert = db.session.get(Alert, alert_id)
    return None if alert is None else thread_root(alert)


def on_thread_root(draft):
    """The draft of a follow-up, hanging off its thread's original however it was
    asked for. The alert's page always follows up the original; a direct request
    following up an update made a thread within the thread, whose all-clear the
    thread's checks did not see, and two all-clears went (an outside check). Every
    query of a thread (this module, the public pages, cross-border approvals) reads
    the original and its follow-ups, one level."""
    if draft.parent_id is None:
        return draft
    root = find_thread_root(draft.parent_id)
    if root is None or root.id == draft.parent_id:
        return draft
    return dataclasses.replace(draft, parent_id=root.id)


def find_thread(alert: Alert) -> list[Alert]:
    """The original alert and every follow-up of it, oldest first."""
    root = thread_root(alert)
    return [root] + list(
        db.session.scalars(
            select(Alert).where(Alert.parent_id == root.id).order_by(Alert.created_at)
        )
    )


# An all-clear in these has gone (or is going) to residents: a second would confuse them.
GONE_STATUSES = ("sending", "sent")


def all_clear_sent(alert: Alert) -> bool:
    """Whether the all-clear has gone for this alert's thread (the original or any
    follow-up of it), so that it is not offered again."""
    root = thread_root(alert)
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    or_(Alert.id == root.id, Alert.parent_id == root.id),
                    Alert.category == "all_clear",
                    Alert.status.in_(GONE_STATUSES),
                )
            )
        )
    )


# An all-clear in these is on its way (waiting for approval or its time) or has gone.
_ALL_CLEAR_TAKEN = ("pending_approval", "scheduled", *GONE_STATUSES)


def all_clear_taken(root_id: int) -> bool:
    """Whether the thread of this original already has an all-clear that has gone or
    is waiting to: a second is refused when it is submitted (the page offers the
    all-clear once, but two tabs, two officers or a direct request sent two, each to
    every resident: an outside check). The caller holds the thread's lock."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    or_(Alert.id == root_id, Alert.parent_id == root_id),
                    Alert.category == "all_clear",
                    Alert.status.in_(_ALL_CLEAR_TAKEN),
                )
            )
        )
    )
