"""Transports behind one small interface. The development outbox is the default; the
Twilio (SMS, voice) and SMTP (e-mail) transports plug in through transport_for()."""

from __future__ import annotations

from app.channels.base import OutgoingMessage, SendResult, Transport, TransportError
from app.channels.outbox import OutboxTransport


def transport_for(channel: str) -> Transport:
    """The transport configured for a channel. Only the outbox exists so far."""
    return OutboxTransport()


__all__ = ["OutgoingMessage", "SendResult", "Transport", "TransportError", "transport_for"]
