"""A resident on a phone (390x844, touch): each refusal on the sign-up form, then
signing up, confirming the mobile with the texted code, opening their own page from
a texted link, changing it, and stopping e-mails with one click. axe-core checks every
public page on the way."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import OutboxMessage, Resident, ResidentChannel
from app.services.dispatch import unsubscribe_token
from tests.browser.axe import axe_violations
from tests.factories import a_wrong_code

pytestmark = pytest.mark.browser


def last_notice(run_worker, channel: str = "sms") -> str:
    run_worker()
    db.session.expire_all()
    return db.session.scalars(
        select(OutboxMessage.body)
        .where(OutboxMessage.notice_id.is_not(None), OutboxMessage.channel == channel)
        .order_by(OutboxMessage.id.desc())
    ).first()


def test_a_resident_signs_up_confirms_and_manages_their_alerts(page, app_ctx, run_worker):
    page.goto("/")
    assert axe_violations(page) == []
    page.get_by_role("link", name="Sign up for alerts").click()

    # The place a postcode is in shows as soon as it is typed, without leaving the box
    # (and nothing while only half of it is there); the postcode goes in no URL.
    asked = []
    page.on("request", lambda r: asked.append(r.url) if "/register/postcode" in r.url else None)
    page.get_by_label("Your postcode").press_sequentially("bs1 6")
    page.wait_for_timeout(500)
    assert page.locator("#postcode-place").text_content() == ""
    page.get_by_label("Your postcode").press_sequentially("ad")
    expect(page.locator("#postcode-place")).to_contain_text("Central ward, City of Bristol")
    assert asked and not any("bs1" in url.lower() for url in asked)
    # Typed on from it, the words about BS1 6AD go at once (they stayed under the next
    # half-typed postcode until the box was left: an outside check).
    page.get_by_label("Your postcode").press("Backspace")
    expect(page.locator("#postcode-place")).to_have_text("")
    page.get_by_label("Your postcode").press_sequentially("D")
    expect(page.locator("#postcode-place")).to_contain_text("Central ward, City of Bristol")
    # No answer (the signal dropped): said, not left empty (an outside check).
    page.route("**/register/postcode*", lambda route: route.abort())
    page.get_by_label("Your postcode").press("Backspace")
    page.get_by_label("Your postcode").press_sequentially("D")
    expect(page.locator("#postcode-place")).to_contain_text("could not be checked just now")
    page.unroute("**/register/postcode*")
    page.get_by_label("Your postcode").press("Backspace")
    page.get_by_label("Your postcode").press_sequentially("D")
    expect(page.locator("#postcode-place")).to_contain_text("Central ward, City of Bristol")

    # Each refusal says what to do, and nothing is stored.
    page.get_by_label("Text message").check()
    page.get_by_label("Mobile number").fill("09011 234567")
    page.get_by_label("E-mail", exact=True).check()
    page.get_by_label("E-mail address").fill("not an address")
    page.get_by_label("Hold routine alerts overnight").check()
    page.get_by_role("button", name="Sign up").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("premium-rate")
    expect(summary).to_contain_text("That e-mail address can't be used")
    expect(summary).to_contain_text("Tick the box to say you agree")
    assert axe_violations(page) == []
    assert db.session.scalars(select(Resident)).first() is None

    page.get_by_label("Mobile number").fill("07700 900123")
    page.get_by_label("E-mail address").fill("sam@example.invalid")
    page.get_by_label("I agree").check()
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your messages")).to_be_visible()
    expect(page.locator("main")).to_contain_text(
        "If this number can get alerts, we have sent it a message."
    )
    assert axe_violations(page) == []

    # The texted code confirms the mobile.
    code = re.search(r"\b(\d{6})\b", last_notice(run_worker)).group(1)
    page.get_by_label("The 6-digit code we texted you").fill(a_wrong_code(code))
    page.get_by_role("button", name="Confirm").click()
    expect(page.locator(".field-error")).to_contain_text("That code is not right")
    # Pasted as some messages give it, spaced: a box of 7 characters cut it short (an
    # outside check), and the page answered that the code was not six digits.
    pasted = f" {code[:3]} {code[3:]}"
    page.get_by_label("The 6-digit code we texted you").fill(pasted)
    expect(page.get_by_label("The 6-digit code we texted you")).to_have_value(pasted)
    page.get_by_role("button", name="Confirm").click()
    # The heading says what happened and what comes next.
    expect(
        page.get_by_role("heading", name="Text message confirmed: you're signed up")
    ).to_be_visible()
    expect(page.get_by_role("heading", name="What happens next")).to_be_visible()
    assert axe_violations(page) == []
    resident = db.session.scalars(select(Resident)).one()
    assert str(resident.quiet_from) == "22:00:00"

    # Later, on the same phone: a link to their own page, by text.
    page.context.clear_cookies()
    page.goto("/")
    page.get_by_role("link", name="Change or stop your alerts").click()
    expect(page.get_by_label("Your mobile number or e-mail address")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_label("Your mobile number or e-mail address").fill("07700 900123")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("heading", name="Check your messages")).to_be_visible()
    link = re.search(r"https?://\S+?(/manage/\S+?) ", last_notice(run_worker)).group(1)
    page.goto(link)
    page.get_by_role("button", name="Open my alerts page").click()
    expect(page.get_by_role("heading", name="Your alerts")).to_be_visible()
    assert axe_violations(page) == []

    # One form: a place typed and quiet hours changed are saved by the one button.
    page.get_by_label("Add a place: what is it?").fill("Allotment")
    page.get_by_label("Its postcode").fill("TA1 1AA")
    page.get_by_label("From").fill("23:00")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".flash")).to_contain_text("Saved: quiet hours, new place.")
    # Said where focus is, so a screen reader reads it (it stayed on the page: an
    # outside check).
    expect(page.locator(".flash")).to_be_focused()
    expect(page.locator("main li").first).to_contain_text("Home: BS1 6AD")
    expect(page.locator("main li").nth(1)).to_contain_text("Allotment: TA1 1AA")
    # A way added, not confirmed yet: its "confirm" is a thumb's height (20 px: an
    # outside check).
    page.get_by_label("Add or change").select_option("voice")
    page.get_by_label("Mobile, phone number or e-mail address").fill("0117 496 0481")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("main")).to_contain_text("We have sent a code to that number.")
    page.get_by_role("link", name="Your alerts: places, groups, quiet hours").click()
    confirm = page.locator(".contacts").get_by_role("link", name="confirm", exact=True)
    expect(confirm.first).to_be_visible()
    page.wait_for_load_state()  # its style sheet too (CI measured it before, loaded)
    assert [box["height"] >= 24 for box in map(lambda c: c.bounding_box(), confirm.all())] == [
        True
    ] * confirm.count()
    # Enter in a box saves, and removes nothing: it pressed the first place's "Remove"
    # (the form's first button), and Home was gone (an outside check).
    page.get_by_label("Add a place: what is it?").fill("Shop")
    page.get_by_label("Its postcode").fill("BS2 0GR")
    page.get_by_label("Its postcode").press("Enter")
    expect(page.locator(".flash")).to_contain_text("Saved: new place.")
    expect(page.locator(".flash")).not_to_contain_text("removed")
    places = page.locator("#places-heading + ul li, section[aria-labelledby=places-heading] li")
    expect(places.filter(has_text="Home: BS1 6AD")).to_have_count(1)
    expect(places.filter(has_text="Allotment: TA1 1AA")).to_have_count(1)
    expect(places.filter(has_text="Shop: BS2 0GR")).to_have_count(1)
    page.get_by_role("button", name="Pause my alerts").click()
    expect(page.locator(".flash").first).to_contain_text("alerts paused")
    page.get_by_role("button", name="Resume my alerts").click()
    expect(page.locator(".flash").first).to_contain_text("alerts resumed")
    page.get_by_role("link", name="See everything we hold about you").click()
    expect(page.get_by_role("heading", name="Everything we hold about you")).to_be_visible()
    assert axe_violations(page) == []
    page.go_back()
    page.get_by_role("link", name="Stop all alerts and delete my details").click()
    assert axe_violations(page) == []
    assert page.console_errors == []


def test_one_click_stops_e_mails_and_only_e_mails(page, make_resident):
    resident = make_resident(sms="+447700900001", email="a@example.invalid")
    page.goto(f"/unsubscribe/{unsubscribe_token(resident.id, 'email', 'a@example.invalid')}")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Stop e-mail alerts").click()
    expect(page.get_by_role("heading", name="E-mail alerts stopped")).to_be_visible()
    expect(page.locator("main")).to_contain_text("We won't e-mail you")
    expect(page.locator("main")).not_to_contain_text("stopped already")
    # Back and Forward ask to send nothing again; reloaded, it says they had stopped.
    page.go_back()
    page.go_forward()
    page.reload()
    expect(page.locator("main")).to_contain_text("These e-mails were stopped already")
    db.session.expire_all()
    stopped = {
        c.channel: c.unsubscribed_at is not None
        for c in db.session.scalars(select(ResidentChannel))
    }
    assert stopped == {"sms": False, "email": True}
