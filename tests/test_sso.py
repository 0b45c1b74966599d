"""Single sign-on with OpenID Connect against a real provider on loopback
(tests/oidc_provider.py): the app's Authlib client fetches discovery, keys and tokens
from it over HTTP, and the test client plays the browser, carrying the redirects."""

from __future__ import annotations

import html
import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Officer, OfficerIdentity
from app.services.accounts import set_officer_active_by_email
from app.services.sso import NO_PASSWORD, SsoMisconfigured, parse_role_map, role_for
from tests.factories import PASSWORDS, default_force_id
from tests.oidc_provider import LoopbackProvider, sso_configured


@pytest.fixture
def provider(app, app_ctx):
    with sso_configured(app) as provider:
        yield provider


def start(client, provider, at: str = "/sso") -> str:
    """Press "Sign in with…" (the provider's at /sso, or at /sso/<name>), let the
    provider approve: the callback URL it sends back."""
    out = client.get(f"{at}/login")
    assert out.status_code == 302, out.text
    assert out.location.startswith(provider.issuer + "/authorize?")
    approved = requests.get(out.location, allow_redirects=False, timeout=5)
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["Location"])
    assert back.path == f"{at}/callback"
    return f"{back.path}?{back.query}"


def sign_in(client, provider, at: str = "/sso"):
    return client.get(start(client, provider, at))


def refusals() -> list[AuditEvent]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "officer.sso_refused")
            .order_by(AuditEvent.id)
        )
    )


def officers() -> list[Officer]:
    db.session.rollback()
    return list(db.session.scalars(select(Officer).order_by(Officer.id)))


def message_on_sign_in_page(client, answer) -> str:
    assert answer.status_code == 302
    assert urlsplit(answer.location).path == "/sign-in"
    page = client.get("/sign-in")
    assert page.status_code == 200
    return html.unescape(page.text)


def test_first_sign_in_creates_the_account_with_the_mapped_role(client, provider):
    answer = sign_in(client, provider)
    assert answer.status_code == 302
    assert urlsplit(answer.location).path == "/officers/"
    assert client.get("/officers/").status_code == 200  # signed in

    [officer] = officers()
    assert (officer.email, officer.name, officer.role) == (
        "pc.jones@police.example",
        "PC Jones",
        "officer",
    )
    assert officer.password_hash == NO_PASSWORD and officer.last_login_at is not None
    [identity] = db.session.scalars(select(OfficerIdentity)).all()
    assert (identity.officer_id, identity.issuer, identity.subject) == (
        officer.id,
        provider.issuer,
        provider.user["sub"],
    )
    assert identity.last_used_at is not None
    actions = [e.action for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert actions == ["officer.created", "officer.signed_in"]

    # The flow: code with PKCE S256, a state and a nonce; the verifier went to /token.
    [asked] = provider.authorize_requests
    assert asked["response_type"] == "code" and asked["code_challenge_method"] == "S256"
    assert asked["state"] and asked["nonce"] and asked["code_challenge"]
    assert "openid" in asked["scope"].split()
    [token_request] = provider.token_requests
    assert token_request["code_verifier"] and provider.token_errors == []


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("PC\x1b[31m Jones\x07", "PC[31m Jones"),
        ("PC \u202eredrum", "PC redrum"),
        ("\u200b", "pc.jones"),  # nothing visible: the e-mail address's name
        ({"given": "A"}, "pc.jones"),
        ("Sgt\x00Evans", "SgtEvans"),
        # Accents with nothing to sit on, and invisible TAG letters (a re-check).
        ("\u0301\u0301\u0301", "pc.jones"),
        ("PC\U000e0041\U000e0042 Jones", "PC Jones"),
    ],
)
def test_a_providers_name_for_someone_is_kept_as_a_typed_name_would_be(
    client, provider, given, kept
):
    """Found by an outside check: escape codes, text turned round, an invisible name
    and an object's spelling were stored as officers' names (shown on staff pages, in
    the audit log, in "cancelled by"), and a NUL was a 400 that said "check what you
    entered"."""
    provider.user = {**provider.user, "name": given}
    answer = sign_in(client, provider)
    assert urlsplit(answer.location).path == "/officers/"
    [officer] = officers()
    assert officer.name == kept


def test_a_password_cannot_sign_in_to_an_account_made_by_single_sign_on(client, provider):
    sign_in(client, provider)
    other = client.application.test_client()
    page = other.get("/sign-in").text
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    answer = other.post(
        "/sign-in",
        data={"email": "pc.jones@police.example", "password": NO_PASSWORD, "csrf_token": token},
    )
    assert answer.status_code == 400


def test_the_second_sign_in_uses_the_same_account(app, client, provider):
    sign_in(client, provider)
    answer = sign_in(app.test_client(), provider)
    assert urlsplit(answer.location).path == "/officers/"
    assert len(officers()) == 1
    assert len(db.session.scalars(select(OfficerIdentity)).all()) == 1
    signed_in = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "officer.signed_in")
    ).all()
    assert len(signed_in) == 2 and all(e.details == {"method": "single sign-on"} for e in signed_in)


def test_the_highest_role_wins_and_a_change_takes_effect_at_the_next_sign_in(app, client, provider):
    provider.user["roles"] = ["CA.Officer", "CA.Supervisor", "Some.Other.Group"]
    sign_in(client, provider)
    [officer] = officers()
    assert officer.role == "supervisor"

    # Moved to another group at the provider.
    provider.user["roles"] = ["CA.Analyst"]
    answer = sign_in(app.test_client(), provider)
    assert urlsplit(answer.location).path == "/analysts/density"
    [officer] = officers()
    assert officer.role == "analyst"

    # The force changes the mapping: that group is now supervisors.
    app.config["SSO_ROLE_MAP"] = "CA.Analyst=supervisor, CA.Officer=officer"
    sign_in(app.test_client(), provider)
    [officer] = officers()
    assert officer.role == "supervisor"
    changes = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "officer.role_changed")
        .order_by(AuditEvent.id)
    ).all()
    assert [(e.details["from"], e.details["to"]) for e in changes] == [
        ("supervisor", "analyst"),
        ("analyst", "supervisor"),
    ]


NOT_VERIFIED = "Your sign-in with Loopback ID could not be verified, so you are not signed in."


@pytest.mark.parametrize(
    "misbehaviour, reason, message",
    [
        ({"claim_overrides": {"aud": "someone-else"}}, "wrong_audience", NOT_VERIFIED),
        (
            {"claim_overrides": {"aud": ["someone-else"], "azp": "community-alerts"}},
            "wrong_audience",
            NOT_VERIFIED,
        ),
        (
            {"claim_overrides": {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 4000}},
            "expired_token",
            "Your sign-in with Loopback ID had expired by the time it reached us.",
        ),
        ({"sign_with_foreign_key": True}, "bad_signature", NOT_VERIFIED),
        ({"claim_overrides": {"nonce": "not-the-one-we-sent"}}, "nonce_mismatch", NOT_VERIFIED),
        ({"claim_overrides": {"nonce": None}}, "nonce_mismatch", NOT_VERIFIED),
        ({"claim_overrides": {"iss": "http://127.0.0.1:9"}}, "wrong_issuer", NOT_VERIFIED),
        # A subject past OpenID Connect's 255 characters, or with a NUL, was "check what
        # you entered" and no trace (an outside check).
        ({"claim_overrides": {"sub": "s" * 10_000}}, "invalid_claim", NOT_VERIFIED),
        ({"claim_overrides": {"sub": "abc\x00def"}}, "invalid_claim", NOT_VERIFIED),
    ],
    ids=[
        "wrong-audience",
        "wrong-audience-with-our-azp",
        "expired",
        "bad-signature",
        "nonce-mismatch",
        "nonce-missing",
        "wrong-issuer",
        "subject-too-long",
        "subject-with-nul",
    ],
)
def test_a_token_that_fails_its_checks_is_refused_clearly_and_audited(
    client, provider, misbehaviour, reason, message
):
    for name, value in misbehaviour.items():
        setattr(provider, name, value)
    answer = sign_in(client, provider)
    assert message in message_on_sign_in_page(client, answer)
    assert client.get("/officers/").status_code == 302  # not signed in
    assert officers() == []
    [refusal] = refusals()
    assert refusal.details["reason"] == reason
    assert refusal.actor_id is None


def test_a_replayed_state_is_refused(app, client, provider):
    callback = start(client, provider)
    assert urlsplit(client.get(callback).location).path == "/officers/"
    client.post("/sign-out", headers={"X-CSRFToken": _csrf(client)})

    # The same answer again, in the same browser and in another.
    for browser in (client, app.test_client()):
        answer = browser.get(callback)
        page = message_on_sign_in_page(browser, answer)
        assert "That sign-in has already been used" in page
        assert browser.get("/officers/").status_code == 302
    assert [e.details["reason"] for e in refusals()] == ["state_mismatch", "state_mismatch"]
    # Refused before the code went back to the provider (which would refuse it too).
    assert len(provider.token_requests) == 1


def test_an_answer_for_another_browser_is_refused(app, client, provider):
    """Login CSRF: someone else's callback URL planted in this browser."""
    callback = start(app.test_client(), provider)
    answer = client.get(callback)
    assert "That sign-in has already been used" in message_on_sign_in_page(client, answer)
    assert [e.details["reason"] for e in refusals()] == ["state_mismatch"]
    assert provider.token_requests == []


def test_a_claim_that_maps_to_no_role_is_refused_and_no_account_is_made(client, provider):
    provider.user["roles"] = ["Finance", "All.Staff"]
    answer = sign_in(client, provider)
    page = message_on_sign_in_page(client, answer)
    assert "Your account is not in a group that may use Community Alerts." in page
    assert "Ask your IT team" in page
    assert officers() == []
    [refusal] = refusals()
    assert refusal.details["reason"] == "no_role"
    assert refusal.details["subject"] == provider.user["sub"]


def test_no_roles_claim_at_all_is_refused(client, provider):
    del provider.user["roles"]
    answer = sign_in(client, provider)
    assert "not in a group" in message_on_sign_in_page(client, answer)
    assert [e.details["reason"] for e in refusals()] == ["no_role"]


def test_a_disabled_account_is_refused_whatever_the_provider_says(app, client, provider):
    sign_in(client, provider)
    set_officer_active_by_email("pc.jones@police.example", active=False)
    assert client.get("/officers/").status_code == 302  # the open session ended

    other = app.test_client()
    answer = sign_in(other, provider)
    assert "Your account here has been disabled" in message_on_sign_in_page(other, answer)
    assert other.get("/officers/").status_code == 302
    [refusal] = refusals()
    [officer] = officers()
    assert refusal.details["reason"] == "disabled"
    assert (refusal.subject_type, refusal.subject_id) == ("officer", str(officer.id))


def test_keys_are_cached_and_fetched_again_when_the_provider_rotates_them(app, client, provider):
    sign_in(client, provider)
    sign_in(app.test_client(), provider)
    assert provider.jwks_requests == 1  # cached
    new_kid = provider.rotate()
    assert new_kid == "key-2"
    answer = sign_in(app.test_client(), provider)
    assert urlsplit(answer.location).path == "/officers/"
    assert provider.jwks_requests == 2
    assert refusals() == []


def test_a_key_the_provider_does_not_publish_is_refused(client, provider):
    provider.foreign_key = provider.foreign_key.__class__.generate_key(
        2048, parameters={"kid": "key-99"}
    )
    provider.sign_with_foreign_key = True
    answer = sign_in(client, provider)
    assert NOT_VERIFIED in message_on_sign_in_page(client, answer)
    assert [e.details["reason"] for e in refusals()] == ["unknown_key"]
    assert provider.jwks_requests == 2  # looked again before refusing


def test_an_existing_password_account_is_not_taken_over_by_its_e_mail_address(
    app, client, provider, make_officer
):
    existing = make_officer(role="officer", email="pc.jones@police.example")
    answer = sign_in(client, provider)
    page = message_on_sign_in_page(client, answer)
    assert "There is already an account here with your e-mail address" in page
    assert db.session.scalars(select(OfficerIdentity)).all() == []
    [refusal] = refusals()
    assert refusal.details["reason"] == "email_taken"
    assert refusal.subject_id == str(existing.id)


def test_linking_by_e_mail_address_when_the_force_turns_it_on(app, client, provider, make_officer):
    existing = make_officer(role="officer", email="PC.Jones@police.example")
    app.config["SSO_LINK_BY_EMAIL"] = True
    provider.user["roles"] = ["CA.Supervisor"]
    answer = sign_in(client, provider)
    assert urlsplit(answer.location).path == "/officers/"
    [officer] = officers()
    assert officer.id == existing.id and officer.role == "supervisor"
    [identity] = db.session.scalars(select(OfficerIdentity)).all()
    assert identity.officer_id == existing.id
    linked = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "officer.sso_linked")
    ).all()
    assert len(linked) == 1
    # The password still works for the break-glass case.
    page = app.test_client()
    token = page.get("/sign-in").text.split('name="csrf_token" value="')[1].split('"')[0]
    signed = page.post(
        "/sign-in",
        data={"email": existing.email, "password": PASSWORDS["officer"], "csrf_token": token},
    )
    assert signed.status_code == 302


def test_the_person_cancelling_at_the_provider_is_a_clear_refusal(client, provider):
    out = client.get("/sso/login")
    state = parse_qs(urlsplit(out.location).query)["state"][0]
    answer = client.get(f"/sso/callback?error=access_denied&error_description=x&state={state}")
    assert "Loopback ID did not sign you in." in message_on_sign_in_page(client, answer)
    [refusal] = refusals()
    assert refusal.details == {"reason": "provider_refused", "error": "access_denied"}


@pytest.mark.parametrize(("error", "kept"), [("%00", "(nothing readable)"), ("a%00b%1B", "ab")])
def test_a_provider_error_of_characters_the_log_cannot_hold_is_still_a_refusal(
    client, provider, error, kept
):
    """error=%00 failed the refusal's audit insert: "not a value we can use", and no
    event (an outside check)."""
    out = client.get("/sso/login")
    state = parse_qs(urlsplit(out.location).query)["state"][0]
    answer = client.get(f"/sso/callback?error={error}&state={state}")
    assert "Loopback ID did not sign you in." in message_on_sign_in_page(client, answer)
    [refusal] = refusals()
    assert refusal.details == {"reason": "provider_refused", "error": kept}


@pytest.mark.parametrize("query", ["", "?code=abc", "?state=abc", "?code=&state="])
def test_an_incomplete_callback_is_a_message_not_an_error(client, provider, query):
    client.get("/sso/login")
    answer = client.get(f"/sso/callback{query}")
    assert "That sign-in link is not complete." in message_on_sign_in_page(client, answer)
    assert [e.details["reason"] for e in refusals()] == ["incomplete_callback"]


def test_single_sign_on_refusals_follow_the_pages_language(client, provider):
    client.get("/sso/login")
    answer = client.get("/sso/callback?lang=cy")
    welsh = message_on_sign_in_page(client, answer)
    assert "Nid yw'r ddolen fewngofnodi honno'n gyflawn." in welsh
    assert "“Mewngofnodi gyda Loopback ID”" in welsh and "not complete" not in welsh
    out = client.get("/sso/login")
    state = parse_qs(urlsplit(out.location).query)["state"][0]
    answer = client.get(f"/sso/callback?error=access_denied&state={state}&lang=cy")
    assert "Ni wnaeth Loopback ID eich mewngofnodi." in message_on_sign_in_page(client, answer)


def test_a_provider_that_cannot_be_reached_is_a_message(app, client, provider):
    provider.stop()
    app.config["SSO_ISSUER"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    answer = client.get("/sso/login")
    assert "Signing in with Loopback ID is not working just now." in message_on_sign_in_page(
        client, answer
    )
    assert [e.details["reason"] for e in refusals()] == ["provider_unreachable"]


def test_the_sign_in_page_offers_single_sign_on_only_when_it_is_set_up(app, client, app_ctx):
    assert "Sign in with" not in client.get("/sign-in").text
    answer = client.get("/sso/login")
    assert "Single sign-on is not set up here." in message_on_sign_in_page(client, answer)
    assert refusals() == []
    with sso_configured(app):
        page = client.get("/sign-in").text
        assert 'href="/sso/login">Sign in with Loopback ID</a>' in page


def test_nothing_personal_or_secret_goes_in_the_logs_or_the_urls(client, provider, caplog):
    caplog.set_level(logging.DEBUG)
    callback = start(client, provider)
    client.get(callback)
    provider.claim_overrides = {"aud": "someone-else"}
    sign_in(client.application.test_client(), provider)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    for secret in ("pc.jones@police.example", "PC Jones", provider.client_secret, code):
        assert secret not in logged
    assert "pc.jones" not in callback and "pc.jones" not in provider.authorize_requests[0].values()


def test_the_role_map_and_the_highest_role():
    mapping = parse_role_map("CA.Officer=officer,\n a=b=admin , CA.Analyst = analyst")
    assert mapping == {"CA.Officer": "officer", "a=b": "admin", "CA.Analyst": "analyst"}
    assert role_for(["CA.Analyst", "CA.Officer"], mapping) == "officer"
    assert role_for(["a=b", "CA.Officer"], mapping) == "admin"
    assert role_for("CA.Analyst", mapping) == "analyst"
    assert role_for(["nothing"], mapping) is None
    assert role_for({"CA.Officer": 1}, mapping) is None
    with pytest.raises(SsoMisconfigured):
        parse_role_map("CA.Officer=constable")


def test_a_wrong_role_map_is_a_message_and_a_logged_setting_name(app, client, provider, caplog):
    app.config["SSO_ROLE_MAP"] = "CA.Officer=chief"
    answer = client.get("/sso/login")
    assert "is not working just now" in message_on_sign_in_page(client, answer)
    assert "SSO_ROLE_MAP" in caplog.text
    assert [e.details["reason"] for e in refusals()] == ["misconfigured"]


def _csrf(client) -> str:
    page = client.get("/officers/").text
    return page.split('name="csrf-token" content="')[1].split('"')[0]


def test_a_discovery_document_for_another_issuer_is_refused(app, client, provider):
    app.config["SSO_ISSUER"] = provider.issuer + "/tenant-b"
    app.config["SSO_DISCOVERY_URL"] = provider.discovery_url
    answer = client.get("/sso/login")
    assert "is not working just now" in message_on_sign_in_page(client, answer)
    assert [e.details["reason"] for e in refusals()] == ["misconfigured"]
    assert provider.authorize_requests == []


def test_single_sign_on_makes_and_links_accounts_of_its_own_force_only(
    app, client, provider, make_officer, second_force, monkeypatch
):
    monkeypatch.setitem(app.config, "SSO_FORCE", "wiltshire")
    monkeypatch.setitem(app.config, "SSO_LINK_BY_EMAIL", True)
    # An account of the default force with the same address is not linked to it.
    existing = make_officer(role="officer", email="pc.jones@police.example")
    page = message_on_sign_in_page(client, sign_in(client, provider))
    assert "single sign-on signs in Wiltshire Police staff only" in page
    [refusal] = refusals()
    assert refusal.details["reason"] == "other_force"
    assert refusal.subject_id == str(existing.id)
    # Someone new is made an account of the sign-on's force.
    provider.user["email"] = "pc.smith@police.example"
    provider.user["sub"] = "another-person"
    answer = sign_in(app.test_client(), provider)
    assert answer.status_code == 302
    made = db.session.scalars(select(Officer).where(Officer.email == "pc.smith@police.example"))
    assert made.one().force_id == second_force.id
    # A force it does not know: nobody is signed in.
    monkeypatch.setitem(app.config, "SSO_FORCE", "nowhere")
    provider.user["email"] = "pc.brown@police.example"
    provider.user["sub"] = "a-third-person"
    fresh = app.test_client()
    page = message_on_sign_in_page(fresh, sign_in(fresh, provider))
    assert "SSO_FORCE names no force" in page


# --- a provider for each force (SSO_PROVIDERS) -------------------------------------------


@pytest.fixture
def wiltshire_provider(app, provider, second_force, monkeypatch):
    """A second provider on loopback, Wiltshire's own, beside the first (the default
    force's): as a regional installation sets it up."""
    other = LoopbackProvider(client_id="community-alerts-wiltshire").start()
    other.redirect_uris = [app.config["PUBLIC_BASE_URL"].rstrip("/") + "/sso/wiltshire/callback"]
    other.user = {
        "sub": "wilts-0001",
        "email": "pc.wilts@police.example",
        "name": "PC Wilts",
        "roles": ["Wilts-Sergeants"],
    }
    monkeypatch.setitem(
        app.config,
        "SSO_PROVIDERS",
        {
            "wiltshire": {
                "ISSUER": other.issuer,
                "CLIENT_ID": other.client_id,
                "CLIENT_SECRET": other.client_secret,
                "ROLE_MAP": "Wilts-Sergeants=supervisor",
            }
        },
    )
    yield other
    other.stop()


def test_each_force_signs_its_staff_in_through_its_own_provider(
    app, client, provider, wiltshire_provider, second_force
):
    # The sign-in page offers both, the second named by its force.
    page = html.unescape(client.get("/sign-in").text)
    assert 'href="/sso/login"' in page and "Sign in with Loopback ID" in page
    assert 'href="/sso/wiltshire/login"' in page
    assert "Sign in with Wiltshire Police account" in page
    welsh = html.unescape(client.get("/sign-in?lang=cy").text)
    assert "Mewngofnodi gyda cyfrif Heddlu Wiltshire" in welsh
    # Through Wiltshire's: an account of Wiltshire, its role by Wiltshire's own map.
    answer = sign_in(client, wiltshire_provider, at="/sso/wiltshire")
    assert answer.status_code == 302 and urlsplit(answer.location).path == "/officers/"
    [made] = officers()
    assert (made.email, made.role, made.force_id) == (
        "pc.wilts@police.example",
        "supervisor",
        second_force.id,
    )
    [identity] = db.session.scalars(select(OfficerIdentity)).all()
    assert identity.issuer == wiltshire_provider.issuer
    signed_in = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "officer.signed_in")
    ).one()
    assert signed_in.details == {"method": "single sign-on", "provider": "wiltshire"}
    # The first provider still makes the default force's accounts.
    sign_in(app.test_client(), provider)
    assert [o.force_id for o in officers()] == [second_force.id, default_force_id()]
    # Wiltshire's map knows nothing of the first provider's groups.
    wiltshire_provider.user.update(sub="wilts-0002", email="x@police.example", roles=["CA.Admin"])
    fresh = app.test_client()
    text = message_on_sign_in_page(fresh, sign_in(fresh, wiltshire_provider, at="/sso/wiltshire"))
    assert "not in a group that may use" in text
    refusal = refusals()[-1]
    assert refusal.details["provider"] == "wiltshire"
    # In Wiltshire's audit log, not the default force's: it is their provider.
    assert refusal.force_id == second_force.id


def test_one_providers_answer_is_not_taken_at_anothers_callback(
    app, client, provider, wiltshire_provider
):
    # Started with the first provider, its answer brought to Wiltshire's callback.
    callback = start(client, provider)
    moved = callback.replace("/sso/callback", "/sso/wiltshire/callback")
    text = message_on_sign_in_page(client, client.get(moved))
    assert "already been used, or was started in another browser" in text
    assert refusals()[-1].details == {"reason": "state_mismatch", "provider": "wiltshire"}
    assert officers() == [] and wiltshire_provider.token_requests == []


def test_a_provider_signs_in_its_own_forces_accounts_only(
    app, client, provider, second_force, monkeypatch
):
    sign_in(client, provider)
    [officer] = officers()
    # Its settings now say it is Wiltshire's: the default force's account stays out.
    monkeypatch.setitem(app.config, "SSO_FORCE", "wiltshire")
    fresh = app.test_client()
    text = message_on_sign_in_page(fresh, sign_in(fresh, provider))
    assert "signs in Wiltshire Police staff only" in text
    refusal = refusals()[-1]
    assert (refusal.details["reason"], refusal.subject_id) == ("other_force", str(officer.id))


def test_a_provider_named_but_not_set_up_is_a_message_and_a_logged_setting(
    app, client, provider, second_force, monkeypatch, caplog
):
    monkeypatch.setitem(
        app.config, "SSO_PROVIDERS", {"wiltshire": {"ISSUER": provider.issuer, "CLIENT_ID": "x"}}
    )
    with caplog.at_level(logging.ERROR):
        answer = client.get("/sso/wiltshire/login")
    assert "is not working just now" in message_on_sign_in_page(client, answer)
    assert "SSO_WILTSHIRE_ROLE_MAP is not set" in caplog.text
    assert refusals()[-1].details == {"reason": "misconfigured", "provider": "wiltshire"}
    assert provider.authorize_requests == []
    # A timeout that is no number of seconds (no timeout at all, for ever, not a
    # number) is a setting to fix, not a page that hangs or fails.
    for timeout in ("inf", "0", "nan", "-5", "ten", "1e400"):
        values = {"ISSUER": provider.issuer, "CLIENT_ID": "x", "ROLE_MAP": "A=officer"}
        monkeypatch.setitem(
            app.config, "SSO_PROVIDERS", {"wiltshire": values | {"TIMEOUT_SECONDS": timeout}}
        )
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            answer = client.get("/sso/wiltshire/login")
        assert "is not working just now" in message_on_sign_in_page(client, answer), timeout
        assert "SSO_WILTSHIRE_TIMEOUT_SECONDS must be a number" in caplog.text
    assert provider.authorize_requests == []
    # A name it does not hold is no page; nor is anything else after /sso/.
    for path in ("/sso/devon/login", "/sso/devon/callback", "/sso/WILTSHIRE/login"):
        assert client.get(path).status_code == 404, path


def test_providers_are_read_from_the_environment(monkeypatch):
    from app.config import _sso_providers

    monkeypatch.setenv("SSO_PROVIDERS", " wiltshire ,\nDevon-and-Cornwall,")
    monkeypatch.setenv("SSO_WILTSHIRE_ISSUER", "https://id.wiltshire.example")
    monkeypatch.setenv("SSO_WILTSHIRE_CLIENT_ID", "ca")
    monkeypatch.setenv("SSO_WILTSHIRE_PROVIDER_NAME", "")
    monkeypatch.setenv("SSO_DEVON_AND_CORNWALL_FORCE", "devon-and-cornwall")
    assert _sso_providers() == {
        "wiltshire": {"ISSUER": "https://id.wiltshire.example", "CLIENT_ID": "ca"},
        "devon-and-cornwall": {"FORCE": "devon-and-cornwall"},
    }
