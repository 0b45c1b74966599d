"""How the processes log: one line per event, as text for a person at a terminal
(LOG_FORMAT=text, the default outside production) or as JSON for a log collector
(LOG_FORMAT=json, production's default), with the request's id on every line logged
while serving it.

A request id comes from the X-Request-Id header a reverse proxy set (if it looks like
one: letters, digits, dots, dashes and underscores, up to 64) or is made here; the
response carries it back, so a complaint ("it failed at 10:02, request id ...") finds
its lines. Nothing personal goes in: the access log names the route, never the path
(web.py), the Twilio SDK's request logging (numbers) is turned down, and a failure is
logged with its kind and where it happened, never its message (WithheldMessages)."""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MARK = "_community_alerts_handler"


def _with_request_id(make_record):
    """Every record gets request_id, whichever handler writes it out."""

    def make(*args, **kwargs):
        record = make_record(*args, **kwargs)
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return record

    make.adds_request_id = True
    return make


def formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        return JsonFormatter(
            JSON_FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )
    return logging.Formatter(TEXT_FORMAT)


def json_formatter() -> logging.Formatter:
    """The JSON formatter, for gunicorn's own lines (app/gunicorn_conf.py)."""
    return formatter("json")


def configure(app: Flask) -> None:
    """The root logger's one handler, in LOG_FORMAT (replaced, not added to, when
    another app is made in the same process), and request ids in and out."""
    install_handler(app.config["LOG_FORMAT"])

    # First of all that a request runs, before the blueprints' URL preprocessors,
    # which read the database (a force's pages): with the database down, the 503 and
    # its log lines had no request id (an outside check).
    @app.url_value_preprocessor
    def take_request_id(endpoint, values):
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    @app.after_request
    def give_request_id(response):
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        return response


def install_handler(kind: str) -> logging.Handler:
    """The root logger's one handler of ours, writing `kind` (text or json) to stderr,
    failures' messages withheld; returned."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler()
    setattr(handler, _MARK, True)
    handler.setFormatter(formatter(kind))
    handler.addFilter(WithheldMessages())
    root.addHandler(handler)
    if not getattr(logging.getLogRecordFactory(), "adds_request_id", False):
        logging.setLogRecordFactory(_with_request_id(logging.getLogRecordFactory()))
    # The Twilio SDK logs every request at INFO, numbers included: personal data in
    # logs, and a cost on every message. Warnings only.
    logging.getLogger("twilio").setLevel(logging.WARNING)
    return handler


class ServerLineFilter(logging.Filter):
    """gunicorn's own error log, without what a request carried: a request it could
    not read is logged with its request line ("Invalid request from ip=…: Invalid HTTP
    request line: 'GET /manage?address=…'", found by an outside probe), and one that
    failed with its path; both can hold addresses, postcodes and tokens. What kind of
    failure it was stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith("Invalid request from ip="):
            error = message.partition(": ")[2]
            kind = error.split(":", 1)[0].split("'", 1)[0].strip()[:60] or "not readable"
            record.msg, record.args = (
                "Invalid request refused (%s); its text is not logged",
                (kind,),
            )
        elif message.startswith("Error handling request") and "(no URI read)" not in message:
            record.msg, record.args = "Error handling a request; its address is not logged", ()
        elif record.levelno <= logging.DEBUG:
            # At --log-level debug gunicorn logs each request's path: 14 live one-time
            # links (manage, confirm, answer, unsubscribe) in one run (an outside check).
            record.msg, record.args = without_tokens(message).replace("%", "%%"), ()
        return True


# A path's segment that may be a token (a link's sealed value: Fernet, itsdangerous,
# a recording's name) and a query string: what a logged address must not carry.
_TOKEN_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_=.~-]{16,}")
_QUERY = re.compile(r"\?[^\s\"']*")


def without_tokens(line: str) -> str:
    """
    >>> without_tokens("GET /manage/gAAAAABnX0-abc_defghijkl?lang=cy")
    'GET /manage/<token>?<query>'
    >>> without_tokens("GET /officers/alerts/12")
    'GET /officers/alerts/12'
    """
    return _QUERY.sub("?<query>", _TOKEN_SEGMENT.sub("<token>", line))


def quieten_server_lines(logger_name: str = "gunicorn.error") -> None:
    """Put ServerLineFilter and WithheldMessages on gunicorn's error log (once)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, ServerLineFilter) for f in logger.filters):
        logger.addFilter(ServerLineFilter())
    if not any(isinstance(f, WithheldMessages) for f in logger.filters):
        logger.addFilter(WithheldMessages())


class Withheld(Exception):
    """An exception as a log shows it: its kind, and the frames where it happened."""


def withheld(error: BaseException | None, depth: int = 0) -> Withheld | None:
    """The error (and what caused it, or was being handled) without its message. A
    message can hold anything it was given: PostgreSQL's says "Key (address)=(+447…)
    already exists", an SDK's names the URL it asked, with the number in it.

    >>> try:
    ...     raise ValueError("+447700900001 is not valid")
    ... except ValueError as error:
    ...     str(withheld(error))
    'builtins.ValueError (its message is not logged)'
    """
    if error is None or depth > 20:
        return None
    if isinstance(error, Withheld):
        return error
    kind = type(error)
    shown = Withheld(f"{kind.__module__}.{kind.__qualname__} (its message is not logged)")
    shown.__traceback__ = error.__traceback__
    shown.__cause__ = withheld(error.__cause__, depth + 1)
    shown.__suppress_context__ = error.__suppress_context__
    if not error.__suppress_context__:
        shown.__context__ = withheld(error.__context__, depth + 1)
    return shown


class WithheldMessages(logging.Filter):
    """Every failure a line carries, logged as withheld() shows it, by whatever formats
    it (ours, JSON, gunicorn's own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            shown = withheld(record.exc_info[1])
            record.exc_info = (Withheld, shown, shown.__traceback__)
            record.exc_text = None  # as another handler may have formatted it already
        return True


def service_failure(error: BaseException) -> str:
    """Why the database or Redis could not be used, for a log: the error's kind and
    the driver's first line (`password authentication failed for user "alerts"`,
    `Connection refused`), never a statement or its values. "OperationalError" alone
    sent an IT team looking at the network for a wrong password (an outside check)."""
    from redis.exceptions import RedisError
    from sqlalchemy.exc import OperationalError

    if not isinstance(error, OperationalError | RedisError):
        return type(error).__name__  # another error's words may carry anything
    cause = getattr(error, "orig", None) or error
    first = (str(cause).strip().splitlines() or [""])[0]
    # libpq's lines start 'connection to server at "host", port 5432 failed: FATAL: …'.
    first = re.sub(r"\s+", " ", first)[:300]
    return f"{type(error).__name__}: {first}" if first else type(error).__name__
