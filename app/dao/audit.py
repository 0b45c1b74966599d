from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import has_request_context, request
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import AuditEvent, Officer


def create_audit_event(
    action: str,
    *,
    actor_id: int | None,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
    details: dict | None = None,
    force_id: int | None = None,
) -> AuditEvent:
    """An audit event, in the caller's transaction. Its force is its actor's (the
    trigger of migration 0034); `force_id` puts an event of no actor in that force's
    log (another force's alert sent to its residents)."""
    event = AuditEvent(
        action=action,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=str(subject_id) if subject_id is not None else None,
        details=details or {},
        ip_address=request.remote_addr if has_request_context() else None,
        **({"force_id": force_id} if force_id is not None else {}),
    )
    db.session.add(event)
    return event


# --- reading the log (the admins' audit page); nothing here changes it ---------------


@dataclass(frozen=True)
class AuditQuery:
    """Which events: by whom (an officer's id), what (an action), when (at in
    [since, before)), and none newer than upto_id (a page's snapshot)."""

    actor_id: int | None = None
    nobody: bool = False  # only events no officer did (residents, the system)
    action: str | None = None
    since: datetime | None = None
    before: datetime | None = None
    upto_id: int | None = None


def _where(query: AuditQuery) -> list:
    conditions = []
    if query.actor_id is not None:
        conditions.append(AuditEvent.actor_id == query.actor_id)
    if query.nobody:
        conditions.append(AuditEvent.actor_id.is_(None))
    if query.action:
        conditions.append(AuditEvent.action == query.action)
    if query.since is not None:
        conditions.append(AuditEvent.at >= query.since)
    if query.before is not None:
        conditions.append(AuditEvent.at < query.before)
    if query.upto_id is not None:
        conditions.append(AuditEvent.id <= query.upto_id)
    return conditions


def find_audit_events(
    query: AuditQuery, *, limit: int, offset: int = 0
) -> list[tuple[AuditEvent, str | None]]:
    """The events, newest first, each with the name of the officer who acted."""
    return [
        (event, name)
        for event, name in db.session.execute(
            select(AuditEvent, Officer.name)
            .outerjoin(Officer, Officer.id == AuditEvent.actor_id)
            .where(*_where(query))
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
            .limit(limit)
            .offset(offset)
        )
    ]


def count_audit_events(query: AuditQuery) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(*_where(query)))


def latest_audit_event_id() -> int:
    return db.session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))


# Whether the login in use owns the audit log, or is a member of its owner's role.
LOG_OWNED_BY_THIS_LOGIN = (
    "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class"
    " WHERE oid = 'audit_events'::regclass"
)


def log_owned_by_this_login() -> bool:
    """Whether the database login in use owns the audit log (so it could switch its
    triggers off): true until scripts/harden_audit.sql has been run."""
    return bool(db.session.scalar(text(LOG_OWNED_BY_THIS_LOGIN)))


def find_audit_actions() -> list[str]:
    """Every kind of event the log holds."""
    return list(
        db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action))
    )


def find_audit_actors() -> list[tuple[int, str]]:
    """The staff who have done anything the log records: (id, name), by name."""
    return [
        (officer_id, name)
        for officer_id, name in db.session.execute(
            select(Officer.id, Officer.name)
            .where(select(AuditEvent.id).where(AuditEvent.actor_id == Officer.id).exists())
            .order_by(Officer.name, Officer.id)
        )
    ]


def find_officer_names(ids: set[int]) -> dict[int, str]:
    """The names of the officers events are about, by id."""
    if not ids:
        return {}
    rows = db.session.execute(select(Officer.id, Officer.name).where(Officer.id.in_(ids))).all()
    return {officer_id: name for officer_id, name in rows}
