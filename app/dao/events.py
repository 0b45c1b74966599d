"""Provider events already acted on, by the provider's own id."""

from __future__ import annotations

from sqlalchemy import text

from app.extensions import db


def create_provider_event(event_key: str) -> bool:
    """Record an event; False when it was recorded before (a replay or a retry).
    Part of the caller's transaction: if the caller rolls back, the event is not
    recorded and a retry is acted on."""
    row = db.session.execute(
        text(
            "INSERT INTO provider_events (event_key) VALUES (:key) "
            "ON CONFLICT (event_key) DO NOTHING RETURNING event_key"
        ),
        {"key": event_key[:200]},
    ).first()
    return row is not None
