"""Administrators run staff accounts from the browser: invite (a link by e-mail, or
single sign-on only), change a role, disable with a confirmation, enable, and send a
one-time reset link. Every change is audited; nobody can leave the force without an
administrator."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import func, select, text, update

from app.extensions import db
from app.models import AuditEvent, Officer, OutboxMessage, ResidentNotice, StaffSession
from app.models.officer import AccountLink
from app.services import forces
from tests.factories import (
    PASSWORDS,
    a_wrong_totp,
    error_tied_to,
    form_token,
    refused_after_the_lock,
    signed_in,
)

BROWSER = "Mozilla/5.0 (Linux; Android 14) Mobile Safari"


@pytest.fixture
def admin(make_officer):
    return make_officer(role="admin")


@pytest.fixture
def admin_client(app, admin):
    return signed_in(app, admin, "admin")


def post(client, path, data=None, token_from="/admin/officers"):
    return client.post(path, data={**(data or {}), "csrf_token": form_token(client, token_from)})


def fresh(officer_id: int) -> Officer:
    """The account as the database has it now (the requests changed it)."""
    db.session.expire_all()
    return db.session.get(Officer, officer_id)


def audit(action: str) -> list[AuditEvent]:
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ).all()


def mailed_link(providers, run_worker) -> str:
    run_worker()
    (message,) = providers.mail.messages
    body = message.get_body(("plain",)).get_content()
    # Written to a member of staff: it ends with its own words, not the residents'
    # "To stop these e-mails: call 101" (an invitation ended with it).
    assert "call 101" not in body and body.rstrip().endswith("tell your administrator.")
    return urlsplit(re.search(r"http\S+/account/set-password/\S+", body).group(0)).path


def set_password(client, path, password, confirm=None):
    token = form_token(client, path if client.get(path).status_code == 200 else "/sign-in")
    return client.post(
        path,
        data={"password": password, "confirm": confirm or password, "csrf_token": token},
    )


def test_the_list_shows_role_and_last_sign_in_and_only_admins_see_it(
    app, admin_client, officer_client, officer
):
    page = admin_client.get("/admin/officers")
    assert page.status_code == 200
    assert officer.email in page.text and "Last sign-in" in page.text
    assert officer_client.get("/admin/officers").status_code == 403
    assert officer_client.get(f"/admin/officers/{officer.id}").status_code == 403
    # In UK time and the page's language: a July sign-in at 12:00 read "01 Jul 2026
    # 11:00" (UTC, English months) on the Welsh pages (an outside check).
    from datetime import UTC, datetime

    db.session.execute(
        text("UPDATE officers SET last_login_at = :at WHERE id = :id"),
        {"at": datetime(2026, 7, 1, 11, 0, tzinfo=UTC), "id": officer.id},
    )
    db.session.commit()
    for path in ("/admin/officers?lang=cy", f"/admin/officers/{officer.id}?lang=cy"):
        said = admin_client.get(path).text
        assert "1 Gorff 2026 12:00" in said and "Jul" not in said, path
    refused = officer_client.post(f"/admin/officers/{officer.id}/role", data={"role": "admin"})
    assert refused.status_code in (400, 403)
    assert fresh(officer.id).role == "officer"


def old_password_sign_in(app, officer):
    """A new browser signing in as the officer with the password they were made with."""
    client = app.test_client()
    return client.post(
        "/sign-in",
        data={
            "email": officer.email,
            "password": PASSWORDS["officer"],
            "csrf_token": form_token(client, "/sign-in"),
        },
    )


def test_a_reset_link_by_email_sets_a_new_password_once_and_the_app_again(
    app, admin_client, make_officer, providers, run_worker, monkeypatch, caplog
):
    monkeypatch.setitem(app.config, "STAFF_TOTP_REQUIRED", True)
    caplog.set_level(logging.DEBUG)
    pc = make_officer()
    phone = signed_in(app, pc, "officer")  # signed in, with an authenticator app
    old_secret = fresh(pc.id).totp_secret
    page = admin_client.get(f"/admin/officers/{pc.id}")
    assert "Send a reset link" in page.text
    sent = post(
        admin_client, f"/admin/officers/{pc.id}/reset", token_from=f"/admin/officers/{pc.id}"
    )
    assert sent.status_code == 302
    assert phone.get("/officers/").status_code == 302  # their sessions have ended
    # And their password, before the link is used: an admin resetting an account they
    # feared was in someone else's hands found the old one still let them in (an
    # outside check).
    refused = old_password_sign_in(app, pc)
    assert refused.status_code == 400 and "not right" in refused.text
    assert "their old password no longer works" in admin_client.get(f"/admin/officers/{pc.id}").text
    path = mailed_link(providers, run_worker)
    token = path.rsplit("/", 1)[1]
    assert len(token) >= 40
    stored = db.session.scalars(select(AccountLink.token_hash)).one()
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    assert token not in stored and not any(token in line for line in ours)
    assert all(token not in repr(e.details) for e in db.session.scalars(select(AuditEvent)))
    # The e-mail's words are not kept once it has gone.
    assert db.session.scalars(select(ResidentNotice.body)).all() in ([None], [""])
    assert [e.actor_id for e in audit("officer.reset_sent")] == [
        db.session.scalar(select(Officer.id).where(Officer.role == "admin"))
    ]

    user = app.test_client()
    user.environ_base["HTTP_USER_AGENT"] = BROWSER
    assert "Set a new password" in user.get(path).text
    weak = set_password(user, path, "password1234")
    assert weak.status_code == 400 and "attackers try first" in error_tied_to(weak.text, "password")
    differ = set_password(user, path, "a quiet river at dawn", "a quiet river at dusk")
    # The second box is at fault, not the first (an outside check).
    assert differ.status_code == 400 and "not the same" in error_tied_to(differ.text, "confirm")
    done = set_password(user, path, "a quiet river at dawn")
    assert done.status_code == 302 and done.headers["Location"] == "/sign-in/set-up"
    # The old password no longer works; the new one asks for a new second factor.
    assert fresh(pc.id).totp_secret is None
    setup = user.get("/sign-in/set-up")
    secret = re.search(r'id="totp-secret" class="secret">([A-Z2-7 ]+)<', setup.text).group(1)
    secret = secret.replace(" ", "")
    assert secret != old_secret
    wrong = user.post(
        "/sign-in/set-up",
        data={"code": a_wrong_totp(secret), "csrf_token": form_token(user, "/sign-in")},
    )
    assert wrong.status_code == 400 and error_tied_to(wrong.text, "code")
    shown = user.post(
        "/sign-in/set-up",
        data={"code": pyotp.TOTP(secret).now(), "csrf_token": form_token(user, "/sign-in")},
    )
    assert shown.status_code == 200 and user.get("/officers/").status_code == 200
    # Used: the link works no more.
    again = user.get(path)
    assert again.status_code == 410 and "already been used" in again.text
    assert set_password(app.test_client(), path, "another fine passphrase").status_code == 410
    assert old_password_sign_in(app, pc).status_code == 400
    assert [e.details["link"] for e in audit("officer.password_set")] == ["reset"]
    reasons = set(db.session.scalars(select(StaffSession.ended_reason)))
    assert "reset" in reasons


def test_an_administrator_resetting_their_own_account_is_told_it_signs_them_out(
    app, admin, admin_client, make_officer, providers, run_worker
):
    pc = make_officer()
    theirs = admin_client.get(f"/admin/officers/{pc.id}/reset")
    assert "This is your own account" not in theirs.text and "sign me out" not in theirs.text
    assert "sign me out" in admin_client.get(f"/admin/officers/{admin.id}").text
    own = admin_client.get(f"/admin/officers/{admin.id}/reset")
    assert "This is your own account" in own.text and "sign me out" in own.text
    sent = post(
        admin_client,
        f"/admin/officers/{admin.id}/reset",
        token_from=f"/admin/officers/{admin.id}/reset",
    )
    # Their own session ended with the others: the answer is the sign-in page, saying why.
    assert sent.status_code == 302 and sent.headers["Location"] == "/sign-in"
    page = admin_client.get("/sign-in")
    assert "old password no longer works: use the link to sign in again" in page.text
    assert admin_client.get("/admin/officers").status_code == 302
    assert mailed_link(providers, run_worker).startswith("/account/set-password/")


def test_the_reset_is_asked_first_and_the_question_changes_nothing(
    app, admin_client, make_officer, providers, run_worker
):
    # One tap on the account's page ended its sessions and its password (an outside
    # check): the page links to a question, as disabling does.
    pc = make_officer()
    phone = signed_in(app, pc, "officer")
    page = admin_client.get(f"/admin/officers/{pc.id}").text
    assert f'action="/admin/officers/{pc.id}/reset"' not in page
    assert f'href="/admin/officers/{pc.id}/reset"' in page
    asked = admin_client.get(f"/admin/officers/{pc.id}/reset")
    assert asked.status_code == 200 and "Reset" in asked.text and pc.email in asked.text
    assert f'action="/admin/officers/{pc.id}/reset"' in asked.text
    assert f'href="/admin/officers/{pc.id}"' in asked.text  # "No, go back"
    run_worker()
    assert providers.mail.messages == [] and audit("officer.reset_sent") == []
    assert phone.get("/officers/").status_code == 200  # still signed in
    assert fresh(pc.id).password_hash is not None
    # A disabled account has nothing to reset: its page says what can be done.
    db.session.execute(update(Officer).where(Officer.id == pc.id).values(active=False))
    db.session.commit()
    gone = admin_client.get(f"/admin/officers/{pc.id}/reset")
    assert gone.status_code == 302 and gone.headers["Location"] == f"/admin/officers/{pc.id}"
    assert admin_client.get("/admin/officers/987654/reset").status_code == 404


def test_an_expired_or_unknown_link_says_to_ask_for_a_new_one(
    app, admin, admin_client, make_officer, providers, run_worker, monkeypatch
):
    pc = make_officer()
    monkeypatch.setitem(app.config, "ACCOUNT_LINK_HOURS", 0)
    post(admin_client, f"/admin/officers/{pc.id}/reset")
    path = mailed_link(providers, run_worker)
    client = app.test_client()
    answer = client.get(path)
    assert answer.status_code == 410 and "Ask an administrator" in answer.text
    for hostile in ("x", "A" * 5000, "%00", "é" * 40, "../../etc"):
        assert client.get(f"/account/set-password/{hostile}").status_code in (404, 410)
    assert fresh(pc.id).password_hash is None  # none set: the reset ended the old one


def test_a_newer_link_replaces_the_older(app, admin_client, make_officer, providers, run_worker):
    pc = make_officer()
    post(admin_client, f"/admin/officers/{pc.id}/reset")
    first = mailed_link(providers, run_worker)
    providers.mail.messages.clear()
    # Again within moments (a second tap): nothing more is sent, and it says why (seven
    # in a row were seven e-mails: an outside check).
    again = post(
        admin_client, f"/admin/officers/{pc.id}/reset", token_from=f"/admin/officers/{pc.id}"
    )
    assert again.status_code == 302
    page = admin_client.get(again.headers["Location"]).text
    assert "less than two minutes ago and has not been used" in page
    run_worker()
    assert providers.mail.messages == [] and len(audit("officer.reset_sent")) == 1
    # Two minutes on, a link lost in the post is sent again.
    db.session.execute(
        update(AccountLink).values(created_at=AccountLink.created_at - timedelta(minutes=3))
    )
    db.session.commit()
    post(admin_client, f"/admin/officers/{pc.id}/reset")
    second = mailed_link(providers, run_worker)
    client = app.test_client()
    assert client.get(first).status_code == 410
    assert client.get(second).status_code == 200
    # Disabled, then enabled again: the link it had is dead (it worked again).
    post(admin_client, f"/admin/officers/{pc.id}/disable")
    post(admin_client, f"/admin/officers/{pc.id}/enable")
    assert client.get(second).status_code == 410


def test_inviting_another_forces_officer_does_not_say_they_have_an_account(
    app, admin_client, make_officer, second_force
):
    """ "There is already an account for …" told an admin that an address had a staff
    account at another force (an outside check)."""
    make_officer(email="theirs@wilts.example", force_id=second_force.id)
    make_officer(email="ours@police.example")
    data = {"name": "X", "role": "officer", "sign_in": "password"}
    theirs = post(admin_client, "/admin/officers/invite", {**data, "email": "theirs@wilts.example"})
    assert theirs.status_code == 400
    assert "cannot have an account here" in theirs.text
    assert "already an account" not in theirs.text
    ours = post(admin_client, "/admin/officers/invite", {**data, "email": "ours@police.example"})
    assert ours.status_code == 400 and "There is already an account for" in ours.text


def test_an_invitation_sent_twice_is_one_invitation_without_the_pages_script(
    app, admin, admin_client, make_officer
):
    """Found by an outside check: the same invitation posted twice (a browser without
    the page's script, a retry on a slow link) showed "has been sent a link" over
    "There is already an account". The second goes to the account the first made; the
    same address with other details, or made by someone else, is still refused."""
    data = {"name": "PC Twice", "email": "twice@police.example", "role": "officer"}
    sent = {
        **data,
        "sign_in": "password",
        "csrf_token": form_token(admin_client, "/admin/officers"),
    }
    first = admin_client.post("/admin/officers/invite", data=sent)
    again = admin_client.post("/admin/officers/invite", data=sent)  # the same form, again
    assert first.status_code == again.status_code == 302
    assert again.location == first.location
    page = admin_client.get(again.location).text
    assert "has been sent a link" in page and "already an account" not in page
    assert (
        db.session.scalar(
            select(func.count()).select_from(Officer).where(Officer.email == data["email"])
        )
        == 1
    )
    other = post(admin_client, "/admin/officers/invite", {**data, "role": "supervisor"})
    assert other.status_code == 400 and "There is already an account for" in other.text
    # Another team, or single sign-on, is another invitation: refused, not taken for the
    # first (a review).
    from app.services import teams

    team = teams.create_team(db.session.get(Officer, admin.id), "Central")
    db.session.commit()
    in_team = post(admin_client, "/admin/officers/invite", {**data, "team": str(team.id)})
    assert in_team.status_code == 400 and "There is already an account for" in in_team.text
    make_officer(email="someone@police.example", name="PC Someone")
    theirs = {**data, "email": "someone@police.example", "name": "PC Someone"}
    refused = post(admin_client, "/admin/officers/invite", theirs)
    assert refused.status_code == 400 and "There is already an account for" in refused.text


def test_an_invitation_by_email_and_an_account_for_single_sign_on_only(
    app, admin_client, providers, run_worker, monkeypatch
):
    page = admin_client.get("/admin/officers/invite")
    assert page.status_code == 200
    # Single sign-on is offered only where it is set up: an account for it alone could
    # never sign in (an outside check made one an administrator, then stepped down).
    assert 'value="sso"' not in page.text
    unusable = {"name": "S", "email": "s@police.example", "role": "admin", "sign_in": "sso"}
    refused = post(admin_client, "/admin/officers/invite", unusable)
    assert refused.status_code == 400 and "Single sign-on is not set up" in refused.text
    assert db.session.scalar(select(Officer).where(Officer.email == unusable["email"])) is None
    monkeypatch.setitem(app.config, "SSO_ISSUER", "https://login.police.example")
    monkeypatch.setitem(app.config, "SSO_CLIENT_ID", "community-alerts")
    assert 'value="sso"' in admin_client.get("/admin/officers/invite").text
    data = {"name": "PC New Starter", "email": "new.starter@police.example", "role": "officer"}
    made = post(admin_client, "/admin/officers/invite", {**data, "sign_in": "password"})
    assert made.status_code == 302
    new = db.session.scalar(select(Officer).where(Officer.email == data["email"]))
    assert new.password_hash is None and new.role == "officer"
    # Not "single sign-on only" (it said so): a password, to be set with the link.
    shown = admin_client.get(f"/admin/officers/{new.id}").text
    assert "Password, not set yet" in shown and "Single sign-on only" not in shown
    path = mailed_link(providers, run_worker)
    client = app.test_client()
    assert "Set a password for your new account" in client.get(path).text
    assert set_password(client, path, "my first proper passphrase").status_code == 302
    signed = client.post(
        "/sign-in",
        data={
            "email": data["email"],
            "password": "my first proper passphrase",
            "csrf_token": form_token(client, "/sign-in"),
        },
    )
    assert signed.status_code == 302

    # A name no person has (a NUL in it) is refused by name, at its field.
    nul = post(
        admin_client,
        "/admin/officers/invite",
        {"name": "An\x00alyst", "email": "nul@police.example", "role": "analyst", "sign_in": "sso"},
    )
    assert nul.status_code == 400
    assert "The name has a null character (NUL) in it" in nul.text
    # A way of signing in the form never offers is refused, not taken as a password.
    weird = {"name": "W", "email": "weird@police.example", "role": "analyst", "sign_in": "weird"}
    refused = post(admin_client, "/admin/officers/invite", weird)
    assert refused.status_code == 400
    assert "Choose how they sign in" in refused.text
    assert 'href="#sign-in-password"' in refused.text  # the summary leads to the choice
    assert db.session.scalar(select(Officer).where(Officer.email == weird["email"])) is None
    sso = post(
        admin_client,
        "/admin/officers/invite",
        {
            "name": "Analyst",
            "email": "sso.only@police.example",
            "role": "analyst",
            "sign_in": "sso",
        },
    )
    assert sso.status_code == 302
    assert len(providers.mail.messages) == 1  # no link for single sign-on
    account = db.session.scalar(select(Officer).where(Officer.email == "sso.only@police.example"))
    assert account.password_hash is None
    assert "Single sign-on only" in admin_client.get(f"/admin/officers/{account.id}").text
    created = audit("officer.created")
    assert [e.details for e in created] == [
        {"role": "officer", "password": False},
        {"role": "analyst", "password": False},
    ]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "email": "a@police.example", "role": "officer"}, "name", "Give the person"),
        ({"name": "X" * 250, "email": "a@example.invalid", "role": "officer"}, "name", "at most"),
        ({"name": "A", "email": "not-an-address", "role": "officer"}, "email", "e-mail"),
        ({"name": "A", "email": "a@police.example", "role": "superuser"}, "role", "Choose one of"),
        (
            {"name": "A", "email": "admin@police.example", "role": "officer"},
            "email",
            "already an account",
        ),
        (
            {"name": "Ünïcødé 名前", "email": "ü" * 300 + "@x.example", "role": "officer"},
            "email",
            "e-mail",
        ),
    ],
)
def test_a_refused_invitation_says_why_at_its_box_and_makes_nothing(
    app, admin_client, data, field, message
):
    before = db.session.scalar(select(db.func.count()).select_from(Officer))
    answer = post(admin_client, "/admin/officers/invite", {**data, "sign_in": "password"})
    assert answer.status_code == 400
    assert message in error_tied_to(answer.text, field)
    assert db.session.scalar(select(db.func.count()).select_from(Officer)) == before


def test_every_mistake_of_an_invitation_is_said_at_once(app, admin_client):
    # One a try: sent empty, only the name was said; the address's mistake came next
    # time (an outside check).
    before = db.session.scalar(select(db.func.count()).select_from(Officer))
    data = {"name": "", "email": "not-an-address", "role": "overlord", "sign_in": "x"}
    answer = post(admin_client, "/admin/officers/invite", data)
    assert answer.status_code == 400
    assert "Give the person" in error_tied_to(answer.text, "name")
    assert "e-mail" in error_tied_to(answer.text, "email")
    assert "Choose one of" in error_tied_to(answer.text, "role")
    assert "Choose how they sign in" in answer.text
    assert db.session.scalar(select(db.func.count()).select_from(Officer)) == before
    # Single sign-on chosen where it is not set up is said with the rest, not after.
    sso = post(admin_client, "/admin/officers/invite", data | {"sign_in": "sso"})
    assert "Give the person" in error_tied_to(sso.text, "name")
    assert "Single sign-on is not set up" in sso.text


def test_a_role_change_is_audited_and_ends_the_sessions(app, admin_client, make_officer):
    pc = make_officer()
    client = signed_in(app, pc, "officer")
    post(admin_client, f"/admin/officers/{pc.id}/role", {"role": "supervisor"})
    assert fresh(pc.id).role == "supervisor"
    assert client.get("/officers/").status_code == 302
    (event,) = audit("officer.role_changed")
    assert event.details["from"] == "officer" and event.details["to"] == "supervisor"
    assert event.actor_id is not None and event.at is not None
    bad = post(admin_client, f"/admin/officers/{pc.id}/role", {"role": "overlord"})
    assert bad.status_code == 302 and fresh(pc.id).role == "supervisor"


def test_an_administrator_gives_an_invited_account_a_mobile_from_the_browser(
    app, admin_client, make_officer, monkeypatch
):
    """Only `flask officers create --mobile` could give one: an account invited on
    these pages or made by single sign-on never had one, and got no approval request
    by text nor a test on its phone (an outside check of the install)."""
    sergeant = make_officer(role="supervisor", email="sgt@police.example")
    path = f"/admin/officers/{sergeant.id}/mobile"
    wrong = post(admin_client, path, {"mobile": "0117 496 0000"})  # a landline: no texts
    assert wrong.status_code == 400 and fresh(sergeant.id).mobile is None
    assert error_tied_to(wrong.text, "mobile")
    assert 'value="0117 496 0000"' in wrong.text  # kept as typed, to correct
    # Our own sending number is nobody's mobile: a test to it went from it to itself.
    monkeypatch.setitem(app.config, "TWILIO_FROM_NUMBER", "+447700900999")
    ours = post(admin_client, path, {"mobile": "07700 900999"})
    assert ours.status_code == 400 and "the number our texts and calls come from" in ours.text
    assert fresh(sergeant.id).mobile is None
    saved = post(admin_client, path, {"mobile": "07700 900555"})
    assert saved.status_code == 302 and fresh(sergeant.id).mobile == "+447700900555"
    page = admin_client.get(f"/admin/officers/{sergeant.id}").text
    assert "mobile is saved" in page and "+447700900555" not in page  # shown masked
    (event,) = audit("officer.mobile_changed")
    assert event.details == {"mobile": "set"} and "900555" not in str(event.details)
    post(admin_client, path, {"mobile": ""})
    assert fresh(sergeant.id).mobile is None
    assert [e.details for e in audit("officer.mobile_changed")][-1] == {"mobile": "removed"}


def test_two_changes_at_once_cannot_leave_the_force_without_an_administrator(app, admin):
    """Found by an outside check: "demote admin A" and "disable admin B", sent at the
    same moment, each counted the other as the administrator left, and both were
    made. Here B is disabled while A's demotion waits for the force's lock: when it
    gets it, it counts again and is refused."""
    from app.services.accounts import AccountError, change_role

    second = Officer(
        email="second.admin@police.example", name="Second", role="admin", password_hash="x"
    )
    db.session.add(second)
    db.session.commit()
    said = refused_after_the_lock(
        app,
        f"administrators:{admin.force_id}",
        lambda: change_role(db.session.get(Officer, admin.id), admin.id, "officer"),
        AccountError,
        "UPDATE officers SET active = false WHERE id = :id",
        {"id": second.id},
    )
    assert said == ["That is the last active administrator: make another first."]
    assert fresh(admin.id).role == "admin"


def test_disabling_asks_first_and_enable_brings_the_account_back(app, admin_client, officer):
    confirm = admin_client.get(f"/admin/officers/{officer.id}/disable")
    assert confirm.status_code == 200 and "Yes, disable the account" in confirm.text
    assert fresh(officer.id).active  # asking changes nothing
    post(admin_client, f"/admin/officers/{officer.id}/disable")
    assert not fresh(officer.id).active
    again = admin_client.get(f"/admin/officers/{officer.id}/disable")  # disabled already
    assert again.status_code == 302 and again.location.endswith(f"/admin/officers/{officer.id}")
    post(admin_client, f"/admin/officers/{officer.id}/enable")
    assert fresh(officer.id).active
    assert [e.action for e in audit("officer.disabled") + audit("officer.enabled")] == [
        "officer.disabled",
        "officer.enabled",
    ]


def test_a_disabled_officers_scheduled_alerts_never_go(
    app, admin_client, officer, make_officer, make_resident
):
    """An alert scheduled by an officer disabled a second after went to residents at
    its time (an outside check): disabling cancels it, audited; and one whose author
    was disabled another way is cancelled when its time comes, not sent."""
    from datetime import UTC, datetime, timedelta

    from app.models import Alert, Delivery
    from app.services.alerts import release_scheduled_alerts, submit_alert

    make_resident()
    area = [{"kind": "circle", "center": [-2.58823, 51.451967], "radius_m": 800}]
    later = datetime.now(UTC) + timedelta(hours=1)
    first = submit_alert(officer, shapes=area, title="A", body="B", send_at=later).alert
    # One waiting for approval went when a supervisor approved it (a re-check).
    waiting = submit_alert(
        officer, shapes=area, title="W", body="X", category="missing_person"
    ).alert
    other = make_officer(email="other.officer@example.invalid")
    second = submit_alert(other, shapes=area, title="C", body="D", send_at=later).alert
    assert {first.status, second.status} == {"scheduled"}
    assert waiting.status == "pending_approval"
    post(admin_client, f"/admin/officers/{officer.id}/disable")
    db.session.expire_all()
    assert db.session.get(Alert, first.id).status == "cancelled"
    assert db.session.get(Alert, waiting.id).status == "cancelled"
    cancelled = audit("alert.cancelled")
    assert {e.subject_id for e in cancelled} == {str(first.id), str(waiting.id)}
    assert all("disabled" in e.details["reason"] for e in cancelled)
    (disabled,) = audit("officer.disabled")
    assert disabled.details["scheduled_alerts_cancelled"] == 2
    db.session.execute(text("UPDATE officers SET active = false WHERE id = :id"), {"id": other.id})
    db.session.execute(text("UPDATE alerts SET send_at = now() - interval '1 minute'"))
    db.session.commit()
    assert release_scheduled_alerts() == 0
    db.session.expire_all()
    assert db.session.get(Alert, second.id).status == "cancelled"
    assert db.session.scalar(select(Delivery.id).limit(1)) is None  # nothing went


def test_the_last_admin_cannot_be_demoted_or_disabled(app, admin, admin_client, make_officer):
    demoted = post(admin_client, f"/admin/officers/{admin.id}/role", {"role": "officer"})
    assert demoted.status_code == 302
    assert "last active administrator" in admin_client.get(f"/admin/officers/{admin.id}").text
    assert fresh(admin.id).role == "admin"
    post(admin_client, f"/admin/officers/{admin.id}/disable")
    assert fresh(admin.id).active
    # Nor is the question put (an outside check opened it for their own account).
    own = admin_client.get(f"/admin/officers/{admin.id}/disable", follow_redirects=True)
    assert "Yes, disable the account" not in own.text
    assert "You cannot disable your own account." in own.text
    # An administrator invited but who has never signed in (no password set, or single
    # sign-on not used yet) is not a second one: they may never sign in.
    unused = make_officer(role="admin", email="invited.admin@police.example")
    unused.password_hash = None
    db.session.commit()
    post(admin_client, f"/admin/officers/{admin.id}/role", {"role": "officer"})
    assert fresh(admin.id).role == "admin"
    # With a second administrator, the first may step down.
    make_officer(role="admin", email="second.admin@police.example")
    post(admin_client, f"/admin/officers/{admin.id}/role", {"role": "supervisor"})
    assert fresh(admin.id).role == "supervisor"


def test_every_account_form_needs_the_csrf_token(app, admin_client, officer):
    for path, data in (
        (f"/admin/officers/{officer.id}/role", {"role": "admin"}),
        (f"/admin/officers/{officer.id}/reset", {}),
        (f"/admin/officers/{officer.id}/disable", {}),
        ("/admin/officers/invite", {"name": "A", "email": "a@police.example", "role": "admin"}),
    ):
        answer = admin_client.post(
            path, data={**data, "csrf_token": "forged"}, headers={"X-CSRFToken": "forged"}
        )
        assert answer.status_code == 400, path
    account = fresh(officer.id)
    assert account.role == "officer" and account.active
    assert db.session.scalar(select(AccountLink.id)) is None


def test_a_forces_staff_e_mails_are_in_its_own_outbox_only(
    app, make_officer, second_force, run_worker
):
    """An invitation to another force's new administrator was filed under the default
    force's outbox, where its lowest-ranked officer could open the set-password link
    and take the account (found by an outside probe). A notice to staff now carries
    their force."""
    wilts_admin = make_officer(role="admin", email="admin@wilts.example", force_id=second_force.id)
    wilts = signed_in(app, wilts_admin, "admin")
    data = {
        "name": "New Wilts",
        "email": "new@wilts.example",
        "role": "admin",
        "sign_in": "password",
    }
    assert post(wilts, "/admin/officers/invite", data).status_code == 302
    run_worker()
    avon = signed_in(app, make_officer(role="officer", email="pc@avon.example"), "officer")
    assert "new@wilts.example" not in avon.get("/officers/outbox").text
    assert "/account/set-password/" not in avon.get("/officers/outbox").text
    assert "/account/set-password/" in wilts.get("/officers/outbox").text
    assert "notice to a member of staff" in wilts.get("/officers/outbox").text


def test_only_administrators_see_a_set_password_link_in_the_outbox(
    app, admin_client, make_officer, run_worker
):
    """Every officer of the force could read an invited administrator's set-password
    link in the demo's outbox, and take the account (found by an outside probe)."""
    data = {"name": "New Admin", "email": "new.admin@police.example", "role": "admin"}
    assert (
        post(admin_client, "/admin/officers/invite", {**data, "sign_in": "password"}).status_code
        == 302
    )
    run_worker()
    body = db.session.scalars(select(OutboxMessage.body)).one()
    token = re.search(r"/account/set-password/(\S+)", body).group(1)
    assert token in admin_client.get("/officers/outbox").text
    for role in ("officer", "supervisor"):
        page = signed_in(app, make_officer(role=role), role).get("/officers/outbox").text
        assert "new.admin" not in page and token not in page
        assert "/account/set-password/[hidden]" in page
    seen = db.session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "outbox.viewed")
    ).all()
    message_id = db.session.scalar(select(OutboxMessage.id))
    assert seen and all(d["message_ids"] == [message_id] for d in seen)


def test_reading_staff_accounts_is_audited(admin_client, admin, make_officer):
    """Staff names and work addresses are personal data too: found by an outside probe,
    the staff list and an account's page were read with no trace."""
    pc = make_officer(email="pc.read@police.example")
    assert admin_client.get("/admin/officers").status_code == 200
    assert admin_client.get(f"/admin/officers/{pc.id}").status_code == 200
    db.session.expire_all()
    events = db.session.execute(
        select(AuditEvent.action, AuditEvent.actor_id, AuditEvent.subject_id).where(
            AuditEvent.action.in_(("officers.viewed", "officer.viewed"))
        )
    ).all()
    assert sorted(events) == [
        ("officer.viewed", admin.id, str(pc.id)),
        ("officers.viewed", admin.id, None),
    ]


def test_an_administrators_messages_and_the_roles_are_in_the_pages_language(
    app, admin_client, make_officer
):
    """Found by an outside check: on Welsh pages, "X is now an analyst.", "X's account
    is disabled…", the team messages and the role names were English."""
    pc = make_officer(name="Sam Jones")
    post(admin_client, f"/admin/officers/{pc.id}/role?lang=cy", {"role": "analyst"})
    page = admin_client.get(f"/admin/officers/{pc.id}?lang=cy").text
    assert "Mae Sam Jones bellach yn ddadansoddwr." in page
    assert ">Dadansoddwr</option>" in page and ">Goruchwyliwr</option>" in page
    post(admin_client, f"/admin/officers/{pc.id}/disable?lang=cy")
    listed = admin_client.get("/admin/officers?lang=cy").text
    assert "Mae cyfrif Sam Jones wedi&#39;i analluogi" in listed
    assert "is disabled" not in listed
    made = admin_client.post(
        "/admin/teams?lang=cy",
        data={"name": "Tîm Canol", "csrf_token": form_token(admin_client, "/admin/teams")},
    )
    team = made.headers["Location"]
    named = admin_client.post(
        f"{team}/members?lang=cy",
        data={"officers": ["x"], "csrf_token": form_token(admin_client, team)},
        follow_redirects=True,
    ).text
    assert "Dewiswch aelodau o&#39;r rhestr." in named


def test_the_last_admin_of_a_force_is_kept_from_the_shell_too(
    app, admin, make_officer, second_force, runner
):
    """`flask officers disable` disabled a force's only administrator, and there was no
    command to enable one again (an outside check). Another force's administrator is
    not this force's: they cannot manage its staff."""
    make_officer(role="admin", email="wilts.admin@police.example", force_id=second_force.id)
    refused = runner.invoke(args=["officers", "disable", "--email", admin.email])
    assert refused.exit_code == 1
    assert "That is the last active administrator of its force" in refused.output
    assert fresh(admin.id).active
    make_officer(role="admin", email="second.admin@police.example")
    assert runner.invoke(args=["officers", "disable", "--email", admin.email]).exit_code == 0
    assert not fresh(admin.id).active
    enabled = runner.invoke(args=["officers", "enable", "--email", admin.email])
    assert enabled.output == f"Enabled {admin.email}\n"
    assert fresh(admin.id).active
    # Again: said to be so already, not "Enabled" as if done now (an outside re-check).
    again = runner.invoke(args=["officers", "enable", "--email", admin.email])
    assert again.exit_code == 1 and "is already enabled: nothing changed" in again.output
    assert [e.details.get("by") for e in audit("officer.enabled")] == ["command line"]


def test_an_officers_page_says_their_teams_or_that_with_none_they_send_anywhere(
    admin_client, make_officer
):
    """Found by an outside check: an invited officer's page said nothing of teams, and
    an officer with none may send anywhere in the force."""
    from app.models import Officer, Place
    from app.services.teams import add_place_area, create_team, set_members

    pc = make_officer()
    admin = db.session.scalar(select(Officer).where(Officer.role == "admin"))
    page = admin_client.get(f"/admin/officers/{pc.id}").text
    assert "None: with no team, an officer may send anywhere in the force." in page
    team = create_team(admin, "Bristol <Central>")
    set_members(admin, team.id, [str(pc.id)])
    page = admin_client.get(f"/admin/officers/{pc.id}").text
    # A team with no area: they may send anywhere still, said beside its name (the
    # name alone did not say so: an outside check).
    assert "Bristol &lt;Central&gt;. No area is set for their teams" in page
    central = db.session.scalar(
        select(Place.id).where(Place.kind == "ward", Place.name == "Central")
    )
    add_place_area(admin, team.id, str(central))
    page = admin_client.get(f"/admin/officers/{pc.id}").text
    assert "Bristol &lt;Central&gt;" in page and "may send anywhere" not in page
    analyst = make_officer(role="analyst", email="analyst2@example.invalid")
    page = admin_client.get(f"/admin/officers/{analyst.id}").text
    assert "may send anywhere" not in page  # an analyst sends nothing (a re-check)


def test_an_invited_officer_starts_in_the_team_chosen_or_in_none(
    app, admin_client, make_officer, second_force
):
    """Found by an outside check: an invited officer started in no team, free to send
    anywhere in the force until an admin found the teams page."""
    from app.models import Team, team_members
    from app.services.teams import create_team

    admin = db.session.scalar(select(Officer).where(Officer.role == "admin"))
    assert 'id="team"' not in admin_client.get("/admin/officers/invite").text  # no teams yet
    team = create_team(admin, "Bristol Central")
    with forces.unscoped():
        theirs = Team(name="Swindon", force_id=second_force.id)
        db.session.add(theirs)
        db.session.commit()
    page = admin_client.get("/admin/officers/invite").text
    assert f'<option value="{team.id}">Bristol Central</option>' in page
    assert "Swindon" not in page
    base = {"name": "PC New", "role": "officer", "sign_in": "password"}
    before = db.session.scalar(select(db.func.count()).select_from(Officer))
    for team_value, role in (("abc", "officer"), (str(theirs.id), "officer"), ("99999", "officer")):
        refused = post(
            admin_client,
            "/admin/officers/invite",
            base | {"email": "new@police.example", "team": team_value, "role": role},
        )
        assert refused.status_code == 400, team_value
        assert "Choose a team from the list" in error_tied_to(refused.text, "team")
    analyst = post(
        admin_client,
        "/admin/officers/invite",
        base | {"email": "new@police.example", "team": str(team.id), "role": "analyst"},
    )
    assert "An analyst is in no team" in error_tied_to(analyst.text, "team")
    assert f'<option value="{team.id}" selected>' in analyst.text  # the choice kept
    assert db.session.scalar(select(db.func.count()).select_from(Officer)) == before

    made = post(
        admin_client,
        "/admin/officers/invite",
        base | {"email": "new@police.example", "team": str(team.id)},
    )
    assert made.status_code == 302
    new = db.session.scalar(select(Officer).where(Officer.email == "new@police.example"))
    members = db.session.scalars(
        select(team_members.c.officer_id).where(team_members.c.team_id == team.id)
    ).all()
    assert members == [new.id]
    (joined,) = audit("team.members_changed")
    assert joined.details == {"added": [new.id], "removed": []}
    assert joined.actor_id == admin.id and joined.subject_id == str(team.id)
    shown = admin_client.get(f"/admin/officers/{new.id}").text
    # (The team has no area yet: said so beside its name.)
    assert "Bristol Central. No area is set for their teams" in shown
    # No team chosen: none, as before.
    post(admin_client, "/admin/officers/invite", base | {"email": "two@police.example"})
    two = db.session.scalar(select(Officer).where(Officer.email == "two@police.example"))
    assert "None: with no team" in admin_client.get(f"/admin/officers/{two.id}").text


def test_an_invitation_from_a_welsh_page_is_in_welsh_then_english(
    app, admin_client, providers, run_worker
):
    # It was English alone, whatever the page (a Welsh force's admin invites in Welsh).
    data = {"name": "PC Newydd", "email": "newydd@police.example", "role": "officer"}
    made = post(admin_client, "/admin/officers/invite?lang=cy", data | {"sign_in": "password"})
    admin_client.get("/admin/?lang=en")
    assert made.status_code == 302
    run_worker()
    (message,) = providers.mail.messages
    assert message["Subject"] == "Eich cyfrif Community Alerts / Your Community Alerts account"
    body = message.get_body(("plain",)).get_content()
    welsh, english = body.split("----------")
    assert welsh.startswith("Mae gweinyddwr wedi creu cyfrif i chi ar Heddlu Avon a Gwlad yr Haf")
    assert "am 24 awr" in welsh and "tell your administrator" not in welsh
    assert "An administrator has made you an account on Avon and Somerset Police" in english
    links = re.findall(r"http\S+/account/set-password/\S+", body)
    assert len(links) == 2 and links[0] == links[1]
    # Marked Welsh, its English part English (marked English whole, a screen reader
    # read the Welsh with English rules), and the link a link (it was text to copy:
    # an outside check).
    page = message.get_body(("html",)).get_content()
    assert '<html lang="cy">' in page and message["Content-Language"] == "cy, en-GB"
    assert "<p>Mae gweinyddwr wedi creu cyfrif" in page
    assert '<p lang="en-GB">An administrator has made you an account' in page
    assert page.count(f'<a href="{links[0]}">') == 2
    # From an English page, English alone.
    providers.mail.messages.clear()
    post(admin_client, "/admin/officers/invite", data | {"email": "two@police.example"})
    run_worker()
    (message,) = providers.mail.messages
    assert message["Subject"] == "Your Community Alerts account"
    assert "Mae gweinyddwr" not in message.get_body(("plain",)).get_content()
    page = message.get_body(("html",)).get_content()
    assert '<html lang="en-GB">' in page and message["Content-Language"] == "en-GB"
    assert 'lang="cy"' not in page and page.count('<a href="http') == 1


def test_an_address_invited_twice_at_once_is_refused_the_second_time_not_an_error(app, admin):
    """Both invitations found the address free; the second broke the unique index (a
    500). Here the first holds the address's lock while this one waits."""
    from app.services.accounts import AccountError, invite_officer

    said = refused_after_the_lock(
        app,
        "officer-email:twice@police.example",
        lambda: invite_officer(
            db.session.get(Officer, admin.id),
            email="Twice@police.example",
            name="Twice",
            role="officer",
        ),
        AccountError,
        "INSERT INTO officers (email, name, role, force_id)"
        " VALUES ('twice@police.example', 'Twice', 'officer', :force)",
        {"force": admin.force_id},
    )
    assert said == ["There is already an account for twice@police.example."]


def test_an_invitation_that_fails_before_its_link_is_recorded_leaves_no_account(
    app, admin_client, monkeypatch
):
    # Made in two transactions, an account was kept without the link to sign in by
    # when the second failed (a worker killed between, the database gone).
    from app.services import accounts

    def lost(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(accounts, "_send_link", lost)
    data = {"name": "PC Lost", "email": "lost@police.example", "role": "officer"}
    admin = db.session.scalar(select(Officer).where(Officer.role == "admin"))
    with pytest.raises(RuntimeError):
        accounts.invite_officer(admin, **data)
    db.session.rollback()
    assert db.session.scalar(select(Officer).where(Officer.email == data["email"])) is None
    assert audit("officer.created") == []
