"""A resident signs up on a phone, after being told their first postcode is outside."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import Resident

pytestmark = pytest.mark.browser


def test_resident_is_told_why_a_postcode_is_refused_then_signs_up(page, app_ctx):
    page.goto("/")
    page.get_by_role("link", name="Sign up for alerts").click()

    page.get_by_label("Your postcode").fill("ba12 9aa")
    # Contact fields appear only for the channels ticked.
    expect(page.get_by_label("Mobile number")).to_be_hidden()
    page.get_by_label("Text message").check()
    page.get_by_label("Mobile number").fill("07700 900123")
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Sign up").click()

    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text(
        "BA12 9AA is in Wiltshire, outside the area Avon and Somerset Police covers"
    )
    expect(page).to_have_title(re.compile("^Error: "))
    assert db.session.scalars(select(Resident)).first() is None

    page.get_by_label("Your postcode").fill("BS1 6AD")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your messages")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Central ward, City of Bristol")
    expect(page.locator("main")).to_contain_text("Text message: 07700 900123")
    assert db.session.scalars(select(Resident)).one().channels[0].address == "+447700900123"
    assert page.console_errors == []


def test_registration_page_fits_a_phone_screen(page):
    page.goto("/register")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "no sideways scrolling on a 390 px wide phone"


def test_after_a_form_is_sent_back_focus_goes_where_the_answer_is(page, app_ctx):
    """Found by an outside check: after an unknown postcode, a message checked or an
    admin's import with no file, focus stayed on the page itself, and a screen reader
    said nothing. It goes to the box at fault, or to the result."""
    page.goto("/alerts")
    page.locator("#area").fill("ZZ99 9ZZ")
    page.locator("#area").press("Enter")
    expect(page.locator("#area-error")).to_be_visible()
    expect(page.locator("#area")).to_be_focused()
    page.goto("/check")
    page.locator("#message").fill("Avon and Somerset Police: a made-up message. Ref ABC-123.")
    page.get_by_role("button", name=re.compile("Check")).click()
    expect(page.locator("#check-result")).to_be_focused()


def test_the_check_of_a_cancelled_alert_says_so_where_it_can_be_read(
    page, app_ctx, make_officer, make_resident
):
    # The note sat in the green "yes, ours" panel in dark red: 1.18:1 (an outside check).
    from app.services.alerts import cancel_alert, submit_alert
    from tests.browser.axe import axe_violations

    make_resident(postcode="BS1 6AD")
    officer = make_officer()
    area = [{"kind": "circle", "center": [-2.588230, 51.451967], "radius_m": 800}]
    alert = submit_alert(officer, shapes=area, title="Road closed", body="The A38 is shut.").alert
    cancel_alert(officer, alert.id)
    page.goto("/check")
    page.locator("#message").fill(alert.reference)
    page.get_by_role("button", name=re.compile("Check")).click()
    expect(page.locator("#check-result .warning-text")).to_contain_text("This alert was cancelled")
    assert axe_violations(page) == []


def test_back_to_the_sign_up_form_shows_the_box_of_each_way_ticked(page, app_ctx):
    """Back to the form, the browser put the ticks back but their boxes stayed hidden:
    "E-mail" ticked, and nowhere to type the address (an outside check)."""
    page.goto("/register")
    page.locator("#channel-email").check()
    page.locator("#email").fill("sam@example.invalid")
    page.goto("/alerts")
    page.go_back()
    expect(page.locator("#channel-email")).to_be_checked()
    expect(page.locator("#email")).to_be_visible()
    expect(page.locator("#email")).to_have_value("sam@example.invalid")
