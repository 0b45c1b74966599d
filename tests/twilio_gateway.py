"""A Twilio-compatible HTTP server on loopback, for the real Twilio SDK to talk to.

It speaks the two endpoints we use (Messages.json, Calls.json) with Basic auth, and
lists what it took (GET Messages.json / Calls.json?To=..., newest first) or says how
one call stands (GET Calls/<sid>.json), answers
like Twilio, and then calls the request's StatusCallback signed the way Twilio signs
(X-Twilio-Signature over the URL and the sorted form parameters). It can be told to be
slow and to fail: 429s, 500s, 400s with Twilio error codes, or to accept a request and
then answer too late (the caller times out, yet the message was sent) or not at all
(the connection closes).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import html
import itertools
import random
import re
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiohttp import web
from twilio.request_validator import RequestValidator

PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/(?P<kind>Messages|Calls)\.json$")
SLOW_REFUSAL = "slow refusal"
DROP = -1  # _handle's status for "close the connection without an answer"
ACCOUNT = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)\.json$")
CALL = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Calls/(?P<call>[^/]+)\.json$")
MESSAGE = re.compile(r"^/2010-04-01/Accounts/(?P<sid>[^/]+)/Messages/(?P<message>[^/]+)\.json$")


@dataclass
class Accepted:
    sid: str
    kind: str  # "Messages" or "Calls"
    to: str
    params: dict
    at: float = field(default_factory=time.monotonic)  # when the request arrived
    wall: float = field(default_factory=time.time)  # the same, by the clock


class TwilioGateway:
    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "test-token"):  # noqa: S107
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.accepted: list[Accepted] = []
        self.requests = 0
        self.account_reads: list[float] = []  # when each GET of the account arrived
        self.refused: list[tuple[int, str]] = []
        self.lock = threading.Lock()
        self.latency_s = 0.0
        self.rate_429 = 0.0
        self.rate_500 = 0.0
        self.errors_for: dict[str, tuple[int, int, str]] = {}  # number -> status, code, text
        # number -> error code: texts taken, then reported undelivered by their callback
        self.undelivered_for: dict[str, int] = {}
        self.unavailable_for: dict[str, int] = {}  # number -> how many 503s before accepting
        self.too_many_for: dict[str, int] = {}  # number -> how many 429s before accepting
        self.retry_after: str | None = None  # Retry-After sent with each 429 and 503
        # Errors in RFC 9457's form (type, title, status, code, detail), not Twilio's own.
        self.problem_details = False
        self.refused_at: list[float] = []  # when each refused request arrived (monotonic)
        self.slow_accept_for: set[str] = set()  # accept, then answer after slow_accept_s
        self.slow_accept_s = 3.0
        self.drop_for: set[str] = set()  # accept, then close the connection unanswered
        # take the message, then answer this error status (a proxy's 504 after Twilio)
        self.taken_then_error_for: dict[str, int] = {}
        # take nothing, and answer 500 only after slow_accept_s (the caller gave up)
        self.slow_refuse_for: set[str] = set()
        self.send_callbacks = True
        self.list_fails = False  # GET of the lists answers 500: "cannot tell"
        self.fetch_fails = False  # GET of one message or call answers 500
        self.lists_empty = False  # GET of the lists answers an empty page (it lags)
        self.list_hides: set[str] = set()  # sids the lists leave out (not there yet)
        self.list_raw: str | None = None  # GET of the lists answers this body, with 200
        self.account_raw: str | None = None  # GET of the account answers this, with 200
        self.refusal_raw: bytes | None = None  # a refused POST answers these bytes
        # take the message, then answer 201 with a body that is not JSON (a proxy's page)
        self.create_raw_for: set[str] = set()
        self.lists = 0
        self.call_duration_s = 42
        # What GET of a call says of its status: call_status, or call_status_for[sid].
        self.call_status = "completed"
        self.call_status_for: dict[str, str] = {}
        self.calls_fetched: list[str] = []  # the sid of each GET of one call
        self.call_raw_for: dict[str, str] = {}  # sid -> a body that is no call (HTML)
        # What GET of a message says of it: message_status (and no error code), or
        # message_status_for[sid] = (status, error code or None).
        self.message_status = "delivered"
        self.message_status_for: dict[str, tuple[str, int | None]] = {}
        self.messages_fetched: list[str] = []  # the sid of each GET of one message
        self.callback_failures = 0
        self.last_answer = ""  # the body of the last signed POST's answer
        self.callback_errors: list[str] = []
        # Callbacks go out from a bounded pool, as from a provider's senders: a thread
        # each would have thousands in flight at once against one test server.
        self._callback_pool = ThreadPoolExecutor(32, thread_name_prefix="callbacks")
        self._rng = random.Random(7)
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._address: tuple[str, int] | None = None

    # --- server -------------------------------------------------------------------
    # aiohttp on an event loop of its own thread: waiting out the latency costs a timer,
    # not a thread, so the gateway answers in latency_s however many requests are in
    # flight, as Twilio would (its CPU is not ours).

    @property
    def base_url(self) -> str:
        host, port = self._address
        return f"http://{host}:{port}"

    def start(self) -> TwilioGateway:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._on_request)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._call(self._listen())
        return self

    async def _listen(self) -> None:
        await self._runner.setup()
        # Many senders connect at once: a deep backlog, so the kernel keeps them all.
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=256)
        await site.start()
        self._address = self._runner.addresses[0][:2]

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def stop(self) -> None:
        self._callback_pool.shutdown(wait=False, cancel_futures=True)
        if self._loop:
            self._call(self._runner.cleanup())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    async def _on_request(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            if PATH.match(request.path):
                status, body = self._list(request.path, request.headers, request.query)
                if self.list_raw is not None and status == 200:
                    return web.Response(text=self.list_raw, content_type="application/json")
            elif MESSAGE.match(request.path):
                status, body = self._fetch_message(request.path, request.headers)
            elif CALL.match(request.path):
                status, body = self._fetch_call(request.path, request.headers)
                raw = self.call_raw_for.get(CALL.match(request.path)["call"])
                if raw is not None and status == 200:
                    return web.Response(text=raw, content_type="text/html")
            else:
                status, body = self._account(request.path, request.headers)
                if self.account_raw is not None and status == 200:
                    return web.Response(text=self.account_raw, content_type="text/html")
            return web.json_response(body, status=status)
        arrived = time.monotonic()
        form = dict(urllib.parse.parse_qsl(await request.text()))
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        status, body = self._handle(request.path, request.headers, form, arrived)
        if status is None:  # accepted, but answer late: the caller gives up
            await asyncio.sleep(self.slow_accept_s)
            status = 201
        if status == SLOW_REFUSAL:
            await asyncio.sleep(self.slow_accept_s)
            status = 500
        if status == DROP:
            request.transport.close()
            raise asyncio.CancelledError  # end the handler without writing any answer
        if status == 201 and body.get("to") in self.create_raw_for:
            return web.Response(text="<html>Accepted</html>", status=201, content_type="text/html")
        headers = {}
        if status in (429, 503) and self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
        if status >= 400 and self.refusal_raw is not None:
            headers["Content-Type"] = "text/html; charset=utf-8"
            return web.Response(body=self.refusal_raw, status=status, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    # --- Twilio's behaviour ------------------------------------------------------

    def _authorised(self, headers) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return headers.get("Authorization") == f"Basic {expected}"

    def _account(self, path: str, headers):
        """GET the account: what a client reads to check its credentials."""
        match = ACCOUNT.match(path)
        if not match or match["sid"] != self.account_sid:
            return 404, {"code": 20404, "message": "not found", "status": 404}
        if not self._authorised(headers):
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        with self.lock:
            self.account_reads.append(time.monotonic())
        return 200, {
            "sid": self.account_sid,
            "owner_account_sid": self.account_sid,
            "friendly_name": "Loopback gateway",
            "status": "active",
            "type": "Full",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}.json",
        }

    def _fetch_call(self, path: str, headers):
        """GET one call: its status now (call_status unless call_status_for says)."""
        match = CALL.match(path)
        if match["sid"] != self.account_sid:
            return 404, {"code": 20404, "message": "not found", "status": 404}
        if not self._authorised(headers):
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        with self.lock:
            self.calls_fetched.append(match["call"])
            taken = [a for a in self.accepted if a.kind == "Calls" and a.sid == match["call"]]
        if not taken:
            return 404, {"code": 20404, "message": "not found", "status": 404}
        status = self.call_status_for.get(taken[0].sid, self.call_status)
        ended = status in ("completed", "busy", "no-answer", "failed", "canceled")
        return 200, {
            "sid": taken[0].sid,
            "account_sid": self.account_sid,
            "to": taken[0].to,
            "from": taken[0].params.get("From"),
            "status": status,
            "duration": str(self.call_duration_s) if status == "completed" else "0",
            "end_time": "Thu, 03 Dec 2026 06:00:00 +0000" if ended else None,
        }

    def _fetch_message(self, path: str, headers):
        """GET one message: its status now (message_status unless message_status_for
        says), with its error code when it failed."""
        match = MESSAGE.match(path)
        if match["sid"] != self.account_sid:
            return 404, {"code": 20404, "message": "not found", "status": 404}
        if not self._authorised(headers):
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        with self.lock:
            self.messages_fetched.append(match["message"])
            taken = [a for a in self.accepted if a.kind == "Messages" and a.sid == match["message"]]
        if self.fetch_fails:
            return 500, {"code": 20500, "message": "Internal Server Error", "status": 500}
        if not taken:
            return 404, {"code": 20404, "message": "not found", "status": 404}
        status, code = self.message_status_for.get(taken[0].sid, (self.message_status, None))
        return 200, {
            "sid": taken[0].sid,
            "account_sid": self.account_sid,
            "to": taken[0].to,
            "from": taken[0].params.get("From"),
            "body": taken[0].params.get("Body"),
            "status": status,
            "error_code": code,
            "num_segments": "1",
        }

    def _list(self, path: str, headers, query):
        """Twilio's list of messages or calls, newest first, filtered by To (and From)."""
        match = PATH.match(path)
        if match["sid"] != self.account_sid:
            return 404, {"code": 20404, "message": "not found", "status": 404}
        if not self._authorised(headers):
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        with self.lock:
            self.lists += 1
            if self.list_fails:
                return 500, {"code": 20500, "message": "Internal Server Error", "status": 500}
            taken = [a for a in self.accepted if a.kind == match["kind"]]
        to, sender = query.get("To"), query.get("From")
        records = []
        for a in [] if self.lists_empty else reversed(taken):
            if (to and a.to != to) or (sender and a.params.get("From") != sender):
                continue
            if a.sid in self.list_hides:
                continue
            created = email.utils.format_datetime(datetime.fromtimestamp(a.wall, UTC), usegmt=False)
            record = {
                "sid": a.sid,
                "account_sid": self.account_sid,
                "to": a.to,
                "from": a.params.get("From"),
                "status": "sent",
                "date_created": created,
                "date_sent": created,
            }
            if match["kind"] == "Messages":
                record |= {
                    "body": a.params.get("Body"),
                    "num_segments": str(self.segments(a.params)),
                }
            else:
                record |= {"start_time": created}
            records.append(record)
        size = int(query.get("PageSize", 50))
        key = "messages" if match["kind"] == "Messages" else "calls"
        return 200, {
            key: records[:size],
            "page": 0,
            "page_size": size,
            "uri": path,
            "first_page_uri": path,
            "next_page_uri": None,
            "previous_page_uri": None,
        }

    def _handle(self, path: str, headers, form: dict, arrived: float):
        """Twilio's answer to a request that arrived at `arrived` and has been waited on
        for latency_s: (status, JSON body), status None to answer late, DROP for none."""
        match = PATH.match(path)
        if not match:
            return 404, {"code": 20404, "message": "not found", "status": 404}
        if not self._authorised(headers):
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        kind, to = match["kind"], form.get("To", "")
        with self.lock:
            self.requests += 1
            roll = self._rng.random()
        if roll < self.rate_429:
            return self._refuse(429, 20429, "Too Many Requests", to)
        if roll < self.rate_429 + self.rate_500:
            return self._refuse(500, 20500, "Internal Server Error", to)
        if to in self.errors_for:
            status, code, message = self.errors_for[to]
            return self._refuse(status, code, message, to)
        if to in self.slow_refuse_for:
            return SLOW_REFUSAL, {"code": 20500, "message": "Internal Server Error", "status": 500}
        with self.lock:
            unavailable = self.unavailable_for.get(to, 0) > 0
            if unavailable:
                self.unavailable_for[to] -= 1
            too_many = self.too_many_for.get(to, 0) > 0
            if too_many:
                self.too_many_for[to] -= 1
        if unavailable:
            return self._refuse(503, 20503, "Service Unavailable", to)
        if too_many:
            return self._refuse(429, 20429, "Too Many Requests", to)
        prefix = "SM" if kind == "Messages" else "CA"
        sid = f"{prefix}{next(self._ids):032x}"
        with self.lock:
            self.accepted.append(Accepted(sid, kind, to, form, at=arrived))
        if self.send_callbacks and form.get("StatusCallback"):
            self._callback_pool.submit(self._callbacks, sid, kind, form)
        body = {"sid": sid, "account_sid": self.account_sid, "to": to, "status": "queued"}
        if kind == "Messages":
            body |= {"body": form.get("Body"), "num_segments": str(self.segments(form))}
        if to in self.slow_accept_for:
            return None, body
        if to in self.drop_for:
            return DROP, body
        if to in self.taken_then_error_for:
            status = self.taken_then_error_for[to]
            return status, {"code": 20000 + status, "message": "Gateway Timeout", "status": status}
        return 201, body

    def _refuse(self, status: int, code: int, message: str, to: str):
        with self.lock:
            self.refused.append((status, to))
            self.refused_at.append(time.monotonic())
        if self.problem_details:
            return status, {
                "type": f"https://www.twilio.com/docs/errors/{code}",
                "title": message,
                "status": status,
                "code": code,
                "detail": message,
            }
        return status, {"code": code, "message": message, "status": status}

    @staticmethod
    def segments(form: dict) -> int:
        text = form.get("Body", "")
        return max(1, -(-len(text) // 153)) if len(text) > 160 else 1

    def _callbacks(self, sid: str, kind: str, form: dict) -> None:
        time.sleep(0.05)
        if kind == "Messages":
            steps = [
                {
                    "MessageSid": sid,
                    "MessageStatus": "sent",
                    "NumSegments": str(self.segments(form)),
                },
                {"MessageSid": sid, "MessageStatus": "delivered"},
            ]
            if form.get("To") in self.undelivered_for:
                steps[1] = {
                    "MessageSid": sid,
                    "MessageStatus": "undelivered",
                    "ErrorCode": str(self.undelivered_for[form["To"]]),
                }
        else:
            steps = [
                {"CallSid": sid, "CallStatus": "initiated"},
                {
                    "CallSid": sid,
                    "CallStatus": "completed",
                    "CallDuration": str(self.call_duration_s),
                },
            ]
        for params in steps:
            self.post_signed(form["StatusCallback"], params)

    def signature(self, url: str, params: dict) -> str:
        return RequestValidator(self.auth_token).compute_signature(url, params)

    def post_signed(self, url: str, params: dict, *, signature: str | None = None) -> int:
        """POST a form to url with a Twilio signature (or the one given)."""
        data = urllib.parse.urlencode(params).encode()
        sign = signature or self.signature(url, params)
        request = urllib.request.Request(
            url, data=data, headers={"X-Twilio-Signature": sign}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (http only)
                self.last_answer = response.read().decode()
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError as error:
            with self.lock:
                self.callback_failures += 1
                self.callback_errors.append(repr(error))
            return 0

    # --- residents answering -----------------------------------------------------

    def text_in(
        self, url: str, from_: str, body: str, *, sid: str | None = None, media: int = 0
    ) -> int:
        """A resident's text to our number, as Twilio posts it to the messaging webhook
        (signed), with `media` pictures. Returns the HTTP status; the same sid twice is
        a redelivery."""
        sid = sid or f"{'MM' if media else 'SM'}{next(self._ids):032x}"
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "To": "+447700900999",
            "Body": body,
            "NumMedia": str(media),
        }
        for n in range(media):
            params[f"MediaUrl{n}"] = f"https://api.twilio.com/media/ME{n:032x}"
            params[f"MediaContentType{n}"] = "image/jpeg"
        return self.post_signed(url, params)

    def press_keys(self, call: Accepted, digits: str) -> int:
        """Keys pressed during a call we placed: posted to its <Gather action>."""
        action = re.search(r'<Gather [^>]*action="([^"]+)"', call.params["Twiml"])
        url = html.unescape(action.group(1))
        params = {
            "CallSid": call.sid,
            "AccountSid": self.account_sid,
            "From": "+447700900999",
            "To": call.to,
            "Digits": digits,
            "FinishedOnKey": "",
        }
        return self.post_signed(url, params)

    # --- what tests ask ----------------------------------------------------------

    def accepted_to(self, kind: str = "Messages") -> list[str]:
        with self.lock:
            return [a.to for a in self.accepted if a.kind == kind]
