"""Transports behind one small interface: Twilio (SMS, voice) and SMTP (e-mail) when
configured, the development outbox otherwise."""

from __future__ import annotations

from flask import current_app

from app.channels.base import (
    Cancelled,
    NotTried,
    OutgoingMessage,
    ProviderStatus,
    SendResult,
    Transport,
    TransportError,
    Withdrawn,
)
from app.channels.connections import close_async_clients
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
    from app.extensions import redis_store

    return SmtpTransport(SmtpSettings(config), shared=redis_store.client)


def transport_name(channel: str) -> str:
    """The name of the transport that sends a channel's messages (transport_for's),
    without making one."""
    if current_app.config.get("DELIVERY_TRANSPORT") != "providers":
        return "outbox"
    return {"sms": "twilio-sms", "voice": "twilio-voice"}.get(channel, "smtp")


def preload() -> None:
    """Import every transport's code now. A worker that forks a process for each job
    calls this first, so each job starts with it loaded instead of importing aiohttp
    and the Twilio SDK again (most of a second of CPU per job)."""
    from app.channels import sender, smtp, twilio  # noqa: F401

    twilio.preload()


__all__ = [
    "close_async_clients",
    "OutgoingMessage",
    "ProviderStatus",
    "SendResult",
    "Transport",
    "TransportError",
    "Withdrawn",
    "Cancelled",
    "NotTried",
    "preload",
    "transport_for",
    "transport_name",
]
