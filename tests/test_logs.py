"""Log lines: the request's id on each, JSON for a collector, nothing personal."""

import io
import json
import logging

import pytest

from app.logs import WithheldMessages, formatter


def test_a_request_id_is_made_or_kept_and_given_back(client):
    made = client.get("/healthz")
    assert len(made.headers["X-Request-Id"]) == 32
    kept = client.get("/healthz", headers={"X-Request-Id": "proxy-abc.123_x"})
    assert kept.headers["X-Request-Id"] == "proxy-abc.123_x"
    # Not an id: a line break (log injection) or something long is replaced.
    for bad in ("abc fake: line", "x" * 65, "<script>"):
        answer = client.get("/healthz", headers={"X-Request-Id": bad})
        assert answer.headers["X-Request-Id"] != bad
        assert len(answer.headers["X-Request-Id"]) == 32


def test_each_line_logged_in_a_request_carries_its_id(client, caplog):
    with caplog.at_level(logging.INFO, logger="app.access"):
        answer = client.get("/healthz", headers={"X-Request-Id": "trace-me-42"})
    assert answer.status_code == 200
    (line,) = [r for r in caplog.records if r.name == "app.access"]
    assert line.request_id == "trace-me-42"
    assert line.getMessage().startswith("GET /healthz 200 ")


def test_json_lines_hold_the_fields_a_collector_needs():
    record = logging.LogRecord("app.access", logging.INFO, __file__, 1, "GET %s", ("/x",), None)
    record.request_id = "abc"
    line = json.loads(formatter("json").format(record))
    assert line["level"] == "INFO" and line["logger"] == "app.access"
    assert line["message"] == "GET /x" and line["request_id"] == "abc"
    assert "time" in line


def test_the_access_log_names_the_route_not_the_path(client, caplog):
    token_path = "/unsubscribe/secret-token-123"
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.get(token_path)
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "secret-token-123" not in text


def test_a_request_that_fails_is_logged_by_its_route_not_its_path(app, client, caplog, monkeypatch):
    """Flask's own line was "Exception on /unsubscribe/<the token> [GET]": with the
    database away, every token and postcode in a path went into the error log (found
    by an outside probe)."""
    import app.public as public

    def database_away(token):
        raise RuntimeError("the database is away")

    monkeypatch.setattr(public, "read_unsubscribe_token", database_away)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    with caplog.at_level(logging.ERROR):
        answer = client.get("/unsubscribe/secret-token-456")
    assert answer.status_code == 500
    (line,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert line.getMessage() == "Exception on /unsubscribe/<token> [GET]"
    # The page gives the request's reference, which the log line carries: the service
    # desk finds the traceback by it (the page gave none: an outside check).
    assert f'<code id="error-reference">{line.request_id}</code>' in answer.text
    assert answer.headers["X-Request-Id"] == line.request_id
    assert line.exc_info is not None  # the traceback is still there to debug
    assert not any("secret-token-456" in r.getMessage() for r in caplog.records)


def test_the_database_or_redis_away_is_said_and_logged_by_route(app, client, caplog, monkeypatch):
    """With Redis away, asking for a link to one's page was a bare 500 (an outside
    probe); so was every page with the database away."""
    from redis import Redis
    from sqlalchemy.exc import OperationalError

    from app.dao import places as places_dao
    from app.extensions import redis_store
    from tests.factories import csrf_token

    token = csrf_token(client)
    away = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    monkeypatch.setattr(redis_store, "_client", away)
    with caplog.at_level(logging.ERROR):
        asked = client.post("/manage", data={"csrf_token": token, "address": "07700 900001"})
    assert asked.status_code == 503 and asked.headers["Retry-After"] == "30"
    assert "part of the service is not answering" in asked.text
    assert "Try again in a minute or two." in asked.text
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    # Why, in the driver's words (a wrong password read as "not answering"), and
    # nothing of the request's.
    assert lines == [
        "Redis not answering on /manage [POST]: ConnectionError:"
        " Error 111 connecting to 127.0.0.1:1. Connection refused."
    ]
    monkeypatch.undo()

    def database_away(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(places_dao, "find_postcode", database_away)
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        looked = client.get("/api/postcodes/BS1%206AD")
    assert looked.status_code == 503
    assert looked.json["error"].startswith("We cannot do that just now")
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "BS1" not in text and "/api/postcodes/<" in text
    assert "server closed the connection" in text and "SELECT" not in text


@pytest.fixture
def logged():
    """What the app's own log handler (app.logs.configure) writes, and gunicorn's
    error log through a handler of its own, as gunicorn has."""
    from app.logs import install_handler, quieten_server_lines

    # (The test run's migrations put alembic's logging in place of the app's.)
    ours = install_handler("text")
    written = io.StringIO()
    ours.setStream(written)
    server = logging.getLogger("gunicorn.error")
    own = logging.StreamHandler(written)
    server.addHandler(own)
    server.propagate = False
    quieten_server_lines()
    yield written
    logging.getLogger().removeHandler(ours)
    server.removeHandler(own)
    server.propagate = True


def test_gunicorn_at_debug_logs_no_links_token_nor_query(logged):
    """Found by an outside check: at --log-level debug, gunicorn logs each request's
    path, and 14 live one-time links (manage, confirm, answer, unsubscribe) were in the
    log of one run."""
    server = logging.getLogger("gunicorn.error")
    server.setLevel(logging.DEBUG)
    try:
        token = "gAAAAABnX0abcdefghijklmnopqrstuvwxyz_0123456789-xyz="
        server.debug("%s %s", "GET", f"/manage/{token}")
        server.debug("%s %s", "GET", "/register/confirm?email=sam%40example.invalid")
        server.debug("%s %s", "GET", "/officers/alerts/12")
    finally:
        server.setLevel(logging.NOTSET)
    written = logged.getvalue()
    assert token[:20] not in written and "sam" not in written
    assert "GET /manage/<token>" in written and "GET /register/confirm?<query>" in written
    assert "GET /officers/alerts/12" in written  # an address without secrets stays


def test_a_failure_is_logged_by_its_kind_and_place_never_its_message(app, logged):
    """A message can hold anything it was given: PostgreSQL's says "Key (address)=
    (+447…) already exists". Logged whole, with its traceback, by the app, gunicorn and
    RQ (which also keeps it in Redis for a year), it put numbers in the logs."""
    given = ["+447700900001", "Key (address)=(+447700900002) already exists"]
    try:
        try:
            raise KeyError(given[0])  # (the lines of code are logged: not what they held)
        except KeyError as error:
            raise ValueError(given[1]) from error
    except ValueError as error:
        logging.getLogger("app.anything").error("it failed", exc_info=error)
        logging.getLogger("gunicorn.error").error("it failed", exc_info=error)
        failure = error
    written = logged.getvalue()
    assert "+44770090000" not in written
    assert written.count("builtins.ValueError (its message is not logged)") == 2
    assert written.count("builtins.KeyError (its message is not logged)") == 2
    assert "test_logs.py" in written  # where it happened is kept
    # In JSON too.
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
    record.exc_info = (type(failure), failure, failure.__traceback__)
    WithheldMessages().filter(record)
    assert "+44770090000" not in formatter("json").format(record)
    assert "ValueError" in formatter("json").format(record)


def test_a_job_that_fails_leaves_no_message_in_the_log_or_redis(app_ctx, run_worker, logged):
    from rq.registry import FailedJobRegistry

    from app.jobs import queue

    # A ledger no job knows, named by a number: the KeyError's message is the number.
    job = queue().enqueue("app.jobs.outbound.deliver_batch", "+447700900003", [1])
    run_worker()
    assert job.id in FailedJobRegistry(queue=queue())
    kept = job.latest_result().exc_string
    assert "+447700900003" not in kept
    assert "JobFailed: KeyError at ledgers.py:" in kept
    # (RQ logs a job's arguments as it starts it: ours are ids, this test's is not.)
    failed = logged.getvalue().partition("job deliver_batch failed")[2]
    assert "exception raised while executing" in failed
    assert "+447700900003" not in failed
    assert "builtins.KeyError (its message is not logged)" in failed


def test_the_database_servers_own_log_keeps_no_values(app_ctx):
    """PostgreSQL logs a refused statement with its DETAIL ("Key (address)=(+447…)
    already exists") and the statement: the PostgreSQL make runs keeps neither
    (scripts/services.sh; docs/deploy.md says how for a managed one)."""
    from sqlalchemy import text

    from app.extensions import db
    from tests.factories import kept_database

    kept_database("TEST_RESTORE_DATABASE_URL")  # set only when make runs PostgreSQL
    assert db.session.scalar(text("SHOW log_error_verbosity")) == "terse"
    assert db.session.scalar(text("SHOW log_min_error_statement")) == "panic"


def test_a_locks_name_never_reaches_the_database(app_ctx):
    """Found by a review: an advisory lock's name ("officer-email:…", "sign-up:…",
    "reply-answer:…" hold a staff address or a resident's number) was a parameter of
    the statement that took it, which PostgreSQL logs with a slow lock wait. Its
    digest is sent; the lock still keeps out another transaction of the same name."""
    from sqlalchemy import event, text

    from app.dao.locks import lock_key, lock_until_commit
    from app.extensions import db

    name = "sign-up:+447700900123"
    sent = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        sent.append(f"{statement} {parameters}")

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        lock_until_commit(db.session, name)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert sent and not [each for each in sent if "+447700900123" in each], sent
    with db.engine.connect() as other:
        taken = "SELECT pg_try_advisory_xact_lock(:key)"
        assert other.scalar(text(taken), {"key": lock_key(name)}) is False
        assert other.scalar(text(taken), {"key": lock_key("sign-up:+447700900124")}) is True
        other.rollback()
    db.session.rollback()
    # Keyed with SECRET_KEY: a plain digest of a phone number is undone by trying the
    # numbers (a review).
    import hashlib

    plain = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    assert lock_key(name) != plain
    kept = app_ctx.config["SECRET_KEY"]
    try:
        app_ctx.config["SECRET_KEY"] = "another installation's"
        other_key = lock_key(name)
    finally:
        app_ctx.config["SECRET_KEY"] = kept
    assert other_key != lock_key(name)
