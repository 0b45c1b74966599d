"""Links and webhooks an attacker can replay or read: opaque expiring tokens, provider
events acted on once, paths with tokens kept out of the access log, and the headers
every page carries."""

from __future__ import annotations

import base64
import logging
import os
import stat
import subprocess

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from app.extensions import db
from app.models import ResidentChannel
from app.services.dispatch import read_unsubscribe_token, unsubscribe_token
from app.services.tokens import SealedSerializer

TOKEN = "test-auth-token"  # noqa: S105
BASE = "https://alerts.example.invalid"


@pytest.fixture
def signed(app, monkeypatch):
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", BASE)

    def post(client, path: str, form: dict):
        signature = RequestValidator(TOKEN).compute_signature(BASE + path, form)
        return client.post(path, data=form, headers={"X-Twilio-Signature": signature})

    return post


def sms_stopped(number: str) -> bool:
    db.session.expire_all()
    channel = db.session.scalars(
        select(ResidentChannel).where(ResidentChannel.address == number)
    ).one()
    return channel.unsubscribed_at is not None


def test_a_replayed_start_cannot_undo_a_later_stop(client, signed, make_resident):
    make_resident(sms="+447700900401")
    start = {"From": "+447700900401", "Body": "START", "MessageSid": "SM" + "a" * 32}
    stop = {"From": "+447700900401", "Body": "STOP", "MessageSid": "SM" + "b" * 32}
    assert signed(client, "/callbacks/twilio/inbound-sms", start).status_code == 200
    assert signed(client, "/callbacks/twilio/inbound-sms", stop).status_code == 200
    assert sms_stopped("+447700900401")
    # The attacker captured the START request, signature and all, and sends it again.
    assert signed(client, "/callbacks/twilio/inbound-sms", start).status_code == 200
    assert sms_stopped("+447700900401")


def test_an_inbound_message_without_its_id_is_refused(client, signed, make_resident):
    make_resident(sms="+447700900402")
    answer = signed(
        client, "/callbacks/twilio/inbound-sms", {"From": "+447700900402", "Body": "STOP"}
    )
    assert answer.status_code == 400
    assert not sms_stopped("+447700900402")


def test_unsubscribe_tokens_are_opaque_and_expire(app_ctx, app, make_resident, monkeypatch):
    resident = make_resident(email="sam@example.invalid")
    token = unsubscribe_token(resident.id, "email", "sam@example.invalid")
    # Nothing readable: neither the id nor the channel, however it is decoded.
    decoded = base64.urlsafe_b64decode(token[1:] + "=" * (-len(token[1:]) % 4))
    # (Whole words: two random bytes of the ciphertext may well read "[1".)
    plain = (f'[{resident.id},"email"]', f'[{resident.id}, "email"]', '"email"')
    assert not [text for text in plain if text.encode() in decoded]
    assert b"email" not in decoded
    assert read_unsubscribe_token(token)[:2] == (resident.id, "email")
    # Tampered with, or made for another purpose: not ours.
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    assert read_unsubscribe_token(flipped) is None
    assert read_unsubscribe_token(SealedSerializer("manage").dumps([resident.id, "email"])) is None
    # Expired: an unsubscribe link lasts UNSUBSCRIBE_LINK_DAYS.
    monkeypatch.setitem(app.config, "UNSUBSCRIBE_LINK_DAYS", -1)
    assert read_unsubscribe_token(token) is None


def test_an_unsubscribe_link_to_an_address_since_changed_stops_nothing(
    client, app_ctx, make_resident
):
    """Found by an outside probe: the link in an alert e-mailed to an old address
    stopped e-mails to the new one, so anyone holding an old or forwarded alert could.
    A link made before links carried their address still works as it did."""
    from app.models import ResidentChannel

    resident = make_resident(email="old@example.invalid")
    old_link = unsubscribe_token(resident.id, "email", "old@example.invalid")
    channel = db.session.scalar(
        select(ResidentChannel).where(
            ResidentChannel.resident_id == resident.id, ResidentChannel.channel == "email"
        )
    )
    channel.address = "new@example.invalid"
    db.session.commit()

    def stopped() -> bool:
        db.session.expire_all()
        return channel.unsubscribed_at is not None

    answer = client.post(f"/unsubscribe/{old_link}")
    assert answer.status_code == 410 and "since changed" in answer.text
    # Its words say what to do; a retry cannot help, and residents have no service desk.
    assert "service desk" not in answer.text and "Try again" not in answer.text
    assert client.get(f"/unsubscribe/{old_link}").status_code == 410
    assert not stopped()
    legacy = SealedSerializer("one-click-unsubscribe").dumps([resident.id, "email"])
    assert client.get(f"/unsubscribe/{legacy}").status_code == 200
    new_link = unsubscribe_token(resident.id, "email", "New@Example.invalid")
    assert client.post(f"/unsubscribe/{new_link}").status_code == 302  # to its answer
    assert stopped()


def test_the_access_log_names_the_route_never_the_token(client, app_ctx, make_resident, caplog):
    resident = make_resident(email="sam@example.invalid")
    token = unsubscribe_token(resident.id, "email", "sam@example.invalid")
    with caplog.at_level(logging.INFO, logger="app.access"):
        client.get(f"/unsubscribe/{token}")
        client.get("/api/postcodes/BS1 6AD")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "app.access")
    assert "GET /unsubscribe/<token> 200" in logged
    assert token not in logged and "BS1 6AD" not in logged


def test_every_page_forbids_caching_and_says_where_it_may_load_from(client, app_ctx):
    for path in ("/", "/register", "/sign-in", "/api/postcodes/BS1 6AD", "/nowhere"):
        headers = client.get(path).headers
        assert headers["Cache-Control"] == "no-store", path
        csp = headers["Content-Security-Policy"]
        assert "base-uri 'none'" in csp and "form-action 'self'" in csp
        assert "Server" not in headers
        assert "Strict-Transport-Security" not in headers  # plain HTTP on loopback
    # Our own static files may be cached.
    assert client.get("/static/css/app.css").headers.get("Cache-Control") != "no-store"


def test_production_sends_hsts():
    from app.config import ProductionConfig

    assert ProductionConfig.HSTS_SECONDS >= 31_536_000


def test_the_development_secret_is_readable_by_its_owner_only(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    subprocess.run(
        ["make", "-s", "-C", root, "-f", "Makefile", "help"],
        env=env,
        check=True,
        capture_output=True,
    )
    mode = stat.S_IMODE(os.stat(os.path.join(root, ".run", "secret_key")).st_mode)
    assert mode == 0o600


def test_gunicorn_names_no_server_logs_routes_and_keeps_its_own_control_socket(app, tmp_path):
    import http.client
    import sys
    import time

    from tests.provider_fixtures import free_port

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    servers = []
    for run_id in ("first", "second"):
        port = free_port()
        env = dict(os.environ, APP_ENV="testing", CA_RUN_DIR=str(tmp_path), CA_RUN_ID=run_id)
        process = subprocess.Popen(
            [gunicorn, "-c", "python:app.gunicorn_conf", "--bind", f"127.0.0.1:{port}"]
            # Threads, as `make run` and production run it (gthread keeps connections
            # alive; the plain sync worker closes each).
            + ["--workers", "1", "--threads", "2", "app:create_app()"],
            cwd=root,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        servers.append((process, port))
    try:
        for _process, port in servers:
            for _ in range(100):
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    connection.request("GET", "/unsubscribe/some-token-value")
                    response = connection.getresponse()
                    break
                except OSError:
                    time.sleep(0.1)
            assert response.status == 404
            assert response.getheader("Server") is None
        # A request line gunicorn cannot read was logged whole, an address in it (an
        # outside probe): what kind of failure it was is kept, not its text.
        import socket

        with socket.create_connection(("127.0.0.1", servers[0][1]), timeout=5) as raw:
            raw.sendall(b"GET /manage?address=someone.private@example.invalid\x01 HTTP/1.1\r\n\r\n")
            assert raw.recv(100).startswith(b"HTTP/1.1 400")
        # A chunked body whose chunk sizes are wrong is read by the app (werkzeug) and
        # refused there: a 400 with words, where it was a 500 on every POST route.
        with socket.create_connection(("127.0.0.1", servers[0][1]), timeout=5) as raw:
            raw.sendall(
                b"POST /register/postcode HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n"
            )
            answer = b""
            while chunk := raw.recv(65536):  # to the end: the answer closes the connection
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
            assert b"That request was not understood" in answer
        # A body too large is answered 413 and the connection closed: left open, the
        # unread rest of the body was read as the next request (an outside check).
        too_large = http.client.HTTPConnection("127.0.0.1", servers[0][1], timeout=5)
        too_large.request(
            "POST",
            "/register",
            body=b"a=" + b"x" * 2_000_000,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        answer = too_large.getresponse()
        answer.read()
        assert (answer.status, answer.getheader("Connection")) == (413, "close")
        too_large.request("GET", "/")  # http.client opens a new connection, as told
        assert too_large.getresponse().status == 200
        sockets = sorted(p.name for p in tmp_path.iterdir())
        assert sockets == ["gunicorn-first.ctl", "gunicorn-second.ctl"]
    finally:
        for process, _ in servers:
            process.terminate()
    log = servers[0][0].communicate(timeout=20)[1]
    assert "GET /unsubscribe/<token> 404" in log
    assert "some-token-value" not in log
    assert "Invalid request refused (Invalid HTTP request line); its text is not logged" in log
    assert "someone.private" not in log


def test_retention_removes_old_provider_events_and_ended_sessions(app_ctx, make_officer):
    from sqlalchemy import text

    from app.services.residents import purge_expired

    officer = make_officer()
    db.session.execute(
        text(
            "INSERT INTO provider_events (event_key, received_at) VALUES "
            "('inbound:old', now() - interval '800 days'), ('inbound:new', now())"
        )
    )
    db.session.execute(
        text(
            "INSERT INTO staff_sessions (token_hash, officer_id, agent_hash, ended_at) VALUES "
            "('a', :o, 'x', now() - interval '40 days'), ('b', :o, 'x', now())"
        ),
        {"o": officer.id},
    )
    db.session.commit()
    found = purge_expired()
    assert (found["provider_events_removed"], found["staff_sessions_removed"]) == (1, 1)
    keys = db.session.scalars(text("SELECT event_key FROM provider_events")).all()
    assert keys == ["inbound:new"]


@pytest.mark.parametrize(
    "payload",
    [["1; drop", "email"], "not a list", [[1], ["email"], {"x": 1}], [1, "email", 7], [True], []],
)
def test_a_genuine_token_with_an_unexpected_payload_is_refused_as_not_valid(
    client, app_ctx, payload
):
    # Sealed with our key, so only a leak or a change of ours can make one: a 500 (the
    # payload was read after the checks) where every other bad link gets its page.
    for salt, path in (
        ("one-click-unsubscribe", "/unsubscribe/"),
        ("answer-an-alert", "/answer/"),
        ("manage", "/manage/"),
        ("verify-email", "/confirm-email/"),
    ):
        token = SealedSerializer(salt).dumps(payload)
        # (The answer page's POST is its form's, refused first without the form's token.)
        for method in ("GET",) if path == "/answer/" else ("GET", "POST"):
            answer = client.open(path + token, method=method)
            # (The e-mail link's GET only shows its button: the link is read on POST.)
            assert answer.status_code in (200, 400, 404), (path, method, answer.status_code)
            assert "Something went wrong" not in answer.text, (path, method)


def test_an_unsubscribe_link_of_a_removed_resident_says_there_is_nothing_to_stop(
    client, app_ctx, make_resident
):
    # It said the address had since changed, to someone who had removed their account.
    resident = make_resident(email="gone@example.invalid")
    links = [
        unsubscribe_token(resident.id, "email", "gone@example.invalid"),
        SealedSerializer("one-click-unsubscribe").dumps([resident.id, "email"]),  # older
    ]
    db.session.delete(resident)
    db.session.commit()
    for link in links:
        for method in ("GET", "POST"):
            answer = client.open(f"/unsubscribe/{link}", method=method)
            assert answer.status_code == 410
            assert "nothing for that link to stop" in answer.text
            assert "since changed" not in answer.text
