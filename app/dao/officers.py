"""Staff accounts: who can be asked to act now. Queries only; they never commit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, func, or_, select, update

from app.extensions import db
from app.models import Alert, Officer, StaffSession


def find_officers_signed_in_since(
    roles: tuple[str, ...], *, since: datetime, except_id: int | None = None
) -> list[Officer]:
    """Active officers of these roles with a session begun at or after `since` that
    they have not signed out of. A session that ended for being idle still counts: the
    officer is on shift, away from the screen (SESSION_IDLE_MINUTES is short)."""
    signed_in = exists().where(
        StaffSession.officer_id == Officer.id,
        StaffSession.created_at >= since,
        or_(StaffSession.ended_at.is_(None), StaffSession.ended_reason == "idle"),
    )
    query = select(Officer).where(Officer.active.is_(True), Officer.role.in_(roles), signed_in)
    if except_id is not None:
        query = query.where(Officer.id != except_id)
    return list(db.session.scalars(query.order_by(Officer.id)))


def find_active_officers(roles: tuple[str, ...], *, except_id: int | None = None) -> list[Officer]:
    """Every active officer of these roles."""
    query = select(Officer).where(Officer.active.is_(True), Officer.role.in_(roles))
    if except_id is not None:
        query = query.where(Officer.id != except_id)
    return list(db.session.scalars(query.order_by(Officer.id)))


def cancel_scheduled_alerts_of(officer_id: int, actor_id: int | None) -> list[int]:
    """Cancel the alerts this officer wrote that wait for their time or for approval
    (see accounts._set_active); the ids, for their audit events."""
    return list(
        db.session.scalars(
            update(Alert)
            .where(
                Alert.created_by_id == officer_id,
                Alert.status.in_(("scheduled", "pending_approval")),
            )
            .values(status="cancelled", cancelled_at=func.now(), cancelled_by_id=actor_id)
            .returning(Alert.id)
        )
    )
