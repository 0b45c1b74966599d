"""E-mail over SMTP: plain text and HTML (escaped), with RFC 8058 one-click unsubscribe."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import html
import re
import select
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr

from redis import Redis
from redis.exceptions import RedisError

from app.channels.base import OutgoingMessage, SendResult, TransportError
from app.channels.reasons import OUR_FAULT_HOLD_SECONDS, smtp_policy, smtp_quota, smtp_reason

_local = threading.local()

# CRLF and 7-bit bodies (quoted-printable or base64: 8BITMIME is never negotiated).
# refold_source="none": the headers set_raw() puts in go out exactly as made here,
# because Python's header folder loses spaces and can leave an encoded word unclosed.
_POLICY = policy.SMTP.clone(cte_type="7bit", refold_source="none")
# A URI fit to go between RFC 2369's angle brackets on one line (at most 998 in all).
_PLAIN_URI = re.compile(r"[!-;=?-~]{1,900}")  # printable ASCII but < and >


class SmtpSettings:
    def __init__(self, config):
        self.host = config["SMTP_HOST"]
        self.port = int(config.get("SMTP_PORT") or 25)
        self.username = config.get("SMTP_USERNAME")
        self.password = config.get("SMTP_PASSWORD")
        self.starttls = bool(config.get("SMTP_STARTTLS"))
        # The server's certificate is checked against the system's CAs, or this file's
        # (a force's own relay, signed by its own CA).
        self.ca_file = config.get("SMTP_CA_FILE") or None
        self.sender = config["MAIL_FROM"]
        self.timeout = float(config.get("SMTP_TIMEOUT_SECONDS", 10))
        # Keys the hash of an address refused on policy kept in Redis (_refused_so_by_others).
        self.key = str(config.get("SECRET_KEY") or "").encode()


def encoded_header(name: str, value: str) -> str:
    """A header value ready for the wire: as it is when it is ASCII and fits on one
    line, else RFC 2047 encoded words, each whole, one to a folded line.

    >>> encoded_header("Subject", "Road closed")
    'Road closed'
    >>> encoded_header("Subject", "Rhybudd: dŵr")
    '=?utf-8?q?Rhybudd=3A_d=C5=B5r?='
    """
    plain = value.isascii() and value.isprintable() and "=?" not in value
    if plain and len(name) + 2 + len(value) <= _POLICY.max_line_length:
        return value
    # email.header splits only between characters, and encodes the spaces too. 76
    # columns: " " and an encoded word of at most 75 (RFC 2047).
    return Header(value, "utf-8", maxlinelen=76, header_name=name).encode(linesep=_POLICY.linesep)


# How to stop the e-mails, in the resident's language: (before the link, the link's
# words, without a link). A Welsh resident's e-mail ended in English (an outside probe).
STOP_WORDS = {
    False: ("To stop these e-mails: ", "Stop these e-mails", "call 101"),
    True: ("I atal yr e-byst hyn: ", "Atal yr e-byst hyn", "ffoniwch 101"),
}
# Above the link of an alert's e-mail: nothing reads replies, and a resident who
# replied "unsubscribe" was neither stopped nor told (an outside check).
NOT_READ = {
    False: "Replies to this e-mail are not read.",
    True: "Nid yw atebion i'r e-bost hwn yn cael eu darllen.",
}


def email_text(message: OutgoingMessage) -> str:
    """An e-mail's plain words as the resident gets them: the message, then how to stop
    these e-mails (the outbox records the same). A message with its own `closing` ends
    with that instead; "" ends with nothing (a member of staff's e-mail: "call 101 to
    stop these" is for residents)."""
    before, _, without = STOP_WORDS[bool(message.welsh_first)]
    if message.unsubscribe_url:
        not_read = NOT_READ[bool(message.welsh_first)]
        return message.body + "\n\n" + not_read + "\n" + before + message.unsubscribe_url
    if message.closing is not None:
        return message.body + ("\n\n" + message.closing if message.closing else "")
    return message.body + "\n\n" + before + without


def build_email(message: OutgoingMessage, sender: str) -> EmailMessage:
    email = EmailMessage(policy=_POLICY)
    email["From"] = sender
    email["To"] = message.recipient
    email.set_raw("Subject", encoded_header("Subject", message.subject or ""))
    kind, number = (
        ("notice", message.notice_id) if message.notice_id else ("delivery", message.delivery_id)
    )
    # RFC 5322 asks for a Date, and a Message-ID of our own domain (the machine's name,
    # make_msgid's default, is "localhost" in a container): mail filters count both.
    email["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    # Raw, on one line: with the domain the header passes 78 characters, and the
    # policy would fold it before the "<" (the value then read " <…>").
    email.set_raw("Message-ID", make_msgid(idstring=f"{kind}-{number}", domain=domain))
    if message.unsubscribe_url:
        if not _PLAIN_URI.fullmatch(message.unsubscribe_url):
            raise ValueError(f"not a plain URI: {message.unsubscribe_url!r}")
        # Raw: the policy would write a line over 78 as encoded words, which mail
        # programs do not read as a URI. A URL has no space to fold at; one line is fine.
        email.set_raw("List-Unsubscribe", f"<{message.unsubscribe_url}>")
        # RFC 8058: mail clients POST to the URL; a scanner following links cannot.
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(email_text(message))
    # In the resident's language, as our pages are: a screen reader read Welsh e-mails
    # with English rules (an outside check); each paragraph in another marked so.
    language = "cy" if message.welsh_first else "en-GB"
    parts = message.body.split("\n\n")
    marks = message.paragraph_languages
    if len(marks) > len(parts):  # not this body's: marking none beats marking wrongly
        marks = ()
    paragraphs = "".join(
        f"<p{_lang_attribute(mark, language)}>"
        f"{_linked(html.escape(part), message.links).replace(chr(10), '<br>')}</p>"
        for part, mark in zip(parts, (*marks, *[None] * (len(parts) - len(marks))), strict=True)
    )
    unsubscribe = (
        f"<p>{html.escape(NOT_READ[bool(message.welsh_first)])}<br>"
        f'<a href="{html.escape(message.unsubscribe_url)}">'
        f"{STOP_WORDS[bool(message.welsh_first)][1]}</a></p>"
        if message.unsubscribe_url
        else ""
    )
    email.add_alternative(
        f'<!doctype html><html lang="{language}"><body>{paragraphs}{unsubscribe}</body></html>',
        subtype="html",
    )
    # After: making the message multipart moves Content- headers into its first part.
    # Each language it is written in, its own first (RFC 3282).
    others = sorted({mark for mark in marks if mark and mark != language})
    email["Content-Language"] = ", ".join([language, *others])
    return email


def _linked(escaped: str, links: tuple[str, ...]) -> str:
    """Escaped text with our own links in it made links (the check page's was text a
    resident had to copy: an outside check); each a whole word, an officer's left."""
    for link in links:
        shown = html.escape(link)
        if _PLAIN_URI.fullmatch(link):
            anchor = f'<a href="{shown}">{shown}</a>'
            # A whole word, or one a sentence's full stop or comma ends.
            escaped = re.sub(
                rf"(?<!\S){re.escape(shown)}(?=[.,;:!?)]*(?:\s|$))",
                lambda _, a=anchor: a,
                escaped,
            )
    return escaped


def _lang_attribute(mark: str | None, language: str) -> str:
    return f' lang="{mark}"' if mark and mark != language else ""


class _Smtp(smtplib.SMTP):
    """smtplib's SMTP, knowing whether the message itself has gone: the server must not
    deliver a message until the line that ends it (a lone dot, RFC 5321 4.1.1.4), so a
    send that stops before that line sent nothing, and one that stops after it, before
    the server's answer, may have left the message with the server. `before_end` may
    keep the message back at the last moment; `not_taken` hears a refusal of it."""

    message_went = False
    before_end: Callable[[], None] | None = None
    not_taken: Callable[[], None] | None = None

    def data(self, msg):
        """smtplib's DATA, with the message and the line that ends it sent apart."""
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        if isinstance(msg, str):
            msg = _LINE_END.sub("\r\n", msg).encode("ascii")
        body = _DOT_AT_LINE_START.sub(b"..", msg)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.send(body)
        if self.before_end is not None:
            try:
                self.before_end()
            except BaseException:
                self.close()  # hung up before the end: the server delivers nothing
                raise
        try:
            if self._stopped_reading():
                raise smtplib.SMTPServerDisconnected("the server stopped before the end")
            self.send(b".\r\n")
        except BaseException:
            # The line that ends it was not handed to the network (the server hung up
            # after the message, before it): nothing can be delivered, so it is unsent
            # again and tried again, not counted possibly sent (an outside check lost
            # 31 e-mails to servers that hung up mid-message). A write that is handed
            # over whole returns, however late it arrives.
            if self.not_taken is not None:
                self.not_taken()
            raise
        self.message_went = True
        try:
            code, reply = self.getreply()
        except smtplib.SMTPServerDisconnected as error:
            if isinstance(error.__context__, ConnectionResetError):
                # A reset: the server closed with what we sent still unread, the line
                # that ends the message among it, so it delivers nothing: unsent again
                # and tried again (an outside check: 40 e-mails hung up on part-way
                # through, each "possibly sent", never reached their residents). A
                # server that read it all and then hung up (a clean close) may have it.
                self.message_went = False
                if self.not_taken is not None:
                    self.not_taken()
            raise
        if code != 250 and self.not_taken is not None:
            self.not_taken()
        return code, reply

    def _stopped_reading(self) -> bool:
        """Whether the server has already hung up, or answered, before the message's
        end: it says nothing during a message, so anything to read (its close, a reset,
        an early refusal) means it stopped reading it."""
        sock = self.sock
        if sock is None:
            return True
        if isinstance(sock, ssl.SSLSocket):
            return False  # its own records may be waiting (a session ticket): not looked at
        try:
            poller = select.poll()  # not select(): it refuses a descriptor past 1,023
            poller.register(sock, select.POLLIN)
            if not poller.poll(0):
                return False
            sock.recv(1, socket.MSG_PEEK)
        except OSError:
            return True
        return True


_LINE_END = re.compile(r"\r\n|\n|\r(?!\n)")
# A line of the message that starts with a dot gets another (RFC 5321 4.5.2).
_DOT_AT_LINE_START = re.compile(rb"(?m)^\.")


class SmtpTransport:
    name = "smtp"
    writes_to_database = False

    def __init__(self, settings: SmtpSettings, shared: Redis | None = None):
        """`shared`: where every worker says when the mail server last took an address,
        and which it refused on policy since (_took_one, _refused_so_by_others)."""
        self.settings = settings
        self.shared = shared
        self._took = shared.register_script(_TOOK) if shared is not None else None
        self._refusals = shared.register_script(_REFUSALS) if shared is not None else None

    def _took_one(self) -> None:
        if self._took is not None:
            with contextlib.suppress(RedisError):
                self._took(keys=[TOOK_KEY], args=[REMEMBER_SECONDS])

    def _refused_so_by_others(self, recipient: str) -> bool:
        """Whether POLICY_REFUSED_OF addresses, this one among them, were refused on
        policy since the server last took one (in REMEMBER_SECONDS): then it is our
        server it refuses. Never for an address refused so before the server last took
        another (RESTRICTED_KEY). Unknown (no Redis): our server's, as before. Kept by
        a keyed hash of each address, never the address."""
        if self._refusals is None:
            return True
        key = self.settings.key
        member = hmac.new(key, recipient.lower().encode(), hashlib.sha256).hexdigest()[:32]
        try:
            refused = self._refusals(
                keys=[REFUSED_KEY, TOOK_KEY, RESTRICTED_KEY],
                args=[member, REMEMBER_SECONDS],
            )
        except RedisError:
            return True
        return int(refused) >= POLICY_REFUSED_OF

    def _refused_alone(self, code: int, text, message: OutgoingMessage) -> TransportError:
        """A refusal of the message's one address, at RCPT or at the message's end. On
        policy (5.7.X): this address's (a restricted mailbox), tried again on its own,
        unless others were refused so too since the server last took one. As our
        server's, one sign-up of such an address held every e-mail, alerts too, for its
        link's 10 minutes (an outside check); at the message's end every other link
        waited 43 to 122 s (a review). Told apart by whether the server took another
        address lately, a relay refusing every address after one was taken was each
        address's, none held, and one sign-up at night held every e-mail for minutes,
        its own retry the probe that ended each wait (an outside check). An address no
        resident has confirmed (a sign-up's link) is not counted: its refusal is its
        own (OutgoingMessage.proven). Our sending quota or rate said of a confirmed
        address is ours at once: any take between its refusals made the addresses
        refused restricted mailboxes, each retried on its own, nothing held or said (a
        review)."""
        if smtp_policy(code, text) and (
            not message.proven
            or (not smtp_quota(code, text) and not self._refused_so_by_others(message.recipient))
        ):
            return TransportError(
                smtp_reason(code, text), permanent=False, wait_alone=POLICY_RETRY_SECONDS
            )
        return _refused(code, text, ours=smtp_policy(code, text))

    def _connection(self) -> smtplib.SMTP:
        connection = getattr(_local, "smtp", None)
        if connection is not None:
            try:
                connection.noop()
                return connection
            except smtplib.SMTPException:
                _local.smtp = None
        s = self.settings
        connection = _Smtp(s.host, s.port, timeout=s.timeout)
        if s.starttls:
            # Checked: smtplib's own default context checks no certificate, and a
            # machine in between would read every address and message (an outside check).
            connection.starttls(context=ssl.create_default_context(cafile=s.ca_file))
        if s.username:
            connection.login(s.username, s.password or "")
        _local.smtp = connection
        return connection

    def send(self, message: OutgoingMessage) -> SendResult:
        if smtplib.quoteaddr(message.recipient) != f"<{message.recipient}>":
            # smtplib would send to what it parses out of it ("x,y@z" goes to <x>).
            raise TransportError("not a single e-mail address", permanent=True)
        email = build_email(message, self.settings.sender)
        connection = None
        try:
            connection = self._connection()
            connection.message_went = False
            connection.before_end = message.before_end
            connection.not_taken = message.not_taken
            # The envelope is the one validated address, never what the headers say.
            refused = connection.send_message(
                email, from_addr=self.settings.sender, to_addrs=[message.recipient]
            )
        except TransportError:
            # Kept back at the last moment (before_end): the server has the message but
            # not its end, and the connection is closed without it (nothing delivered).
            _local.smtp = None
            if connection is not None:
                with contextlib.suppress(OSError):
                    connection.close()
            raise
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            raise self._refused_alone(code, text, message) from None
        except smtplib.SMTPDataError as error:
            # This message refused, for good or for now, as the code says.
            _local.smtp = None
            raise self._refused_alone(error.smtp_code, error.smtp_error, message) from None
        except smtplib.SMTPResponseException as error:
            # Before any recipient: at connecting, EHLO, STARTTLS, AUTH or MAIL FROM. A
            # refusal of our server or our account ("554 … listed at a blocklist", "530
            # authentication required"), never of the resident: for now, whatever its
            # code (an outside check: each failed every e-mail for good at once).
            _local.smtp = None
            raise _refused(error.smtp_code, error.smtp_error, ours=True) from None
        except (TimeoutError, smtplib.SMTPException, OSError) as error:
            _local.smtp = None
            if connection is not None and connection.message_went:
                # Never sent again: the resident may have it already.
                raise TransportError(
                    "the mail server took the e-mail but did not say it had it",
                    permanent=False,
                    maybe_sent=True,
                ) from None
            if isinstance(error, ssl.SSLCertVerificationError):
                # Our configuration's fault, not the resident's: every e-mail waits.
                raise TransportError(
                    "the mail server's certificate could not be checked (SMTP_CA_FILE)",
                    permanent=False,
                    retry_after=OUR_FAULT_HOLD_SECONDS,
                    ours=True,
                ) from None
            raise TransportError("could not reach the mail server", permanent=False) from None
        if refused:
            raise TransportError("the mail server refused the address", permanent=True)
        self._took_one()
        message_id = str(email["Message-ID"]).strip().strip("<>")
        return SendResult(provider_ref=message_id[:64], status="sent")


# A refusal on policy (5.7.X) of a message's one address is that address's (a restricted
# mailbox) until this many addresses have been refused so since the mail server last
# took one: then it is our server that is refused, and every e-mail waits. Said in
# Redis for every worker (RQ runs each job in a process of its own, and a process's own
# memory went with the job: a review), by Redis's clock: when it last took an address
# (TOOK_KEY, a key of its own: holds.TOOK's, kept a week for the alert's page, read as
# taken lately, made a relay refusing us each address's own for a week: a review), and
# a keyed hash of each address refused so, with when (REFUSED_KEY).
POLICY_REFUSED_OF = 3
# An address's own policy refusal is tried again after this long, not on the backoff
# of a moment's fault: a relay refusing every address while one or two e-mails went
# (a sign-up at night, under POLICY_REFUSED_OF) was asked 16 times in a minute (a
# review), and a restricted mailbox's rule does not change in seconds.
POLICY_RETRY_SECONDS = 60.0
TOOK_KEY = "provider:took-lately:smtp"
REFUSED_KEY = "provider:policy-refused:smtp"
# An address refused so again, as it was since the server last took one, is that
# address's: it says nothing new of the server, and renews no wait (after Redis came
# back empty, three restricted mailboxes held every e-mail, each the probe that renewed
# the wait, an incident's e-mails 3 minutes late: an outside check; three "your alerts"
# links asked for addresses a server refused renewed it with their own retries, 226 s:
# a review). Only a new address refused counts.
# Those refused so before the server last took another: restricted mailboxes, whose
# refusals are their own however often they are tried (their retries refilled the
# refused set after every take, and three held every e-mail in cycles: a review).
RESTRICTED_KEY = "provider:policy-restricted:smtp"
REMEMBER_SECONDS = 600
_TOOK = """
local now = redis.call('TIME')
redis.call('SET', KEYS[1], string.format('%d.%06d', now[1], now[2]), 'EX', ARGV[1])
"""
_REFUSALS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[2])
for _, key in ipairs({KEYS[1], KEYS[3]}) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
end
local took = tonumber(redis.call('GET', KEYS[2]) or '0')
local before = redis.call('ZSCORE', KEYS[1], ARGV[1])
if redis.call('ZSCORE', KEYS[3], ARGV[1]) or (before and tonumber(before) <= took) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[3], now, ARGV[1])
  redis.call('EXPIRE', KEYS[3], window)
  return -1
end
if before then
  return -1
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('EXPIRE', KEYS[1], window)
return redis.call('ZCOUNT', KEYS[1], '(' .. took, '+inf')
"""


def _refused(code: int, text, *, ours: bool) -> TransportError:
    """A mail server's refusal: of our server, account or configuration (`ours`: a
    security or policy refusal, relay access denied, SPF failed) for now, every e-mail
    waiting meanwhile rather than each logging in again; else for good when 5xx."""
    if ours:
        # Said so: "security or policy status" alone did not tell an officer that the
        # relay, not the residents, was refusing (an outside check).
        return TransportError(
            f"{smtp_reason(code, text)}: the mail server refused our server or account",
            permanent=False,
            retry_after=OUR_FAULT_HOLD_SECONDS,
            ours=True,
        )
    return TransportError(smtp_reason(code, text), permanent=code >= 500)
