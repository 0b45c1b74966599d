"""The second factor of a password account: set up at the first sign-in with a QR
code we draw, confirmed by a first code, ten recovery codes shown once; then every
sign-in is a password and a code. Codes one step either side of now, never twice;
wrong codes are throttled like wrong passwords."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pyotp
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Officer, StaffSession
from app.models.officer import RecoveryCode
from app.services import second_factor
from tests.factories import PASSWORDS, a_wrong_totp, error_tied_to, second_factor_secret

BROWSER = "Mozilla/5.0 (Linux; Android 14) Mobile Safari"


@pytest.fixture
def required(app, monkeypatch):
    monkeypatch.setitem(app.config, "STAFF_TOTP_REQUIRED", True)


def token_of(page_text: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page_text).group(1)


def new_client(app):
    client = app.test_client()
    client.environ_base.update({"HTTP_USER_AGENT": BROWSER, "REMOTE_ADDR": "198.51.100.7"})
    return client


def password_step(client, email, password, next_=None):
    url = "/sign-in" + (f"?next={next_}" if next_ else "")
    return client.post(
        url,
        data={"email": email, "password": password, "csrf_token": token_of(client.get(url).text)},
    )


def code_step(client, code, path="/sign-in/code"):
    token = token_of(client.get("/sign-in").text)
    return client.post(path, data={"code": code, "csrf_token": token})


def actions() -> list[str]:
    return db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()


def signed_in(client) -> bool:
    return client.get("/officers/").status_code == 200


def test_first_sign_in_sets_up_the_app_and_gives_ten_recovery_codes_once(
    app, make_officer, required
):
    officer = make_officer()
    client = new_client(app)
    first = password_step(client, officer.email, PASSWORDS["officer"], next_="/officers/outbox")
    assert first.status_code == 302 and first.headers["Location"] == "/sign-in/set-up"
    assert not signed_in(client)  # a password alone is not enough
    page = client.get("/sign-in/set-up")
    assert page.status_code == 200 and "<svg" in page.text  # drawn by us, inline
    secret = re.search(r'id="totp-secret" class="secret">([A-Z2-7 ]+)<', page.text).group(1)
    secret = secret.replace(" ", "")
    assert len(secret) == 32
    assert "otpauth" not in page.text and "http" not in page.text.split("<svg")[1][:200]
    # The page shows the same secret on every visit until it is confirmed.
    assert secret.replace(" ", "") in client.get("/sign-in/set-up").text.replace(" ", "")

    wrong = client.post(
        "/sign-in/set-up", data={"code": a_wrong_totp(secret), "csrf_token": token_of(page.text)}
    )
    assert wrong.status_code == 400 and "phone&#39;s clock" in wrong.text
    shown = client.post(
        "/sign-in/set-up",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": token_of(page.text)},
    )
    assert shown.status_code == 200
    codes = re.findall(r"<code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code>", shown.text)
    assert len(set(codes)) == 10
    assert 'href="/officers/outbox"' in shown.text  # on to where they were going
    assert signed_in(client)
    stored = db.session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10 and not any(c.replace("-", "") in stored for c in codes)
    assert actions()[-3:] == [
        "officer.second_factor_failed",
        "officer.second_factor_set_up",
        "officer.signed_in",
    ]
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "officer.signed_in")
    ).one()
    assert event.details == {"method": "password+totp_setup"}
    # Shown once: the set-up page has nothing more to give.
    assert client.get("/sign-in/set-up").status_code == 302


def test_every_sign_in_then_asks_for_a_code_and_never_takes_one_twice(app, make_officer):
    officer = make_officer()
    secret = second_factor_secret(app, officer.id)
    totp = pyotp.TOTP(secret)
    client = new_client(app)
    response = password_step(client, officer.email, PASSWORDS["officer"])
    assert response.headers["Location"] == "/sign-in/code"
    assert not signed_in(client)
    code = totp.now()
    assert code_step(client, code).status_code == 302
    assert signed_in(client)
    client.post("/sign-out", data={"csrf_token": token_of(client.get("/officers/").text)})

    # The same code again (a replay, or an onlooker): refused, with what to do.
    password_step(client, officer.email, PASSWORDS["officer"])
    replayed = code_step(client, code)
    assert replayed.status_code == 400 and "used already" in replayed.text
    assert not signed_in(client)
    # The previous step's code is older than the one used: refused too.
    previous = totp.at(datetime.now(UTC).timestamp() - 30)
    assert code_step(client, previous).status_code == 400
    # The next step's code (a phone's clock a little ahead) is accepted.
    assert code_step(client, totp.at(datetime.now(UTC).timestamp() + 30)).status_code == 302
    assert signed_in(client)
    failures = db.session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "officer.second_factor_failed")
    ).all()
    assert [f["reason"] for f in failures] == ["replayed", "replayed"]


def test_an_address_and_code_pasted_with_a_character_nobody_sees_are_theirs(app, make_officer):
    """A code copied from an app or a password manager may bring a zero-width space or
    a soft hyphen along: unseen, it cannot be typed away (they made a code wrong, as in
    a reference on the public check: an outside check)."""
    officer = make_officer()
    totp = pyotp.TOTP(second_factor_secret(app, officer.id))
    client = new_client(app)
    # And the e-mail address so pasted (refused as a wrong one: an outside check).
    pasted = "\u200b" + officer.email[:3] + "\u00ad" + officer.email[3:] + "\ufeff"
    assert password_step(client, pasted, PASSWORDS["officer"]).status_code == 302
    code = totp.now()
    assert code_step(client, "\u200b" + code[:3] + "\u00ad" + code[3:]).status_code == 302
    assert signed_in(client)


def test_a_code_one_step_behind_is_accepted_two_steps_is_not(app, make_officer):
    officer = make_officer()
    totp = pyotp.TOTP(second_factor_secret(app, officer.id))
    client = new_client(app)
    password_step(client, officer.email, PASSWORDS["officer"])
    now = datetime.now(UTC).timestamp()
    if now % 30 > 25:  # a step's end is near: "one behind" would be two by the second ask
        time.sleep(30.5 - now % 30)
        now = datetime.now(UTC).timestamp()
    assert code_step(client, totp.at(now - 60)).status_code == 400
    assert code_step(client, totp.at(now - 30)).status_code == 302


@pytest.mark.parametrize(
    "code",
    [
        "",
        " ",
        "12345",
        "1234567",
        "１２３４５６",
        "abcdef",
        "'; DROP TABLE officers;--",
        "9" * 10_000,
        "\x00" * 6,
        "🙂🙂🙂🙂🙂🙂",
    ],
)
def test_hostile_codes_are_refused_plainly(app, make_officer, code):
    officer = make_officer()
    second_factor_secret(app, officer.id)
    client = new_client(app)
    password_step(client, officer.email, PASSWORDS["officer"])
    answer = code_step(client, code)
    assert answer.status_code == 400
    assert "That code is not right" in error_tied_to(answer.text, "code")
    assert not signed_in(client)


def test_a_recovery_code_works_once(app, make_officer, required):
    officer = make_officer()
    client = new_client(app)
    password_step(client, officer.email, PASSWORDS["officer"])
    client.get("/sign-in/set-up")
    secret = db.session.scalar(select(Officer.totp_pending_secret))
    shown = code_step(client, pyotp.TOTP(secret).now(), path="/sign-in/set-up")
    codes = re.findall(r"<code>([a-z2-7-]{14})</code>", shown.text)
    client.post("/sign-out", data={"csrf_token": token_of(client.get("/officers/").text)})

    other = new_client(app)
    password_step(other, officer.email, PASSWORDS["officer"])
    used = code_step(other, codes[3].upper().replace("-", " "))  # typed loosely
    assert used.status_code == 302
    assert "recovery code; 9 left" in other.get("/officers/").text
    assert signed_in(other)
    assert "officer.recovery_code_used" in actions()
    third = new_client(app)
    password_step(third, officer.email, PASSWORDS["officer"])
    again = code_step(third, codes[3])
    assert again.status_code == 400 and not signed_in(third)


def test_wrong_codes_are_throttled_and_the_message_says_what_to_do(app, make_officer, monkeypatch):
    # Ten minutes, said so however slow the machine (one minute can read "59 seconds").
    monkeypatch.setitem(app.config, "LOGIN_DELAY_SECONDS", 600)
    monkeypatch.setitem(app.config, "LOGIN_MAX_DELAY_SECONDS", 3600)
    officer = make_officer()
    totp = pyotp.TOTP(second_factor_secret(app, officer.id))
    client = new_client(app)
    password_step(client, officer.email, PASSWORDS["officer"])
    for _ in range(app.config["LOGIN_FREE_FAILURES"]):
        assert code_step(client, a_wrong_totp(totp.secret)).status_code == 400
    refused = code_step(client, totp.now())  # even the right code waits now
    assert refused.status_code == 429
    assert "Too many wrong codes. Wait 10 minutes" in refused.text
    # Its advice is the code step's (it was about a forgotten password).
    assert "Use one of your recovery codes" in refused.text
    assert "Forgotten your password" not in refused.text
    assert not signed_in(client)
    # Another browser with the password too: the account's codes are held, not the browser's.
    thief = app.test_client()
    password_step(thief, officer.email, PASSWORDS["officer"])
    assert code_step(thief, totp.now()).status_code == 429
    assert code_step(thief, totp.now()).status_code == 429
    # One row a minute in the account's force's log, not one per refused code.
    assert actions().count("officer.second_factor_throttled") == 1
    monkeypatch.setitem(app.config, "LOGIN_DELAY_SECONDS", 0)
    assert code_step(client, totp.now()).status_code == 302


def test_wrong_codes_from_someone_with_the_password_do_not_keep_the_owners_browser_out(
    app, make_officer, monkeypatch
):
    """Someone with the password kept the owner from finishing signing in anywhere, five
    wrong codes at a time (an outside check). A browser that signed in before counts
    its own."""
    monkeypatch.setitem(app.config, "LOGIN_DELAY_SECONDS", 600)
    officer = make_officer()
    totp = pyotp.TOTP(second_factor_secret(app, officer.id))
    owner = new_client(app)
    password_step(owner, officer.email, PASSWORDS["officer"])
    assert code_step(owner, totp.now()).status_code == 302  # the owner's phone, trusted now
    owner.post("/sign-out", data={"csrf_token": token_of(owner.get("/officers/").text)})
    thief = app.test_client()
    password_step(thief, officer.email, PASSWORDS["officer"])
    for _ in range(app.config["LOGIN_FREE_FAILURES"] + 1):
        code_step(thief, a_wrong_totp(totp.secret))
    assert code_step(thief, a_wrong_totp(totp.secret)).status_code == 429
    password_step(owner, officer.email, PASSWORDS["officer"])
    next_code = totp.at(time.time() + 30)  # one step on: a code not used before
    assert code_step(owner, next_code).status_code == 302
    # A browser new to the account is held with the guesser's count.
    stranger = new_client(app)
    password_step(stranger, officer.email, PASSWORDS["officer"])
    assert code_step(stranger, totp.now()).status_code == 429


def test_the_code_page_needs_the_password_first_and_not_long_ago(app, make_officer, monkeypatch):
    officer = make_officer()
    totp = pyotp.TOTP(second_factor_secret(app, officer.id))
    client = new_client(app)
    for path in ("/sign-in/code", "/sign-in/set-up"):
        answer = client.post(
            path, data={"code": totp.now(), "csrf_token": token_of(client.get("/sign-in").text)}
        )
        assert answer.status_code == 302 and answer.headers["Location"] == "/sign-in"
    password_step(client, officer.email, PASSWORDS["officer"])
    monkeypatch.setattr(second_factor, "PENDING_SECONDS", 0)
    time.sleep(1.1)
    assert code_step(client, totp.now()).headers["Location"] == "/sign-in"
    assert not signed_in(client)


def test_a_disabled_account_cannot_finish_signing_in(app, make_officer):
    officer = make_officer()
    totp = pyotp.TOTP(second_factor_secret(app, officer.id))
    client = new_client(app)
    password_step(client, officer.email, PASSWORDS["officer"])
    db.session.get(Officer, officer.id).active = False
    db.session.commit()
    assert code_step(client, totp.now()).headers["Location"] == "/sign-in"
    assert db.session.scalar(select(StaffSession.id)) is None


def test_production_always_requires_it(app, make_officer, monkeypatch):
    officer = make_officer()
    assert second_factor.next_step(officer) is None  # the tests' own setting
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    assert second_factor.next_step(officer) == "setup"


def test_the_code_command_is_for_development_only(app, make_officer, runner, monkeypatch):
    officer = make_officer()
    secret = second_factor_secret(app, officer.id)
    refused = runner.invoke(args=["officers", "totp-code", officer.email])
    assert refused.exit_code != 0 and "APP_ENV=development" in refused.output
    monkeypatch.setitem(app.config, "ENV_NAME", "development")
    shown = runner.invoke(args=["officers", "totp-code", officer.email])
    assert shown.exit_code == 0 and pyotp.TOTP(secret).verify(shown.output.strip(), valid_window=1)


def test_the_command_line_can_start_the_second_factor_again(app, make_officer, runner, required):
    officer = make_officer()
    second_factor_secret(app, officer.id)
    result = runner.invoke(args=["officers", "reset-second-factor", "--email", officer.email])
    assert result.exit_code == 0, result.output
    client = new_client(app)
    answer = password_step(client, officer.email, PASSWORDS["officer"])
    assert answer.headers["Location"] == "/sign-in/set-up"
    assert db.session.scalar(select(RecoveryCode.id)) is None


def test_the_demo_accounts_sign_in_with_their_printed_secrets(app, app_ctx, runner, required):
    from app.cli.demo import DEMO_ACCOUNTS, SECOND_FORCE_ACCOUNTS

    assert runner.invoke(args=["demo", "seed", "--residents", "1"]).exit_code == 0
    printed = runner.invoke(args=["demo", "accounts"]).output
    secrets = re.findall(r"TOTP secret: ([A-Z2-7]{32})", printed)
    accounts = DEMO_ACCOUNTS + SECOND_FORCE_ACCOUNTS
    assert len(secrets) == len(accounts) and "totp-code" in printed
    # The first force's administrator, and the second force's officer.
    for n in (3, 4):
        email, _, role, password = accounts[n]
        client = new_client(app)
        assert password_step(client, email, password).headers["Location"] == "/sign-in/code"
        assert code_step(client, pyotp.TOTP(secrets[n]).now()).status_code == 302
        assert signed_in(client)
    # Seeding again changes nobody's secret.
    runner.invoke(args=["demo", "seed", "--residents", "1"])
    again = runner.invoke(args=["demo", "accounts"]).output
    assert re.findall(r"TOTP secret: ([A-Z2-7]{32})", again) == secrets
