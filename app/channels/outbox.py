"""The development transport: records each message instead of sending it.

It writes in the caller's transaction, so the record and the delivery's status change
commit together: a job that runs twice cannot record a message twice.
"""

from __future__ import annotations

from app.channels.base import OutgoingMessage, SendResult
from app.channels.smtp import email_text
from app.extensions import db
from app.models import OutboxMessage


def spoken_in_order(message: OutgoingMessage) -> str:
    """A call's words as the resident hears them (both languages when it has both)."""
    if not message.welsh:
        return message.body
    parts = [message.welsh, message.body] if message.welsh_first else [message.body, message.welsh]
    return "\n".join(part for part in parts if part)  # written in Welsh only: no body


class OutboxTransport:
    name = "outbox"
    writes_to_database = True

    def send(self, message: OutgoingMessage) -> SendResult:
        notice = message.notice_id is not None
        record = OutboxMessage(
            delivery_id=None if notice else message.delivery_id,
            notice_id=message.notice_id,
            alert_id=None if notice else message.alert_id,
            channel=message.channel,
            recipient=message.recipient,
            subject=message.subject,
            # An e-mail as the resident reads it, its way to stop included.
            body=(email_text(message) if message.channel == "email" else spoken_in_order(message))
            + (
                f"\n[Then plays the recording, twice: {message.audio_url}]"
                if message.audio_url
                else ""
            ),
        )
        db.session.add(record)
        db.session.flush()
        return SendResult(provider_ref=f"outbox-{record.id}", status="delivered")
