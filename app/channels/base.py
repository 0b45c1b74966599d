from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    delivery_id: int
    alert_id: int
    channel: str  # "sms", "voice" or "email"
    recipient: str  # E.164 number or e-mail address
    subject: str | None
    body: str  # the text, the e-mail body or the script to be spoken


@dataclass(frozen=True)
class SendResult:
    provider_ref: str
    # "delivered" when the transport knows it arrived (the outbox), else "sent" and a
    # provider callback moves it on later.
    status: str


class TransportError(Exception):
    """The provider refused or failed; `permanent` says whether a retry could help."""

    def __init__(self, reason: str, *, permanent: bool):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Transport(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> SendResult: ...
