"""What every request and response goes through: ids in URLs, JSON bodies, error
answers, security headers and the access log.

One place, so that a new route gets all of it without asking: an id too large for the
database is a 404, JSON nested without end is a 400, a value the database cannot hold
is a 400, and no page that may hold personal data is kept in a cache.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import time
import unicodedata
from urllib.parse import quote, unquote_to_bytes, urlsplit

from flask import (
    Flask,
    Response,
    abort,
    g,
    has_request_context,
    jsonify,
    render_template,
    request,
)
from flask.globals import request_ctx
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from gunicorn.http.errors import ParseException
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from app.extensions import db
from app.i18n import translate
from app.logs import service_failure
from app.models import MAX_ID
from app.services.text import whole_number

access_log = logging.getLogger("app.access")

UNAVAILABLE = "We cannot do that just now: part of the service is not answering."
CONFLICT = (
    "Someone else did the same at the same moment. Reload the page to see what is "
    "saved now, then try again if you still need to."
)

# Answers that hold no personal data and that browsers may keep: our static files, and
# the base map (open data, app/basemap), which sets its own Cache-Control.
# The public feeds (open by design, with their own Cache-Control and ETag) too.
CACHEABLE_ENDPOINTS = frozenset(
    {
        "static",
        "basemap.tiles",
        "public.feed",
        "public.rss_feed",
        "public.cap_feed",
        "public.cap_document",
    }
)

# A JSON body deeper than this is not something any of our pages or API clients send;
# refusing it early keeps recursion (ours and the libraries') far from its limit.
MAX_JSON_DEPTH = 32


class App(Flask):
    """Flask, logging a request that failed by its route, never its path: Flask's own
    line is "Exception on /manage/<the token> [GET]", and paths carry tokens (a
    resident's page, a member of staff's set-password link) and postcodes (found by
    an outside probe, with the database away)."""

    def log_exception(self, exc_info) -> None:
        self.logger.error(
            "Exception on %s [%s]", route_of_request(), request.method, exc_info=exc_info
        )


def client_network(address: str | None = None) -> str:
    """Who a per-address limit counts: the client's IPv4 address, or the /64 its IPv6
    address is in (one household's or phone's whole allowance: each address of a /64
    had a limit of its own, so one connection had as many as it liked: an outside
    check). The request's address (PROXY_HOPS decides it) unless one is given."""
    if address is None:
        address = request.remote_addr if has_request_context() else None
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def route_of_request() -> str:
    """The route the request matched ("/manage/<token>"), or "(no route)"."""
    return request.url_rule.rule if request.url_rule is not None else "(no route)"


class IdConverter(IntegerConverter):
    """<int:...> in a route: a whole number a PostgreSQL integer column can hold.
    Anything larger names nothing, so the route does not match (404), rather than
    reaching the database and failing there."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def named_record(name: str) -> int | None:
    """The record a query argument names (`?alert=12`): None when the argument is
    absent or empty, else its id; one that can name no record ("abc", 0, 20 digits) is
    no such page (404), not the page without it, which said nothing of what was asked
    for (outside checks)."""
    value = request.args.get(name)
    if not value:
        return None
    return whole_number(value) or abort(404)


def record_id(value: str) -> int:
    """For request.args.get(name, type=record_id): an id, or ValueError (so the
    argument counts as absent)."""
    number = whole_number(value)
    if not number:
        raise ValueError("not an id")
    return number


def json_depth(value) -> int:
    """How deeply lists and objects nest, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _once_each(pairs: list[tuple]) -> dict:
    """An object whose keys are each given once: of {"mode": "exercise", ..., "mode":
    "live"} the last was taken, and a live alert went (an outside check)."""
    value = dict(pairs)
    if len(value) != len(pairs):
        raise ValueError("a key given twice in one JSON object")
    return value


class GuardedJSONProvider(DefaultJSONProvider):
    """request.get_json() refuses (as invalid JSON, a 400) a body nested too deeply,
    instead of the parser running out of stack (a 500), and an object with a key given
    twice, instead of taking one of them."""

    def loads(self, s, **kwargs):
        kwargs.setdefault("object_pairs_hook", _once_each)
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        if json_depth(value) > MAX_JSON_DEPTH:
            raise ValueError("JSON nested too deeply")
        return value


# The map page's JSON-only addresses that take an id: one that is no id ("-1", "x")
# matches no route, and its 404 must still be JSON; and its upload of a recording,
# whose 413 (a file larger than any request may be) the page shows as it shows others;
# and the sign-up form's postcode check, whose refusals (an expired page) the form
# reads as JSON (it got an HTML page: an outside check).
_JSON_PATHS = re.compile(
    r"/officers/(?:places/[^/]*|alerts/[^/]*/progress|recordings)|/register/postcode"
)


def attachment(filename: str) -> str:
    """A Content-Disposition header for a download named `filename`: its name in
    ASCII (letters with accents without them, anything else a "-"), and in UTF-8 as
    RFC 6266 gives it (filename*). A name with "ŵ" in it was a 500: gunicorn refuses a
    header that is not Latin-1, and one of "日本" was (an outside check)."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    plain = re.sub(r"[^A-Za-z0-9._-]+", "-", plain)
    plain = re.sub(r"-+(?=\.)|(?<=-)-+", "", plain).strip("-.") or "download"
    if plain == filename:
        return f'attachment; filename="{plain}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


def wants_json() -> bool:
    return (
        request.is_json
        or request.accept_mimetypes.best == "application/json"
        or request.path.startswith("/api/")
        or _JSON_PATHS.fullmatch(request.path) is not None
        or request.method == "POST"
        and _JSON_POSTS.fullmatch(request.path) is not None
    )


# The map page's calls that take JSON: refused in JSON whatever was sent (a body of
# text or a form had an HTML page: an outside check).
_JSON_POSTS = re.compile(r"/officers/(?:alerts|alerts/test|preview|compose|templates)")


UNREADABLE_FORM = (
    "Part of that form could not be read as text: it was not sent as UTF-8. Type it "
    "again in this page, or in another browser."
)


NOT_A_FORM = "That was not sent as a form. Send it from the page, or as JSON where the page does."


def _not_a_form() -> bool:
    """A body sent as neither a form nor JSON (text/plain, a multipart form with no
    boundary): no field of it is read, its token neither, so "expired" was not why."""
    if not request.content_length:
        return False
    if request.mimetype in ("application/x-www-form-urlencoded", "application/json"):
        return False
    return not (request.mimetype == "multipart/form-data" and (request.form or request.files))


def _unreadable_form() -> bool:
    """A posted form with a body of which werkzeug could read no field: bytes that are
    not UTF-8 (werkzeug then drops the whole form)."""
    return (
        request.mimetype == "application/x-www-form-urlencoded"
        and bool(request.content_length)
        and not request.form
    )


UNREADABLE_ADDRESS = (
    "Part of that address could not be read as text: it was not sent as UTF-8. Go back "
    "to the page and try again from there."
)
# A percent-escape: werkzeug leaves those that are not UTF-8 as they came ("%ED%A0%80"),
# so a field would hold the escape itself as its text.
_ESCAPES = re.compile(rb"(?:%[0-9A-Fa-f]{2})+")


# Characters no page's address holds: the C0 controls and DEL.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _escapes_not_utf8(raw: bytes) -> bool:
    for escapes in _ESCAPES.findall(raw):
        try:
            unquote_to_bytes(escapes).decode("utf-8")
        except UnicodeDecodeError:
            return True
    return False


_FORCE_PAGE = re.compile(r"/forces/([a-z0-9-]{1,60})/")


def _brand_as_the_forces_page() -> None:
    """A page not found under a force's address is that force's, as its other pages
    are (it had the default force's name and links: an outside check)."""
    from app.services import forces

    found = _FORCE_PAGE.match(request.path)
    if found is None or g.get("public_force_id") is not None:
        return
    with contextlib.suppress(SQLAlchemyError):  # the database away: the default's page
        force = forces.force_named(found.group(1))
        if force is not None and not force.is_default:
            forces.show_public(force)


def error_answer(status: int, message: str, reason: str | None = None, *, said: bool = False):
    """An error in the form the caller reads: JSON for the map's calls and the API,
    a page for people (with `said`, the message says what to do, and the page adds no
    general advice), in the page's language either way (a JSON error was English on a
    Welsh page: an outside check)."""
    if request_ctx.url_adapter is None:
        # No address of ours can be made for this request (its Host header is not one:
        # "a..b", a label over 63 characters), and every page links to ours: the page,
        # then the 500 page, failed, a 500 and three tracebacks a request, /healthz too
        # (an outside check). Plain words instead.
        return Response(translate(message), status, mimetype="text/plain")
    if wants_json():
        body = {"error": translate(message)}
        if reason or request.path.startswith("/api/"):
            body["reason"] = reason or {400: "invalid", 404: "not_found"}.get(status, "error")
        return jsonify(body), status
    return render_template("error.html", title=message, status=status, said=said), status


# Endpoints that never need the session: files, map tiles, the open API, health.
SESSIONLESS = ("static", "basemap.", "api.", "health.")


class PageSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, refreshing the cookie (sliding its expiry) on
    answers to pages and forms only. Flask's own refreshes it on every answer, static
    files and map tiles included: one of those still in flight when an officer signs
    out would put the old session's cookie back, and the sign-in form that follows
    would fail its CSRF check ("This page has expired")."""

    def should_set_cookie(self, app: Flask, session) -> bool:
        if (request.endpoint or "").startswith(SESSIONLESS):
            return False
        # A page's own calls (the alert's progress, every few seconds) leave the cookie
        # alone unless they changed the session: one answered after a form's post put
        # back the cookie from before it, and the post's message was lost.
        if wants_json() and not session.modified:
            return False
        return super().should_set_cookie(app, session)


def _without_nul(value):
    """Each {{ value }} of a template, with any NUL character left out."""
    return value.replace("\x00", "") if isinstance(value, str) else value


def install(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter
    # What a page shows back of what was typed holds no NUL: a form shown again with a
    # refused value wrote the NUL typed into it into the page (an outside check).
    app.jinja_env.finalize = _without_nul
    app.json_provider_class = GuardedJSONProvider
    app.json = GuardedJSONProvider(app)
    app.session_interface = PageSessionInterface()

    from flask_wtf.csrf import CSRFError

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        if _unreadable_form():
            # Werkzeug reads no field of such a form, its token neither: "expired" was
            # not why (an outside check).
            return error_answer(400, UNREADABLE_FORM, "unreadable", said=True)
        if _not_a_form():
            return error_answer(400, NOT_A_FORM, "not_a_form", said=True)
        return error_answer(400, "This page has expired. Reload it and try again.", "expired")

    @app.errorhandler(DataError)
    def value_database_refused(error):
        # A value that slipped past the checks and that PostgreSQL cannot hold (a NUL
        # character, a number out of range): nothing was written (the transaction is
        # rolled back), and the caller is told, rather than shown a server error.
        db.session.rollback()
        app.logger.warning("refused a value the database cannot hold: %s", type(error.orig))
        return error_answer(400, "Something in that request is not a value we can use.")

    def _audit_a_refusal(code: int | None) -> None:
        """A route refused to signed-in staff goes in the audit log (as its pattern)."""
        if code not in (403, 404) or request.url_rule is None or request.endpoint == "static":
            return
        from flask_login import current_user

        if getattr(current_user, "is_authenticated", False) and getattr(current_user, "role", None):
            from app.services.audit_log import note_refused

            note_refused(current_user.id, request.url_rule.rule, code)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        titles = {
            400: "That request was not understood. Check it and try again.",
            403: "You do not have access to this page",
            404: "Page not found",
            405: "That page cannot be used that way",
            413: "That is more than one request can carry. Send less at a time: a shorter "
            "text, a simpler area, or a list split into smaller files.",
        }
        title = titles.get(error.code, error.name)
        _audit_a_refusal(error.code)
        if error.code == 404:
            _brand_as_the_forces_page()
        if error.code == 413 and request.endpoint == "officers.upload_recording":
            # A recording too large is said as the page says it (it got the words about
            # texts and areas: an outside check).
            from app.services.recordings import TOO_LARGE

            title = str(TOO_LARGE)
        answer = error_answer(error.code or 500, title)
        if error.code == 405 and isinstance(answer, tuple):
            response = app.make_response(answer)
            response.headers["Allow"] = ", ".join(error.valid_methods or ())
            return response
        return answer

    @app.errorhandler(RedisError)
    @app.errorhandler(OperationalError)
    def service_away(error):
        # The database or Redis not answering (a restart, a failover): say so and to
        # try again, a 503, rather than a bare 500. Nothing was written (rolled back).
        db.session.rollback()
        app.logger.error(
            "%s not answering on %s [%s]: %s",
            "Redis" if isinstance(error, RedisError) else "The database",
            route_of_request(),
            request.method,
            service_failure(error),
        )
        answer = error_answer(503, UNAVAILABLE)
        response = app.make_response(answer)
        response.headers["Retry-After"] = "30"
        return response

    @app.errorhandler(ParseException)
    def body_not_readable(error):
        # Under gunicorn, a body it cannot read (a broken chunked encoding), raised
        # while the form or JSON is read: a 400, not a 500 (an outside probe, on every
        # POST route, signed in or not).
        db.session.rollback()
        app.logger.warning("unreadable body on %s: %s", route_of_request(), type(error).__name__)
        return error_answer(400, "That request was not understood. Check it and try again.")

    @app.errorhandler(IntegrityError)
    def done_at_the_same_moment(error):
        # Two people (or a double click) making the same thing at once: the second
        # breaks a unique rule the first has just satisfied. Nothing was written by
        # the second (rolled back); it was a 500 with a wordless page (an outside probe:
        # two invitations of one address, two teams of one name).
        db.session.rollback()
        constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
        app.logger.warning("refused on %s: %s", route_of_request(), constraint)
        return error_answer(409, CONFLICT)

    @app.errorhandler(500)
    def server_error(error):
        # The session may hold a failed transaction: the error page must not need it.
        with contextlib.suppress(Exception):
            db.session.rollback()
        return error_answer(500, "Something went wrong")

    @app.url_value_preprocessor  # before the blueprints' (app/logs.py says why)
    def start_clock(endpoint, values):
        g.started = time.perf_counter()
        if _CONTROL.search(request.path) and not request.path.startswith("/api/"):
            # No page's address holds a control character: /forces/wiltshire%00/alerts
            # reached PostgreSQL (a blueprint's own look-up of its force), which refused
            # the NUL, and said "not a value we can use" rather than that there is no
            # such page (an outside check). The open API's postcodes in the address are
            # what was typed, and each is refused naming the character (its own check).
            abort(404)

    @app.before_request
    def refuse_escapes_not_utf8():
        # A field sent as "%ED%A0%80" (or any escape of bytes that are not UTF-8) was
        # stored as those nine characters (an outside check, a place's label): refused,
        # for every form and address, before any view reads it.
        if _escapes_not_utf8(request.query_string):
            return error_answer(400, UNREADABLE_ADDRESS, "unreadable", said=True)

        if request.mimetype == "application/x-www-form-urlencoded" and _escapes_not_utf8(
            request.get_data(cache=True)
        ):
            return error_answer(400, UNREADABLE_FORM, "unreadable", said=True)

    @app.after_request
    def headers_and_access_log(response):
        headers = response.headers
        if request.endpoint not in CACHEABLE_ENDPOINTS:
            # Pages and downloads may hold personal data: no browser or proxy keeps them.
            headers["Cache-Control"] = "no-store"
            headers.pop("Expires", None)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        if app.config.get("HSTS_SECONDS"):
            headers.setdefault("Strict-Transport-Security", f"max-age={app.config['HSTS_SECONDS']}")
        # Everything the pages load comes from us (no CDN); say so to the browser.
        headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob: "
            + (_tile_origin(app.config.get("MAP_TILE_URL")) or "")
            + "; style-src 'self' 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'"
            + "; base-uri 'none'; form-action 'self'",
        )
        headers.pop("Server", None)
        if response.status_code == 413:
            # Its body was left unread: on a kept-alive connection the rest of it would
            # be read as the next request (which failed once, an outside check). The
            # server closes the connection after this answer (gunicorn reads the header).
            headers["Connection"] = "close"
        # The route, never the path: paths carry tokens (unsubscribe, recordings,
        # manage links) and postcodes, and access logs are kept and shared.
        rule = route_of_request()
        elapsed = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        access_log.info("%s %s %s %.0fms", request.method, rule, response.status_code, elapsed)
        return response


def _tile_origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url.replace("{s}", "a"))
    return f"{parts.scheme}://{parts.netloc}"
