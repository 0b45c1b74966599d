"""Follow-ups (updates, all-clears) hang off the original alert: a thread is the
original and every follow-up of it."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Alert


def thread_root(alert: Alert) -> Alert:
    """The original alert of the thread this alert belongs to."""
    root = alert
    while root.parent is not None:
        root = root.parent
    return root


def find_thread_root(alert_id: int) -> Alert | None:
    """The original of the thread alert_id belongs to, which a new follow-up hangs off;
    None when there is no such alert."""
    alert = db.session.get(Alert, alert_id)
    return None if alert is None else thread_root(alert)


def find_thread(alert: Alert) -> list[Alert]:
    """The original alert and every follow-up of it, oldest first."""
    root = thread_root(alert)
    return [root] + list(
        db.session.scalars(
            select(Alert).where(Alert.parent_id == root.id).order_by(Alert.created_at)
        )
    )
