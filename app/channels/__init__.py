"""Transports behind one small interface: Twilio (SMS, voice) and SMTP (e-mail) when
configured, the development outbox otherwise."""

from __future__ import annotations

from flask import current_app

from app.channels.base import OutgoingMessage, SendResult, Transport, TransportError
from app.channels.outbox import OutboxTransport


def transport_for(channel: str) -> Transport:
    """The transport for a channel under the current configuration."""
    config = current_app.config
    if config.get("DELIVERY_TRANSPORT") != "providers":
        return OutboxTransport()
    if channel in ("sms", "voice"):
        from app.channels.twilio import TwilioSettings, TwilioSmsTransport, TwilioVoiceTransport

        settings = TwilioSettings(config)
        return TwilioSmsTransport(settings) if channel == "sms" else TwilioVoiceTransport(settings)
    from app.channels.smtp import SmtpSettings, SmtpTransport

    return SmtpTransport(SmtpSettings(config))


__all__ = ["OutgoingMessage", "SendResult", "Transport", "TransportError", "transport_for"]
