"""SMS and voice calls through the Twilio SDK.

The SDK's asynchronous client (`create_async`) on aiohttp, one per event loop: one job
keeps many requests in flight on a single thread. Measured on this project's machine,
it costs less than half the CPU per message of the SDK's synchronous client on
`requests` with a thread per request in flight (0.5 ms against 1.2 ms).

TWILIO_API_BASE_URL points the real SDK at another Twilio-compatible server (the tests'
loopback gateway); unset, it talks to api.twilio.com.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import weakref
import zlib
from collections import deque
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from xml.sax.saxutils import escape

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from app.channels.base import OutgoingMessage, ProviderStatus, SendResult, TransportError
from app.channels.reasons import (
    OUR_FAULT_HOLD_SECONDS,
    TWILIO_CODES,
    twilio_fault_of_ours,
    twilio_reason,
)
from app.services.text import whole_number

TWILIO_API = "https://api.twilio.com"
# Twilio error codes that no retry can fix (https://www.twilio.com/docs/api/errors).
PERMANENT_CODES = TWILIO_CODES
# The number has opted out at Twilio (replied STOP to one of the account's numbers):
# Twilio will not text it until it replies START, so its texts are stopped here too.
OPTED_OUT = 21610

# Twilio's status words in ours (https://www.twilio.com/docs/messaging/api/message-resource
# and .../voice/api/call-resource).
SMS_STATUSES = {
    "accepted": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}
CALL_STATUSES = {
    "queued": "sent",
    "initiated": "sent",
    "ringing": "sent",
    "in-progress": "sent",
    "answered": "sent",
    "completed": "delivered",
    "busy": "failed",
    "no-answer": "failed",
    "failed": "failed",
    "canceled": "failed",
}


# A call's statuses after which it holds no line.
CALL_ENDED = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def _count(value: str | None, most: int) -> int | None:
    """A count the provider reports, or None when it is not one: only ASCII digits
    (int() also takes "-7" and "١"), and no more than `most`, so that nothing a forged
    or broken callback says reaches the ledger's figures or overflows its columns. (A
    value of thousands of digits was read whole first, and int() refused it: a 500.)"""
    return whole_number(value, most=most)


MOST_SEGMENTS = 1000  # a text of 1,600 characters is at most 24 parts


def _segments(value) -> int | None:
    """A message record's num_segments, or None when it has none or it is no count."""
    return _count(str(value), MOST_SEGMENTS) if value else None


MOST_CALL_SECONDS = 7 * 24 * 3600


# A Twilio SID (SM..., CA..., 34 characters) as a gateway may write one: letters,
# digits, - and _. A NUL in one reached PostgreSQL (an outside check).
SID = re.compile(r"[A-Za-z0-9_-]{1,80}")


def provider_sid(value: str | None) -> str | None:
    """The SID a callback names, or None when it names none we could keep."""
    return value if value and SID.fullmatch(value) else None


def read_status_callback(form) -> ProviderStatus | None:
    """A Twilio status callback (message or call) in our words; None when it lacks the
    SID or the status, or names a SID of no form a SID has."""
    call = bool(form.get("CallSid")) and not form.get("MessageSid")
    provider_ref = provider_sid(form.get("MessageSid") or form.get("CallSid"))
    provider_status = form.get("MessageStatus") or form.get("CallStatus") or ""
    if not provider_ref or not provider_status:
        return None
    status = (CALL_STATUSES if call else SMS_STATUSES).get(provider_status)
    error_code = _count(form.get("ErrorCode"), 99999)
    reason = None
    if status == "failed":
        reason = provider_status
        if error_code is not None:
            known = PERMANENT_CODES.get(error_code)
            reason += f" (Twilio error {error_code}{': ' + known if known else ''})"
    return ProviderStatus(
        provider_ref=provider_ref,
        status=status,
        event_key=f"{provider_ref}:{provider_status}",
        reason=reason,
        segments=_count(form.get("NumSegments"), MOST_SEGMENTS),
        duration_seconds=_count(form.get("CallDuration"), MOST_CALL_SECONDS),
        call_ended=call and provider_status in CALL_ENDED,
        opted_out=not call and status == "failed" and error_code == OPTED_OUT,
    )


class _RedirectingAsyncHttpClient(AsyncHttpClient):
    """The SDK's asynchronous HTTP client interface on one aiohttp session, as its own
    AsyncTwilioHttpClient does, sending to base_url instead of api.twilio.com. Its
    timeouts are for connecting and for reading the answer, never one total, so that a
    timeout says whether the request can have reached Twilio (see _error)."""

    def __init__(self, base_url: str | None, timeout: float):
        super().__init__(logger=logging.getLogger("twilio.http_client"), is_async=True)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout),
            # The sender bounds how many requests are in flight, not the pool.
            connector=aiohttp.TCPConnector(limit=0),
        )

    async def request(
        self,
        method,
        url,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ) -> Response:
        if self.base_url and url.startswith(TWILIO_API):
            url = self.base_url + url[len(TWILIO_API) :]
        headers = dict(headers or {})
        if auth is not None:
            headers["Authorization"] = aiohttp.encode_basic_auth(*auth)
        if self.logger.isEnabledFor(logging.INFO):
            self.log_request({"method": method, "url": url, "params": params, "headers": headers})
        async with self.session.request(
            method.upper(),
            url,
            params=params,
            data=data,
            headers=headers,
            allow_redirects=allow_redirects,
        ) as answer:
            # Undecodable bytes replaced, not raised: a refusal so worded (a proxy's
            # page) was taken for an unreadable success, a message perhaps sent.
            body = await answer.text(errors="replace")
            response = Response(answer.status, body, answer.headers)
        if self.logger.isEnabledFor(logging.INFO):
            self.log_response(answer.status, response)
        if not 200 <= answer.status < 300:  # what the SDK takes for an error
            raise Refused(method, url, response, answer.headers.get("Retry-After"))
        return response

    async def close(self) -> None:
        await self.session.close()


class Refused(TwilioRestException):
    """An answer that is no success, raised by our HTTP client rather than the SDK, in
    one form whatever its body's: the SDK raises TwilioServiceException, which is no
    TwilioRestException, for a body in RFC 9457's form (type, title, status, code), and
    a 503 so worded was taken for an unexpected error and its text failed for good.
    Also says how long the server asked us to wait (Retry-After, with a 429 or 503),
    which the SDK does not pass on."""

    def __init__(self, method: str, url: str, response: Response, retry_after: str | None):
        code, words = _said(response.text)
        super().__init__(response.status_code, url, msg=words, code=code, method=method)
        self.retry_after = (
            seconds_to_wait(retry_after) if response.status_code in (429, 503) else None
        )


def _said(body: str) -> tuple[int | None, str]:
    """The error code and words of an error's body: Twilio's own form (code, message)
    or RFC 9457's (code, detail, title); (None, "") when it is neither (a proxy's page).

    >>> _said('{"code": 20429, "message": "Too Many Requests", "status": 429}')
    (20429, 'Too Many Requests')
    >>> _said('{"type": "x", "title": "Busy", "status": 503, "code": "20503"}')
    (20503, 'Busy')
    >>> _said('<html>Bad gateway</html>'), _said('[1]'), _said('{"code": true}')
    ((None, ''), (None, ''), (None, ''))
    """
    try:
        said = json.loads(body)
    except ValueError:
        return None, ""
    if not isinstance(said, dict):
        return None, ""
    code = said.get("code")
    words = next(
        (w for w in (said.get(k) for k in ("message", "detail", "title")) if isinstance(w, str)),
        "",
    )
    return _count(code if isinstance(code, str) else str(code), 10**9), words[:200]


def seconds_to_wait(retry_after: str | None, now: datetime | None = None) -> float | None:
    """Retry-After's wait in seconds: a number of seconds or an HTTP date (RFC 9110
    10.2.3); None when it is neither. A date past is no wait.

    >>> seconds_to_wait("5"), seconds_to_wait(" 0 "), seconds_to_wait("-3"), seconds_to_wait("")
    (5.0, 0.0, None, None)
    >>> now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    >>> seconds_to_wait("Fri, 04 Dec 2026 12:00:30 GMT", now), seconds_to_wait("soon", now)
    (30.0, None)
    >>> seconds_to_wait("Fri, 04 Dec 2026 11:00:00 GMT", now)
    0.0
    """
    value = (retry_after or "").strip()
    seconds = _count(value, 10**9)
    if seconds is not None:
        return float(seconds)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class TwilioSettings:
    def __init__(self, config):
        self.account_sid = config["TWILIO_ACCOUNT_SID"]
        self.auth_token = config["TWILIO_AUTH_TOKEN"]
        self.messaging_service_sid = config.get("TWILIO_MESSAGING_SERVICE_SID")
        self.from_numbers = _pool(config.get("TWILIO_FROM_NUMBER"))
        self.voice_from_numbers = _pool(config.get("TWILIO_VOICE_FROM_NUMBER")) or self.from_numbers
        self.voice = config.get("TWILIO_VOICE", "Polly.Amy")
        self.voice_cy = config.get("TWILIO_VOICE_CY", "Polly.Gwyneth")
        self.api_base_url = config.get("TWILIO_API_BASE_URL")
        self.timeout = float(config.get("TWILIO_TIMEOUT_SECONDS", 10))
        # A 503 that names no wait: every send waits this long (0: each tries alone).
        self.unavailable_wait = float(config.get("TWILIO_UNAVAILABLE_WAIT_SECONDS", 5))


def _pool(numbers: str | None) -> tuple[str, ...]:
    """Our numbers from a setting: one, or several separated by commas."""
    return tuple(n.strip() for n in (numbers or "").split(",") if n.strip())


def sender_for(pool: tuple[str, ...], recipient: str) -> str | None:
    """The number of the pool a recipient hears from: always the same one for them (a
    resident keeps one number to save and reply to), the pool shared out evenly.

    >>> sender_for(("+441", "+442", "+443"), "+447700900001")
    '+441'
    >>> sender_for((), "+447700900001") is None
    True
    """
    if not pool:
        return None
    return pool[zlib.crc32(recipient.encode()) % len(pool)]


def preload() -> None:
    """Import the SDK's modules for messages and calls (it imports them on first use)."""
    import twilio.rest.api.v2010.account.call
    import twilio.rest.api.v2010.account.message  # noqa: F401


# One asynchronous client per event loop (an aiohttp session belongs to its loop).
_loop_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict] = (
    weakref.WeakKeyDictionary()
)


def _async_client(settings: TwilioSettings) -> Client:
    key = (settings.account_sid, settings.api_base_url, settings.timeout)
    clients = _loop_clients.setdefault(asyncio.get_running_loop(), {})
    if key not in clients:
        http_client = _RedirectingAsyncHttpClient(settings.api_base_url, settings.timeout)
        clients[key] = Client(settings.account_sid, settings.auth_token, http_client=http_client)
    return clients[key]


async def close_async_clients() -> None:
    """Close the running loop's clients and their connections."""
    for client in _loop_clients.pop(asyncio.get_running_loop(), {}).values():
        await client.http_client.close()


async def _warm_up(settings: TwilioSettings, resource: str) -> None:
    """Load the SDK's code for the resource and open a connection to Twilio, by reading
    our own account, so that the first rate-limited send is not the one that pays."""
    client = _async_client(settings)
    getattr(client, resource)  # the SDK imports each resource's module on first use
    try:
        await client.api.v2010.accounts(settings.account_sid).fetch_async()
    except (TwilioRestException, aiohttp.ClientError, TimeoutError) as error:
        logging.getLogger(__name__).warning("warming up Twilio: %s", _error(error).reason)
    except (TwilioException, *_UNREADABLE) as error:
        # An answer the SDK cannot read (a proxy's page): only a warm-up, so the sends
        # go on. Raised, it reached every send waiting on it as an unexpected error.
        logging.getLogger(__name__).warning("warming up Twilio: %s", type(error).__name__)


# Failures that mean the request never left this machine: no connection was made.
_NEVER_CONNECTED = (
    aiohttp.ClientConnectorError,  # refused, unreachable, name not resolved
    aiohttp.ConnectionTimeoutError,
)


# Answers that say the request was not acted on: too many requests, not available now.
REFUSED_FOR_NOW = (429, 503)

# A 503 naming no wait holds every send through Twilio only when most of the latest
# answers in this process were such 503s (UNAVAILABLE_OF of the last UNAVAILABLE_LAST):
# one in five answered so (one of Twilio's servers, say) held all sending 5 s at a
# time, texts went at a fiftieth of their speed, and a large alert's tail failed after
# its retry window while Twilio took four requests in five (an outside check); three in
# a row, among 16 requests in flight, still came every 125 answers or so (a re-check).
# Alone, such a message retries on its own backoff.
UNAVAILABLE_LAST = 10
UNAVAILABLE_OF = 8
_answers: deque[bool] = deque(maxlen=UNAVAILABLE_LAST)  # True: a 503 naming no wait
_answers_lock = threading.Lock()


def _unavailable_answered() -> bool:
    """One more 503 naming no wait: whether most of the latest answers were so."""
    with _answers_lock:
        _answers.append(True)
        return sum(_answers) >= UNAVAILABLE_OF


def _taken() -> None:
    """Twilio took a message."""
    with _answers_lock:
        _answers.append(False)


def _forget_answers() -> None:
    """(For tests: no answers carried over from another test in this process.)"""
    with _answers_lock:
        _answers.clear()


def _error(
    error: Exception, unavailable_wait: float = 0.0, to: str | None = None
) -> TransportError:
    """`to`: the number it was sent to (a region refused is that number's, for some)."""
    if isinstance(error, TwilioRestException):
        if error.status in REFUSED_FOR_NOW:
            retry_after = getattr(error, "retry_after", None)
            if (
                error.status == 503
                and not retry_after
                and unavailable_wait > 0
                and _unavailable_answered()
            ):
                # Twilio is down, not this message: every send waits, and one probes.
                # Each message retrying alone, a minute's outage drew 2,184 requests
                # for 141 texts (an outside check).
                retry_after = unavailable_wait
            return TransportError(
                f"Twilio {error.status}: try again",
                permanent=False,
                retry_after=retry_after,
            )
        if error.status >= 500:
            # A 500, or a 502 / 504 from a proxy in front, can come after the message
            # was made: asked about before any resend, as a timeout is. Taken for a
            # refusal, a gateway that took the text and answered 504 had each resident
            # sent it 11 times, then offered as never taken (an outside check).
            return TransportError(
                f"Twilio {error.status}: it may have taken it; asking Twilio",
                permanent=False,
                maybe_sent=True,
            )
        if twilio_fault_of_ours(error.code, error.status, to):
            # Not the recipient's: tried again, and may be sent again once put right;
            # every send through Twilio waits meanwhile, rather than each trying.
            return TransportError(
                twilio_reason(error.code, error.status),
                permanent=False,
                retry_after=OUR_FAULT_HOLD_SECONDS,
                ours=True,
            )
        return TransportError(
            twilio_reason(error.code, error.status, to),
            permanent=True,
            opted_out=error.code == OPTED_OUT,
        )
    if isinstance(error, _NEVER_CONNECTED):
        return TransportError("could not reach Twilio", permanent=False)
    # A read timeout, or a connection dropped after the request went out: Twilio may
    # have accepted it.
    return _maybe_sent()


# What the SDK raises when Twilio's answer is not what it should be (a body that is not
# JSON, a page cut short, a record without its fields): a proxy's page, a fault.
_UNREADABLE = (ValueError, TypeError, AttributeError, KeyError)


def _maybe_sent() -> TransportError:
    return TransportError(
        "no answer from Twilio in time; waiting for its status callback",
        permanent=False,
        maybe_sent=True,
    )


# How many of a recipient's latest messages or calls to look through: a resident gets a
# handful in the minutes that matter.
LOOK_AT = 20


def _taken_between(created: datetime | None, since: datetime, until: datetime) -> bool:
    # Twilio dates to the whole second: the second `since` falls in counts.
    return created is not None and since.replace(microsecond=0) <= created <= until


async def _fetched(resource):
    """One message or call as Twilio has it now, or None when it has no such one.
    Raises TransportError when it cannot say: an outage, or an answer that is no
    message or call (HTML, a list), which the SDK cannot read."""
    try:
        return await resource.fetch_async()
    except TwilioRestException as error:
        if error.status == 404:
            return None
        raise _cannot_tell(error) from None
    except (TwilioException, aiohttp.ClientError, TimeoutError, *_UNREADABLE) as error:
        raise _cannot_tell(error) from None


def _cannot_tell(error: Exception) -> TransportError:
    if isinstance(error, TwilioRestException):
        why = f"Twilio {error.status}"
    elif isinstance(error, aiohttp.ClientError | TimeoutError):
        why = _error(error).reason
    elif isinstance(error, _UNREADABLE):
        why = "its answer could not be read"
    else:  # the SDK's own, e.g. "Unable to fetch page" with the HTTP status
        why = str(error.args[0]) if error.args else type(error).__name__
    # Not permanent: an outage ends, and the caller asks again while it is of use.
    return TransportError(f"Twilio could not say whether it took it ({why})", permanent=False)


class TwilioSmsTransport:
    name = "twilio-sms"
    writes_to_database = False

    def __init__(self, settings: TwilioSettings):
        self.settings = settings

    def sender(self, message: OutgoingMessage) -> str | None:
        """The number this message goes from (None: the Messaging Service chooses)."""
        if self.settings.messaging_service_sid:
            return None
        return sender_for(self.settings.from_numbers, message.recipient)

    def _params(self, message: OutgoingMessage) -> dict:
        sender = (
            {"messaging_service_sid": self.settings.messaging_service_sid}
            if self.settings.messaging_service_sid
            else {"from_": self.sender(message)}
        )
        return dict(
            to=message.recipient,
            body=message.body,
            status_callback=message.status_callback_url,
            **sender,
        )

    async def send_async(self, message: OutgoingMessage) -> SendResult:
        try:
            sent = await _async_client(self.settings).messages.create_async(**self._params(message))
        except (TwilioRestException, aiohttp.ClientError, TimeoutError) as error:
            raise _error(error, self.settings.unavailable_wait, message.recipient) from None
        except _UNREADABLE:
            # Twilio answered "taken" in words the SDK cannot read: it may have sent it.
            raise _maybe_sent() from None
        if not sent.sid:
            raise _maybe_sent()
        _taken()
        return SendResult(
            provider_ref=sent.sid, status="sent", segments=_segments(sent.num_segments)
        )

    async def warm_up(self) -> None:
        await _warm_up(self.settings, "messages")

    async def status_async(self, provider_ref: str) -> ProviderStatus | None:
        """The text's status as Twilio has it now, in the words of its status callback
        (the same event key, so the callback arriving later changes nothing), or None
        when Twilio has no such message. Raises TransportError when it cannot say."""
        sent = await _fetched(_async_client(self.settings).messages(provider_ref))
        if sent is None:
            return None
        code = sent.error_code
        return read_status_callback(
            {
                "MessageSid": provider_ref,
                "MessageStatus": str(sent.status or ""),
                "ErrorCode": None if code is None else str(code),
                "NumSegments": None if sent.num_segments is None else str(sent.num_segments),
            }
        )

    async def find_async(
        self, message: OutgoingMessage, since: datetime, until: datetime
    ) -> list[SendResult]:
        """The messages Twilio took for this recipient with this text from `since` to
        `until`, newest first (the caller leaves out those another row holds): asked before
        sending again after no answer. Listed by recipient and matched here (Twilio
        filters on the day sent only, and a message still queued there has no date)."""
        client = _async_client(self.settings)
        try:
            found = await client.messages.list_async(to=message.recipient, limit=LOOK_AT)
            return [
                SendResult(
                    provider_ref=sent.sid,
                    status="sent",
                    segments=_segments(sent.num_segments),
                )
                for sent in found
                if sent.sid
                and _taken_between(sent.date_created, since, until)
                and (sent.body == message.body or sent.body in message.also_reads)
            ]
        except (TwilioException, aiohttp.ClientError, TimeoutError, *_UNREADABLE) as error:
            raise _cannot_tell(error) from None


def voice_twiml(
    script: str,
    voice: str,
    audio_url: str | None = None,
    ask: str | None = None,
    answer_url: str | None = None,
    welsh: str | None = None,
    welsh_voice: str | None = None,
    welsh_first: bool = False,
    closing: str | None = None,
    ask_welsh: bool | None = None,
) -> str:
    """Say the script (twice, so someone who picks up late still hears it) in one voice,
    and how to stop the calls. With a recording, say the script once as an introduction
    and play the recording twice. With `answer_url`, end by gathering one key, posted
    there: an answer to `ask` (a question, or a request to confirm), or 9 to stop the
    calls (a resident with only a landline had no way to stop them: an outside check).
    Alert text is escaped: never markup."""

    def say(words: str) -> str:
        return f'<Say voice="{escape(voice)}" language="en-GB">{words}</Say>'

    def say_welsh(words: str) -> str:
        return f'<Say voice="{escape(welsh_voice or voice)}" language="cy-GB">{words}</Say>'

    said = escape(script)
    # A resident who chose Welsh hears our words in the Welsh voice: the introduction to
    # a recording (given in Welsh), the question and the ending (they were said in
    # English between the Welsh words: an outside check).
    ours = say_welsh if welsh_first else say
    if audio_url:
        play = f"<Play>{escape(audio_url)}</Play>"
        again = "Eto." if welsh_first else "Again."
        message = f'{ours(said)}{play}<Pause length="1"/>{ours(again)}{play}'
    elif welsh and not script:
        # Welsh alone (a Welsh speaker's code): said twice in the Welsh voice.
        message = f'{say_welsh(escape(welsh))}<Pause length="1"/>{say_welsh(escape(welsh))}'
    elif welsh:
        # Both languages, the resident's first, then both again.
        both = [say_welsh(escape(welsh)), say(said)]
        if not welsh_first:
            both.reverse()
        message = "".join(both) + '<Pause length="1"/>' + "".join(both)
    else:
        message = f'{say(said)}<Pause length="1"/>{say("Again: " + said)}'
    default = (
        "To stop these calls, press 9 now, or call 101."
        if answer_url
        else "To stop these calls, call 101."
    )
    if closing and welsh_first:
        ending = say_welsh(escape(closing))
    else:
        ending = say(escape(closing or default))
    if answer_url:
        # The question in the voice of its language: an alert written in Welsh only asks
        # in Welsh whoever it calls (the English voice read it: an outside check).
        asks = ours if ask_welsh is None else (say_welsh if ask_welsh else say)
        asked = asks(escape(ask)) if ask else ""
        ending = (
            f'<Gather input="dtmf" numDigits="1" timeout="8" method="POST" '
            f'action="{escape(answer_url)}">{asked}{ending}</Gather>'
        )
    return f"<Response>{message}{ending}</Response>"


class TwilioVoiceTransport:
    name = "twilio-voice"
    writes_to_database = False
    uses_lines = True  # a call holds one of VOICE_LINES until its status says it ended

    def __init__(self, settings: TwilioSettings):
        self.settings = settings

    def sender(self, message: OutgoingMessage) -> str | None:
        """The number this call comes from."""
        return sender_for(self.settings.voice_from_numbers, message.recipient)

    def _params(self, message: OutgoingMessage) -> dict:
        return dict(
            to=message.recipient,
            from_=self.sender(message),
            twiml=voice_twiml(
                message.body,
                self.settings.voice,
                message.audio_url,
                ask=message.ask,
                answer_url=message.answer_url,
                welsh=message.welsh,
                welsh_voice=self.settings.voice_cy,
                welsh_first=message.welsh_first,
                closing=message.closing,
                ask_welsh=message.ask_welsh,
            ),
            # Wait for the voicemail greeting to end so the whole message is kept.
            machine_detection="DetectMessageEnd",
            status_callback=message.status_callback_url,
            status_callback_event=["initiated", "answered", "completed"],
            status_callback_method="POST",
        )

    async def send_async(self, message: OutgoingMessage) -> SendResult:
        try:
            call = await _async_client(self.settings).calls.create_async(**self._params(message))
        except (TwilioRestException, aiohttp.ClientError, TimeoutError) as error:
            raise _error(error, self.settings.unavailable_wait, message.recipient) from None
        except _UNREADABLE:
            raise _maybe_sent() from None
        if not call.sid:
            raise _maybe_sent()
        _taken()
        return SendResult(provider_ref=call.sid, status="sent")

    async def warm_up(self) -> None:
        await _warm_up(self.settings, "calls")

    async def status_async(self, provider_ref: str) -> ProviderStatus | None:
        """The call's status as Twilio has it now, in the words of its status callback
        (the same event key, so the callback arriving later changes nothing), or None
        when Twilio has no such call. Raises TransportError when it cannot say."""
        call = await _fetched(_async_client(self.settings).calls(provider_ref))
        if call is None:
            return None
        duration = call.duration
        return read_status_callback(
            {
                "CallSid": provider_ref,
                "CallStatus": str(call.status or ""),
                "CallDuration": None if duration is None else str(duration),
            }
        )

    async def find_async(
        self, message: OutgoingMessage, since: datetime, until: datetime
    ) -> list[SendResult]:
        """The calls Twilio took to this recipient from our numbers from `since` to
        `until`, newest first. A call's words cannot be listed: the caller leaves out the calls
        another row holds (an earlier alert's call to the same number), so that one is
        never taken for this one's."""
        client = _async_client(self.settings)
        try:
            found = await client.calls.list_async(to=message.recipient, limit=LOOK_AT)
            numbers = self.settings.voice_from_numbers
            return [
                SendResult(provider_ref=call.sid, status="sent")
                for call in found
                if call.sid
                and (not numbers or call._from is None or call._from in numbers)
                and _taken_between(call.date_created, since, until)
            ]
        except (TwilioException, aiohttp.ClientError, TimeoutError, *_UNREADABLE) as error:
            raise _cannot_tell(error) from None
