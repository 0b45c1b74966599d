"""Log lines: the request's id on each, JSON for a collector, nothing personal."""

import json
import logging

from app.logs import formatter


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
    assert line.exc_info is not None  # the traceback is still there to debug
    assert not any("secret-token-456" in r.getMessage() for r in caplog.records)
