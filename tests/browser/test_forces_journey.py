"""Two forces, on a resident's phone (390x844, touch): the sign-up form names the force
that alerts a postcode as it is typed; a resident with a home in one force and a farm in
the other chooses per force on their own page (a refusal links to the choice); the
second force's public pages carry its own name and links. axe-core checks each page."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import Resident
from app.models.resident import resident_force_stops
from app.services.alerts import AlertDraft, submit_alert
from app.services.verification import manage_token
from tests.browser.axe import axe_violations
from tests.browser_fixtures import sideways
from tests.factories import default_force_id

pytestmark = pytest.mark.browser

BATH = "BA1 1RG"
TROWBRIDGE = "BA14 6AA"
AROUND_TROWBRIDGE = [{"kind": "circle", "center": [-2.1921, 51.2943], "radius_m": 3000}]


def test_the_sign_up_form_names_the_force_of_the_postcode(page, second_force):
    page.goto("/register")
    postcode = page.get_by_label("Your postcode")
    postcode.fill(TROWBRIDGE.lower())
    postcode.blur()
    expect(page.locator("#postcode-place")).to_contain_text(
        "Alerts for this place come from: Wiltshire."
    )
    # The statement to agree to names the force of the place, no longer every force.
    expect(page.locator("#consent-statement")).to_have_text(
        "I agree that Wiltshire Police may keep these details to send me alerts, "
        "until I ask them to stop."
    )
    expect(page.locator("#consent-for")).to_have_value(str(second_force.id))
    # A postcode the check cannot find marks the box as wrong at once (only the form's
    # own refusal did: an outside check), and a good one clears the mark.
    postcode.fill("CF10 1AA")
    postcode.blur()
    expect(page.locator("#postcode-place")).to_contain_text("We can't find CF10 1AA")
    expect(postcode).to_have_attribute("aria-invalid", "true")
    postcode.fill(BATH)
    postcode.blur()
    expect(page.locator("#postcode-place")).to_contain_text(
        "Alerts for this place come from: Avon and Somerset."
    )
    expect(postcode).not_to_have_attribute("aria-invalid", "true")
    assert axe_violations(page) == []
    # Signed up with the statement the page now shows: that is what the record keeps.
    postcode.fill(TROWBRIDGE)
    postcode.blur()
    expect(page.locator("#consent-for")).to_have_value(str(second_force.id))
    page.get_by_label("Text message").check()
    page.get_by_label("Mobile number").fill("07700 900191")
    page.locator("#consent").check()
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator(".error-summary")).to_have_count(0)
    db.session.expire_all()
    assert db.session.scalars(select(Resident.consent_text)).one() == (
        "I agree that Wiltshire Police may keep these details to send me alerts, "
        "until I ask them to stop."
    )
    assert page.console_errors == []


def test_a_resident_in_two_forces_chooses_per_force_on_a_phone(page, make_resident, second_force):
    resident = make_resident(postcode=BATH, also=(TROWBRIDGE,), sms="+447700901301")
    page.goto(f"/manage/{manage_token(resident)}")
    page.get_by_role("button", name="Open my alerts page").click()
    expect(page.get_by_role("heading", name="Police forces")).to_be_visible()
    avon = page.get_by_label("Avon and Somerset Police, for:")
    wilts = page.get_by_label("Wiltshire Police, for:")
    expect(avon).to_be_checked()
    expect(wilts).to_be_checked()
    assert sideways(page) <= 0
    assert axe_violations(page) == []

    # None at all is refused, and the message leads to the choice.
    avon.uncheck()
    wilts.uncheck()
    page.get_by_role("button", name="Save changes").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("Keep at least one police force")
    # Focused, as on the sign-up page: a keyboard starts at what went wrong (every
    # page with a summary, by page.js; this one left focus on the page).
    expect(summary).to_be_focused()
    summary.get_by_role("link").click()
    expect(page.locator("#forces-heading")).to_be_in_viewport()
    assert db.session.execute(select(resident_force_stops)).first() is None

    page.get_by_label("Avon and Somerset Police, for:").check()
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".flash")).to_be_visible()
    expect(page.get_by_label("Wiltshire Police, for:")).not_to_be_checked()
    expect(page.get_by_label("Avon and Somerset Police, for:")).to_be_checked()
    stops = db.session.scalars(select(resident_force_stops.c.force_id)).all()
    assert stops == [second_force.id]
    assert default_force_id() not in stops
    assert page.console_errors == []


def test_the_second_forces_public_pages_on_a_phone(
    page, make_officer, make_resident, second_force, run_worker
):
    make_resident(postcode=TROWBRIDGE, sms="+447700901302")
    officer = make_officer(email="pc@wilts.example", force_id=second_force.id)
    alert = submit_alert(
        officer,
        AlertDraft(shapes=AROUND_TROWBRIDGE, title="Sheds broken into", body="Lock sheds."),
    ).alert
    run_worker()
    page.goto("/forces/wiltshire/alerts")
    expect(page.locator("main")).to_contain_text("Wiltshire Police")
    assert axe_violations(page) == []
    page.get_by_role("link", name="Sheds broken into").click()
    assert page.url.endswith(f"/forces/wiltshire/alerts/{alert.reference}")
    expect(page.get_by_role("heading", name="Sheds broken into")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text("Avon and Somerset")
    assert sideways(page) <= 0
    assert axe_violations(page) == []
    assert page.console_errors == []


def test_a_postcodes_alerts_open_one_and_come_back_without_sending_the_form_again(
    page, make_officer, make_resident, second_force, run_worker
):
    """The postcode is posted (never in the address) and the post is answered by a
    redirect: opening an alert and going back shows the postcode's list again, with
    no "send the form again?" question (it asked before)."""
    make_resident(postcode=TROWBRIDGE, sms="+447700901303")
    officer = make_officer(email="pc@wilts.example", force_id=second_force.id)
    submit_alert(officer, AlertDraft(shapes=AROUND_TROWBRIDGE, title="Sheds broken into", body="B"))
    run_worker()
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.goto("/forces/wiltshire/alerts")
    page.get_by_label("Postcode or place").fill(TROWBRIDGE.lower())
    page.get_by_role("button", name="Show alerts").click()
    expect(page.get_by_role("status")).to_contain_text("1 alert for BA14 6AA")
    assert "BA14" not in page.url.upper() and page.url.endswith("/forces/wiltshire/alerts?near=1")
    page.get_by_role("link", name="Sheds broken into").click()
    expect(page.get_by_role("heading", name="Sheds broken into")).to_be_visible()
    page.go_back()
    expect(page.get_by_role("status")).to_contain_text("1 alert for BA14 6AA")
    page.reload()
    expect(page.get_by_role("status")).to_contain_text("1 alert for BA14 6AA")
    assert asked == []
    assert page.console_errors == []


def test_the_sign_in_page_offers_each_forces_own_sign_on_on_a_phone(
    page, app, second_force, monkeypatch
):
    # Two forces' providers (only their buttons are tried here: tests/test_sso.py signs
    # in through real ones on loopback).
    monkeypatch.setitem(app.config, "SSO_ISSUER", "https://id.avon.example")
    monkeypatch.setitem(app.config, "SSO_CLIENT_ID", "ca")
    monkeypatch.setitem(app.config, "SSO_PROVIDER_NAME", "Avon and Somerset Police account")
    monkeypatch.setitem(
        app.config,
        "SSO_PROVIDERS",
        {"wiltshire": {"ISSUER": "https://id.wilts.example", "CLIENT_ID": "ca"}},
    )
    page.goto("/sign-in")
    avon = page.get_by_role("link", name="Sign in with Avon and Somerset Police account")
    wilts = page.get_by_role("link", name="Sign in with Wiltshire Police account")
    expect(avon).to_have_attribute("href", "/sso/login")
    expect(wilts).to_have_attribute("href", "/sso/wiltshire/login")
    # Each big enough for a thumb, one above the other, nothing off the side.
    for button in (avon, wilts):
        box = button.bounding_box()
        assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert avon.bounding_box()["y"] < wilts.bounding_box()["y"]
    assert sideways(page) <= 0
    assert axe_violations(page) == []
    assert page.console_errors == []
