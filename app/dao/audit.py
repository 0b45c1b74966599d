from __future__ import annotations

from flask import has_request_context, request

from app.extensions import db
from app.models import AuditEvent


def create_audit_event(
    action: str,
    *,
    actor_id: int | None,
    subject_type: str | None = None,
    subject_id: str | int | None = None,
    details: dict | None = None,
) -> AuditEvent:
    event = AuditEvent(
        action=action,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=str(subject_id) if subject_id is not None else None,
        details=details or {},
        ip_address=request.remote_addr if has_request_context() else None,
    )
    db.session.add(event)
    return event
