"""A supervisor on a phone (390x844, touch): told by text that a missing-person alert
waits, signs in and lands on Approvals, sees what residents will get on each channel
with the count, cost and time, checks the area on a map that the data credit does not
cover, and approves. axe-core checks both pages. And an officer's "send a test to
myself" goes by the alert's channels, marked as residents will get it."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, text

from app.extensions import db
from app.models import Alert, OutboxMessage
from app.services.accounts import create_officer
from app.services.alerts import submit_alert
from tests.browser.axe import axe_violations
from tests.browser_fixtures import staff_menu
from tests.factories import PASSWORDS

pytestmark = pytest.mark.browser

BS1_6AD = [-2.588230, 51.451967]


@pytest.fixture
def street(make_resident):
    make_resident(postcode="BS1 6AD", sms="+447700900001")
    make_resident(postcode="BS1 6AD", sms="+447700900002", voice="+441174960002")
    make_resident(postcode="BS8 1TH", sms="+447700900003", email="a@example.invalid")
    make_resident(postcode="BS8 1TH", sms=None, email="b@example.invalid")


def test_supervisor_is_told_lands_on_approvals_sees_every_channel_and_approves(
    app, monkeypatch, page, make_officer, street, run_worker
):
    monkeypatch.setitem(app.config, "DENSITY_MIN_COUNT", 2)  # the call count is hidden
    sarge = create_officer(
        email="sarge@police.example",
        name="Sgt Shaw",
        role="supervisor",
        password=PASSWORDS["supervisor"],
        mobile="07700 900777",
    )
    officer = make_officer(role="officer")
    sent = submit_alert(
        officer,
        shapes=[{"kind": "circle", "center": BS1_6AD, "radius_m": 1500}],
        title="Missing child",
        body="Sam, 7, red coat. Last seen near Old Market.",
        category="missing_person",
    )
    assert sent.alert.status == "pending_approval"

    # The text to the supervisor, marked urgent, with a link to the alert.
    run_worker()
    told = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == "+447700900777")
    ).one()
    assert told.body.startswith("URGENT - Missing person alert waiting for your approval")
    assert told.body.endswith(f"/officers/alerts/{sent.alert.id}")

    page.goto("/sign-in")
    page.get_by_label("E-mail address").fill(sarge.email)
    page.get_by_label("Password").fill(PASSWORDS["supervisor"])
    page.get_by_role("button", name="Sign in").tap()
    expect(page).to_have_url(re.compile(r"/officers/approvals$"))
    # On the phone the menu is folded: its button says an alert waits.
    expect(page.get_by_role("button", name="Menu (1)")).to_be_visible()
    staff_menu(page)
    expect(page.get_by_role("link", name="Approvals (1)")).to_be_visible()
    item = page.locator(".approval-item").first
    expect(item).to_contain_text("URGENT")
    expect(item.locator(".review-residents")).to_have_text("4")
    expect(item.locator(".review-cost")).to_have_text(re.compile(r"^at most £\d+\.\d\d$"))
    expect(item.locator(".review-time")).to_have_text("under a minute")
    item.get_by_text("What residents will get: 3 texts, fewer than 2 calls, 2 e-mails").tap()
    expect(item.locator("[data-channel=sms] .sample")).to_contain_text(
        "Missing child: Sam, 7, red coat."
    )
    assert axe_violations(page) == []
    # Headings go down one level at a time (found by an outside check: h1 to h3).
    levels = page.evaluate(
        "() => Array.from(document.querySelectorAll('main h1, main h2, main h3, main h4'))"
        ".map(h => Number(h.tagName[1]))"
    )
    assert levels[0] == 1
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:], strict=False)), levels

    # The way into the alert is a full row for a thumb (it was a 20 px line).
    assert item.get_by_role("link", name="Missing child").bounding_box()["height"] >= 44
    item.get_by_role("link", name="Missing child").tap()
    expect(page).to_have_url(re.compile(rf"/officers/alerts/{sent.alert.id}$"))
    review = page.locator("#review")
    expect(review.locator(".review-residents")).to_have_text("4")
    text = review.locator("[data-channel=sms]")
    expect(text).to_contain_text("3 texts · 1 part each")
    expect(text.locator(".sample")).to_contain_text(
        f"- Avon and Somerset Police. Ref {sent.alert.reference}. Reply STOP to stop."
    )
    call = review.locator("[data-channel=voice]")
    expect(call).to_contain_text("fewer than 2 calls")
    expect(call.locator(".sample")).to_contain_text("This is a message from Avon and Somerset")
    mail = review.locator("[data-channel=email]")
    expect(mail).to_contain_text("Subject: Avon and Somerset Police: Missing child")
    expect(review.locator(".review-cost")).to_contain_text("at most £")
    expect(review.locator(".review-time")).to_have_text("under a minute")

    # The map is fitted to the area, and the data credit at its foot does not cover it.
    area_map = page.get_by_role("region", name="Map of the area this alert is for")
    area_map.scroll_into_view_if_needed()
    expect(page.locator("#map .leaflet-overlay-pane path").first).to_be_visible()
    boxes = page.evaluate(
        """() => {
            const box = (el) => { const r = el.getBoundingClientRect();
                return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
            return {
                map: box(document.getElementById("map")),
                area: box(CA.alertArea.getLayers()[0].getElement()),
                credit: box(document.querySelector(".leaflet-control-attribution")),
                zoom: box(document.querySelector(".leaflet-control-zoom")),
            };
        }"""
    )
    the_map, area, credit, zoom = boxes["map"], boxes["area"], boxes["credit"], boxes["zoom"]
    assert the_map["left"] <= area["left"] and area["right"] <= the_map["right"]
    assert the_map["top"] <= area["top"] and area["bottom"] <= credit["top"]
    assert area["left"] >= zoom["right"]
    # Fitted: the area fills most of the map one way or the other.
    fills = max(
        (area["right"] - area["left"]) / (the_map["right"] - the_map["left"]),
        (area["bottom"] - area["top"]) / (credit["top"] - the_map["top"]),
    )
    assert fills > 0.6, boxes

    # Reject and Cancel do not look alike, nor say the same.
    reject = page.get_by_role("button", name="Reject and say why")
    cancel = page.get_by_role("button", name="Cancel this alert")

    def background(locator):
        return locator.evaluate("el => getComputedStyle(el).backgroundColor")

    assert background(reject) != background(cancel)
    assert background(cancel) == "rgb(212, 53, 28)"  # the warning red
    assert axe_violations(page) == []

    page.get_by_role("button", name="Approve and send").tap()
    expect(page.locator(".flash").first).to_contain_text("Approved: it is going out now.")
    expect(page.locator("#alert-status")).to_have_text("sending")
    expect(page.get_by_role("button", name="Menu", exact=True)).to_be_visible()  # none waits
    staff_menu(page)
    expect(page.get_by_role("link", name="Approvals", exact=True)).to_be_visible()
    assert page.console_errors == []


def test_a_test_to_myself_goes_by_the_alerts_channels_as_residents_will_get_it(page, run_worker):
    pc = create_officer(
        email="pc@police.example",
        name="PC Phone",
        role="officer",
        password=PASSWORDS["officer"],
        mobile="07700 900555",
    )
    page.goto("/sign-in")
    page.get_by_label("E-mail address").fill(pc.email)
    page.get_by_label("Password").fill(PASSWORDS["officer"])
    page.get_by_role("button", name="Sign in").tap()
    # The alert goes by text and e-mail only: so does its test.
    page.get_by_role("checkbox", name="Voice call").uncheck()
    page.get_by_label("What it is about").select_option("appeal")
    page.get_by_label("Title").fill("Drill")
    page.get_by_label("Message", exact=True).fill("Practice only.")
    page.get_by_label("This is an exercise").check()
    page.get_by_role("button", name="Send a test to myself").tap()
    expect(page.locator("#test-status")).to_have_text(
        "A test has gone to you only, by text and e-mail. Check it, then send for real."
    )
    # The focus stays on the button, what came back in view (the button, disabled while
    # it sent, lost the focus to the page: an outside check).
    expect(page.get_by_role("button", name="Send a test to myself")).to_be_focused()
    expect(page.locator("#test-status")).to_be_in_viewport()
    run_worker()
    sent = {m.channel: m for m in db.session.scalars(select(OutboxMessage))}
    assert set(sent) == {"sms", "email"}
    assert sent["sms"].recipient == "+447700900555"
    assert sent["sms"].body.startswith("EXERCISE EXERCISE EXERCISE. Drill: Practice only.")
    assert sent["email"].subject.startswith("EXERCISE EXERCISE EXERCISE")
    assert db.session.scalar(select(Alert.category)) == "appeal"
    assert page.console_errors == []


def test_a_test_to_myself_too_long_for_a_small_phone_is_shown_from_its_start(
    page, sign_in_page, street
):
    """Found by an outside check: at 200% Welsh text on a 320-pixel phone, what a test
    said (no mobile on the account: not by text or call) was 950 px tall; scrolled to
    the nearest edge, it began 423 px above the screen, or the focused button was under
    it. Too tall for the room above the reach bar with the button, the words take the
    focus from their start, and Tab goes on to the button."""
    page.set_viewport_size({"width": 320, "height": 700})
    cdp = page.context.new_cdp_session(page)
    cdp.send("Page.enable")
    cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 32, "fixed": 26}})
    sign_in_page("officer")  # no mobile: the test goes by e-mail alone
    page.goto("/officers/?lang=cy")
    page.locator("#centre-postcode").fill("BS1 6AD")
    page.locator("#centre-postcode").press("Enter")
    page.locator("#title").fill("Ymarfer")
    page.locator("#body").fill("Ymarfer yn unig.")
    page.locator("#send-test").click()
    said = page.locator("#test-status")
    expect(said).to_contain_text("e-bost")
    expect(said).to_be_focused()
    page.wait_for_timeout(200)
    assert said.bounding_box()["height"] > 700  # it does not fit: what this is about
    assert 0 <= said.bounding_box()["y"] <= 60, said.bounding_box()
    page.keyboard.press("Tab")
    expect(page.locator("#send-test")).to_be_focused()
    assert page.console_errors == []


def test_a_rejected_alert_is_written_again_from_its_words_and_area(
    page, sign_in_page, make_officer, street
):
    """Found by an outside check: "Write a new alert" under a rejection opened a blank
    page, so a supervisor's "add what he was wearing" meant typing it all again and
    redrawing the area on a phone. It opens with the alert's words, choices and areas,
    to change and send."""
    from app.services.alerts import reject_alert

    officer = sign_in_page("officer")
    ring = [[-2.584, 51.447], [-2.582, 51.447], [-2.582, 51.448], [-2.584, 51.448]]
    sent = submit_alert(
        officer,
        shapes=[
            {"kind": "circle", "center": BS1_6AD, "radius_m": 800},
            {"kind": "polygon", "coordinates": [[*ring, ring[0]]], "exclude": True},
        ],
        title="Missing child",
        body="Sam, 7, last seen near Old Market.",
        category="missing_person",
    )
    assert sent.alert.status == "pending_approval"
    sergeant = make_officer(role="supervisor", email="sarge@police.example")
    reject_alert(sergeant, sent.alert.id, "Add what he was wearing.")
    page.goto(f"/officers/alerts/{sent.alert.id}")
    expect(page.get_by_role("alert")).to_contain_text("Add what he was wearing.")
    page.get_by_role("link", name="Write it again").tap()
    expect(page).to_have_url(re.compile(r"/officers/$"))  # the page's own address
    expect(page.locator("#title")).to_have_value("Missing child")
    expect(page.locator("#body")).to_have_value("Sam, 7, last seen near Old Market.")
    expect(page.locator("#category")).to_have_value("missing_person")
    expect(page.locator("#shapes-list li")).to_have_count(2)
    expect(page.locator("#shapes-list li").nth(1)).to_contain_text("Left out")
    expect(page.locator("#reach-residents")).not_to_have_text("–")
    # Changed, and kept through a reload as any draft is.
    page.locator("#body").fill("Sam, 7, red coat, last seen near Old Market.")
    page.reload()
    expect(page.locator("#body")).to_have_value("Sam, 7, red coat, last seen near Old Market.")
    expect(page.locator("#shapes-list li")).to_have_count(2)
    # An alert that went is not written again: a follow-up is what it needs.
    db.session.execute(
        text("UPDATE alerts SET status = 'sent', sent_at = now() WHERE id = :id"),
        {"id": sent.alert.id},
    )
    db.session.commit()
    page.goto(f"/officers/?again={sent.alert.id}")
    expect(page.locator(".flash, [role=status]").first).to_contain_text("write a follow-up")
    assert page.console_errors == []


def test_the_thread_says_what_the_heading_says_as_an_alert_finishes(
    page, sign_in_page, street, run_worker
):
    """Found by an outside check: the thread's line for the alert on screen still said
    "sending" under a heading that said "finished sending"."""
    officer = sign_in_page("officer")
    first = submit_alert(
        officer,
        shapes=[{"kind": "circle", "center": BS1_6AD, "radius_m": 800}],
        title="Bikes stolen",
        body="Lock them.",
    ).alert
    run_worker()
    update = submit_alert(
        officer,
        shapes=[],
        audience="parent",
        parent_id=first.id,
        title="Update",
        body="Two were found.",
    ).alert
    page.goto(f"/officers/alerts/{update.id}")
    expect(page.locator("#thread-status")).to_have_text("sending")
    run_worker()
    expect(page.locator("#status")).to_have_text("finished sending", timeout=20_000)
    expect(page.locator("#thread-status")).to_have_text("finished sending")
