"""SMS and voice calls through the Twilio SDK.

TWILIO_API_BASE_URL points the real SDK at another Twilio-compatible server (the tests'
loopback gateway); unset, it talks to api.twilio.com.
"""

from __future__ import annotations

import threading
from xml.sax.saxutils import escape

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from app.channels.base import OutgoingMessage, SendResult, TransportError

TWILIO_API = "https://api.twilio.com"
# Twilio error codes that no retry can fix (https://www.twilio.com/docs/api/errors).
PERMANENT_CODES = {
    21211: "invalid phone number",
    21214: "number cannot be reached",
    21408: "no permission to send to this region",
    21610: "recipient has replied STOP (opted out)",
    21612: "number cannot receive this message",
    21614: "not a mobile number",
    13224: "invalid phone number for calls",
}


class _RedirectingHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, sending to base_url instead of api.twilio.com."""

    def __init__(self, base_url: str | None, timeout: float):
        super().__init__(timeout=timeout, pool_connections=True)
        self.base_url = base_url.rstrip("/") if base_url else None

    def request(self, method, url, *args, **kwargs):
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        return super().request(method, url, *args, **kwargs)


class TwilioSettings:
    def __init__(self, config):
        self.account_sid = config["TWILIO_ACCOUNT_SID"]
        self.auth_token = config["TWILIO_AUTH_TOKEN"]
        self.messaging_service_sid = config.get("TWILIO_MESSAGING_SERVICE_SID")
        self.from_number = config.get("TWILIO_FROM_NUMBER")
        self.voice_from_number = config.get("TWILIO_VOICE_FROM_NUMBER") or self.from_number
        self.voice = config.get("TWILIO_VOICE", "Polly.Amy")
        self.api_base_url = config.get("TWILIO_API_BASE_URL")
        self.timeout = float(config.get("TWILIO_TIMEOUT_SECONDS", 10))


_local = threading.local()


def _client(settings: TwilioSettings) -> Client:
    """One SDK client per thread (its HTTP session is not shared between threads)."""
    key = (settings.account_sid, settings.api_base_url, settings.timeout)
    cached = getattr(_local, "clients", {})
    if key not in cached:
        http_client = _RedirectingHttpClient(settings.api_base_url, settings.timeout)
        cached[key] = Client(settings.account_sid, settings.auth_token, http_client=http_client)
        _local.clients = cached
    return cached[key]


def _error(error: Exception) -> TransportError:
    if isinstance(error, TwilioRestException):
        if error.status == 429 or error.status >= 500:
            return TransportError(f"Twilio {error.status}: try again", permanent=False)
        reason = PERMANENT_CODES.get(error.code) or (error.msg or "refused")
        return TransportError(f"Twilio {error.code or error.status}: {reason}", permanent=True)
    if isinstance(error, requests.exceptions.ConnectTimeout) or _never_connected(error):
        return TransportError("could not reach Twilio", permanent=False)
    # A read timeout, or a connection dropped after the request went out: Twilio may
    # have accepted it.
    return _maybe_sent()


def _never_connected(error: Exception) -> bool:
    """True when the request cannot have left this machine (no connection was made)."""
    text = repr(error)
    return isinstance(error, requests.exceptions.ConnectionError) and (
        "NewConnectionError" in text or "Failed to resolve" in text or "Connection refused" in text
    )


def _maybe_sent() -> TransportError:
    return TransportError(
        "no answer from Twilio in time; waiting for its status callback",
        permanent=False,
        maybe_sent=True,
    )


class TwilioSmsTransport:
    name = "twilio-sms"
    writes_to_database = False

    def __init__(self, settings: TwilioSettings):
        self.settings = settings

    def send(self, message: OutgoingMessage) -> SendResult:
        sender = (
            {"messaging_service_sid": self.settings.messaging_service_sid}
            if self.settings.messaging_service_sid
            else {"from_": self.settings.from_number}
        )
        try:
            sent = _client(self.settings).messages.create(
                to=message.recipient,
                body=message.body,
                status_callback=message.status_callback_url,
                **sender,
            )
        except (TwilioRestException, requests.exceptions.RequestException) as error:
            raise _error(error) from None
        segments = int(sent.num_segments) if sent.num_segments else None
        return SendResult(provider_ref=sent.sid, status="sent", segments=segments)


def voice_twiml(script: str, voice: str) -> str:
    """Say the script (twice, so someone who picks up late still hears it) in one voice,
    and how to stop the calls. Alert text is escaped: it is never markup."""
    said = escape(script)
    return (
        "<Response>"
        f'<Say voice="{escape(voice)}" language="en-GB">{said}</Say>'
        '<Pause length="1"/>'
        f'<Say voice="{escape(voice)}" language="en-GB">Again: {said}</Say>'
        f'<Say voice="{escape(voice)}" language="en-GB">To stop these calls, call 101.</Say>'
        "</Response>"
    )


class TwilioVoiceTransport:
    name = "twilio-voice"
    writes_to_database = False

    def __init__(self, settings: TwilioSettings):
        self.settings = settings

    def send(self, message: OutgoingMessage) -> SendResult:
        try:
            call = _client(self.settings).calls.create(
                to=message.recipient,
                from_=self.settings.voice_from_number,
                twiml=voice_twiml(message.body, self.settings.voice),
                # Wait for the voicemail greeting to end so the whole message is kept.
                machine_detection="DetectMessageEnd",
                status_callback=message.status_callback_url,
                status_callback_event=["initiated", "answered", "completed"],
                status_callback_method="POST",
            )
        except (TwilioRestException, requests.exceptions.RequestException) as error:
            raise _error(error) from None
        return SendResult(provider_ref=call.sid, status="sent")
