"""Reading the development outbox, which is residents' data: every view is audited."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from app.dao.audit import create_audit_event
from app.extensions import db
from app.models import Officer, OutboxMessage

PAGE_SIZE = 200


def view_outbox(officer: Officer, *, alert_id: int | None = None):
    """The newest messages (optionally of one alert) and how many there are in all.
    Notices to residents (codes, sign-in links) are shown only outside production, where
    the demo's residents have no other way to read them."""
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(PAGE_SIZE)
    count_query = select(func.count()).select_from(OutboxMessage)
    if current_app.config["ENV_NAME"] == "production":
        query = query.where(OutboxMessage.notice_id.is_(None))
        count_query = count_query.where(OutboxMessage.notice_id.is_(None))
    if alert_id:
        query = query.where(OutboxMessage.alert_id == alert_id)
        count_query = count_query.where(OutboxMessage.alert_id == alert_id)
    messages = db.session.scalars(query).all()
    total = db.session.scalar(count_query)
    create_audit_event(
        "outbox.viewed",
        actor_id=officer.id,
        subject_type="alert" if alert_id else None,
        subject_id=alert_id,
        details={"messages_shown": len(messages)},
    )
    db.session.commit()
    return messages, total
