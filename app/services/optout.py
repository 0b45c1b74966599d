"""Residents stopping a channel: an SMS STOP, a one-click e-mail unsubscribe."""

from __future__ import annotations

from sqlalchemy import text

from app.dao.audit import create_audit_event
from app.dao.events import create_provider_event
from app.extensions import db

# The words carriers and Twilio treat as opting out, and back in.
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "STOP ALL"}
START_WORDS = {"START", "UNSTOP", "YES"}


def handle_inbound_sms(from_number: str, body: str, message_sid: str | None = None) -> str | None:
    """STOP: unsubscribe every SMS channel on that number and cancel what is still
    queued to it. START: subscribe it again. Returns what was done, or None.

    Each inbound message is acted on once, by its provider id: a replayed START
    (signature and all) cannot undo a later STOP. Returns "duplicate" for a replay."""
    if message_sid and not create_provider_event(f"inbound:{message_sid}"):
        db.session.rollback()
        return "duplicate"
    word = " ".join((body or "").upper().split()).strip(".! ")
    if word in STOP_WORDS:
        stopped = db.session.execute(
            text(
                "UPDATE resident_channels SET unsubscribed_at = now() "
                "WHERE channel = 'sms' AND address = :number AND unsubscribed_at IS NULL "
                "RETURNING resident_id"
            ),
            {"number": from_number},
        ).all()
        cancelled = db.session.execute(
            text(
                "UPDATE deliveries SET status = 'cancelled', reason = 'recipient replied STOP',"
                " finished_at = now(), updated_at = now() "
                "WHERE channel = 'sms' AND address = :number AND status = 'queued' RETURNING id"
            ),
            {"number": from_number},
        ).all()
        create_audit_event(
            "resident.sms_stopped",
            actor_id=None,
            details={"channels": len(stopped), "deliveries_cancelled": len(cancelled)},
        )
        db.session.commit()
        return "stopped"
    if word in START_WORDS:
        db.session.execute(
            text(
                "UPDATE resident_channels SET unsubscribed_at = NULL "
                "WHERE channel = 'sms' AND address = :number"
            ),
            {"number": from_number},
        )
        create_audit_event("resident.sms_started", actor_id=None)
        db.session.commit()
        return "started"
    db.session.commit()  # the event is recorded even when it asked for nothing
    return None


def unsubscribe_channel(resident_id: int, channel: str) -> bool:
    """Stop one channel of one resident. Returns whether anything changed."""
    row = db.session.execute(
        text(
            "UPDATE resident_channels SET unsubscribed_at = now() "
            "WHERE resident_id = :r AND channel = :c AND unsubscribed_at IS NULL "
            "RETURNING resident_id"
        ),
        {"r": resident_id, "c": channel},
    ).first()
    db.session.execute(
        text(
            "UPDATE deliveries SET status = 'cancelled', reason = 'recipient unsubscribed',"
            " finished_at = now(), updated_at = now() "
            "WHERE resident_id = :r AND channel = :c AND status = 'queued'"
        ),
        {"r": resident_id, "c": channel},
    )
    if row is not None:
        create_audit_event("resident.unsubscribed", actor_id=None, details={"channel": channel})
    db.session.commit()
    return row is not None
