from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    delivery_id: int
    alert_id: int
    channel: str  # "sms", "voice" or "email"
    recipient: str  # E.164 number or e-mail address
    subject: str | None
    body: str  # the text, the e-mail body or the script to be spoken
    unsubscribe_url: str | None = None  # e-mail: RFC 8058 one-click unsubscribe
    status_callback_url: str | None = None  # SMS and voice: where the provider reports
    notice_id: int | None = None  # a notice to one resident (a code, a link), not an alert
    # Voice: a recording to play (after `body` is said) instead of speaking the text.
    audio_url: str | None = None
    # Voice: a question (or a request to confirm) answered with one key, posted to
    # answer_url. A text carries its question in `body`.
    ask: str | None = None
    answer_url: str | None = None
    # Voice: the words in Welsh too (the officer wrote both), said by the Welsh voice,
    # before `body` for a resident who chose Welsh (`welsh_first`).
    welsh: str | None = None
    welsh_first: bool = False
    # Voice: `ask` is in Welsh, said by the Welsh voice (None: when `welsh_first`). The
    # question of an alert written in Welsh only is Welsh to everyone.
    ask_welsh: bool | None = None
    # Voice: how to stop the calls, said last; in Welsh (by the Welsh voice) for a
    # resident who chose Welsh. None: the English words. An e-mail without an
    # unsubscribe link: its last line instead of "call 101" ("": none, staff's e-mail).
    closing: str | None = None
    # A text: the same text as it would read had the resident's language been the
    # other one when it went (the two languages' order). Asked whether the provider
    # took it, either reading matches: the resident may have changed language since.
    also_reads: tuple[str, ...] = ()
    # E-mail: the language of each of the body's first paragraphs (split at blank
    # lines) where it is not the resident's (message_text.email_languages); those after
    # are in the resident's. A screen reader read a Welsh e-mail's English in Welsh.
    paragraph_languages: tuple[str | None, ...] = ()
    # E-mail: our own links in the body (the check page, the answer page), made links
    # in its HTML part; an officer's are left as text.
    links: tuple[str, ...] = ()
    # E-mail: sent to an address a resident confirmed, and not at anyone's asking (an
    # alert's always are). Only such an address's refusal on policy counts towards our
    # server being refused (smtp): a sign-up's is anyone's to type, and three at a
    # domain of a stranger's refusing us held every e-mail, alerts too, for as long as
    # its own retries were the probes (an outside check); a "your alerts" link anyone
    # may ask for any confirmed address (a review).
    proven: bool = True
    # E-mail: asked once the message has gone to the server but for the line that ends
    # it (the final dot, without which the server must not deliver it); raises
    # (Withdrawn, TransportError) to keep it back. `not_taken`: told when the server
    # answers the end with a refusal (it has not taken the message).
    before_end: Callable[[], None] | None = field(default=None, compare=False, repr=False)
    not_taken: Callable[[], None] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SendResult:
    provider_ref: str
    # "delivered" when the transport knows it arrived (the outbox), else "sent" and a
    # provider callback moves it on later.
    status: str
    segments: int | None = None


@dataclass(frozen=True)
class ProviderStatus:
    """A provider's report on a message it took, in our words (models/delivery.py)."""

    provider_ref: str
    status: str | None  # "sent", "delivered" or "failed"; None for a status not tracked
    event_key: str  # the same report twice has the same key
    reason: str | None = None  # why it failed
    segments: int | None = None
    duration_seconds: int | None = None
    call_ended: bool = False  # a call's last report: its line is free
    opted_out: bool = False  # the provider will not text this number: it replied STOP there


class TransportError(Exception):
    """The provider refused or failed.

    permanent: retrying cannot help (an invalid or opted-out number): fail now.
    maybe_sent: the request may have reached the provider (it timed out after being
    sent): never resend blindly; the provider's status callback settles it.
    opted_out: the provider will not text this number, which opted out with it (STOP
    sent to the provider, or to another service on the same number): stop the channel.
    retry_after: the provider asked us to wait this many seconds before sending again
    (HTTP's Retry-After, with a 429 or a 503).
    ours: the refusal is of our own account, server or sender, not of the recipient
    (a wrong password, a blocked relay): every message through it is refused alike.
    wait_alone: this message alone is tried again after at least this many seconds
    (a rule of its recipient's that does not change in a moment); nothing else waits.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        maybe_sent: bool = False,
        opted_out: bool = False,
        retry_after: float | None = None,
        ours: bool = False,
        wait_alone: float | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.maybe_sent = maybe_sent
        self.opted_out = opted_out
        self.retry_after = retry_after
        self.ours = ours
        self.wait_alone = wait_alone


class Withdrawn(TransportError):
    """Not sent, and nothing to record: just before the request would have gone, the
    row was no longer this attempt's to send (its worker was slow, not dead: the
    sweeper took its rows, and another attempt has this one)."""

    def __init__(self):
        super().__init__("no longer this attempt's to send", permanent=False)


class NotTried(TransportError):
    """Not sent, and never tried: the provider had asked us to wait (Retry-After) when
    its turn came. Tried again when the wait is over without spending one of the
    row's attempts: held sends counted as tries, and under steady 429s with
    Retry-After a sixth of an alert's texts used up their twelve attempts without ever
    reaching the provider, and failed (an outside check). (Redis unable to give a turn
    or a line is a try: it has no wait to keep to, and the tries' backoff spaces them.)"""

    def __init__(self, reason: str, *, retry_after: float | None = None):
        super().__init__(reason, permanent=False, retry_after=retry_after)


class Cancelled(TransportError):
    """Not sent: its alert was cancelled while it waited (for a line, a turn, or the
    rest of its batch). Recorded "cancelled", not retried."""

    def __init__(self):
        super().__init__("alert cancelled before it was sent", permanent=True)


class Transport(Protocol):
    """Sends one message: `send` (blocking) or, for a transport that can keep many
    requests in flight on one event loop, `async send_async` instead. Either raises
    TransportError when the provider refused or failed. A transport may also have
    `async warm_up()`: get ready to send at once (connect), before a rate-limited send."""

    name: str
    # Whether send() writes to the database (and so must run in the job's own thread
    # and transaction) rather than only calling out over the network.
    writes_to_database: bool

    def send(self, message: OutgoingMessage) -> SendResult: ...
