"""Residents stopping a channel: an SMS STOP, a one-click e-mail unsubscribe."""

from __future__ import annotations

from app.dao import channels as channels_dao
from app.dao.audit import create_audit_event
from app.extensions import db
from app.services.timeline import record_stop, record_unsubscribe

# The words carriers and Twilio treat as opting out, and back in.
STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "STOP ALL"}
START_WORDS = {"START", "UNSTOP", "YES"}


def stop_sms(from_number: str) -> None:
    """STOP: unsubscribe every SMS channel on that number and cancel what is still
    queued to it. The caller commits (services/replies.py acts on each text once)."""
    stopped, cancelled = channels_dao.stop_number(from_number)
    record_stop(from_number)
    create_audit_event(
        "resident.sms_stopped",
        actor_id=None,
        details={"channels": stopped, "deliveries_cancelled": cancelled},
    )


def start_sms(from_number: str) -> None:
    """START: subscribe the number's SMS channels again. The caller commits."""
    channels_dao.start_number(from_number)
    create_audit_event("resident.sms_started", actor_id=None)


def unsubscribe_channel(resident_id: int, channel: str) -> bool:
    """Stop one channel of one resident. Returns whether anything changed."""
    changed = channels_dao.stop_channel(resident_id, channel)
    if changed:
        record_unsubscribe(resident_id, channel)
        create_audit_event("resident.unsubscribed", actor_id=None, details={"channel": channel})
    db.session.commit()
    return changed
