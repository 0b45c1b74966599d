"""A form sent back with a mistake, on a phone (390x844): the summary takes focus and
says what is wrong, its link leads to the box at fault, and the box says it is
invalid and why (found by an outside check: the import, invitation, password and code
pages' errors were tied to no box). axe-core on each."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.axe import axe_violations
from tests.browser_fixtures import sideways, sign_in_officer

pytestmark = pytest.mark.browser


def leads_to_its_box(page, box_id: str, words: str) -> None:
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text(words)
    box = page.locator(f"#{box_id}")
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#{box_id}-error")).to_contain_text(words)
    summary.locator(f'a[href="#{box_id}"]').click()
    expect(page).to_have_url(f"{page.url.split('#')[0]}#{box_id}")
    assert sideways(page) <= 0
    assert axe_violations(page) == []


def test_an_invitation_and_a_link_asked_for_say_where_the_mistake_is(app, page, make_officer):
    sign_in_officer(app, page, make_officer(role="admin"))
    page.goto("/admin/officers/invite")
    page.get_by_label("Name").fill("PC New Starter")
    page.get_by_label("Work e-mail address").fill("not-an-address")
    page.get_by_role("button", name="Invite").click()
    leads_to_its_box(page, "email", "e-mail")

    resident = page.context.new_page()  # a resident's page: the same on any phone
    resident.goto("/manage")
    resident.get_by_label("Your mobile number or e-mail address").fill("07")
    resident.get_by_role("button", name="Send me a link").click()
    leads_to_its_box(resident, "address", "number")
    resident.close()


def test_the_summary_lists_the_mistakes_in_the_order_of_the_form(app, page):
    """Found by an outside check: the sign-up's summary listed the name's mistake
    first, its box below the numbers'. In the form's order, whatever the order the
    checks found them in."""
    page.goto("/register")
    page.locator("#postcode").fill("BS1 6AD")
    page.locator("#channel-sms").check()
    page.locator("#sms_phone").fill("07")
    page.locator("#name").fill("Sam \u202eJones")  # turns the text around: refused
    page.locator("#consent").check()
    page.locator("form.form button[type=submit]").last.click()
    links = page.locator("#error-summary li a")
    expect(links.first).to_be_visible()
    targets = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert targets.index("#sms_phone") < targets.index("#name"), targets
    expect(page.locator("#error-summary")).to_be_focused()
    assert page.console_errors == []


def test_a_mistake_whose_box_is_not_on_the_page_keeps_its_place_in_the_summary(app, page):
    """Found by a review: a mistake whose link led to no box was compared by the order
    said, the others by the form's, and the sort was no order at all: the sign-up's
    name stayed before its numbers. The others are put in the form's order in their
    places, that one where it was said."""

    def one_more_said_second(route):
        answer = route.fetch()
        body = answer.text()
        items = body.index("<li>", body.index('id="error-summary"'))
        end = body.index("</li>", items) + len("</li>")
        body = body[:end] + '<li><a href="#no-such-box">Something else</a></li>' + body[end:]
        route.fulfill(response=answer, body=body)

    page.route(
        "**/register",
        lambda route: (
            one_more_said_second(route) if route.request.method == "POST" else route.continue_()
        ),
    )
    page.goto("/register")
    page.locator("#postcode").fill("BS1 6AD")
    page.locator("#channel-sms").check()
    page.locator("#sms_phone").fill("07")
    page.locator("#name").fill("Sam \u202eJones")  # said first by the checks
    page.locator("#consent").check()
    page.locator("form.form button[type=submit]").last.click()
    links = page.locator("#error-summary li a")
    expect(links.first).to_be_visible()
    targets = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert targets == ["#sms_phone", "#no-such-box", "#name"], targets
    assert page.console_errors == []


@pytest.mark.parametrize("small", [False, True])
def test_a_wrong_password_takes_the_focus_to_the_password_with_its_words_in_view(
    app, page, make_officer, small
):
    """Found by an outside check: after a wrong password the focus went to the e-mail
    box or the password box, whichever of this page's script and the browser's
    autofocus came first; at 200% text on a 320-pixel phone, the words said began above
    the screen. The password every time, the words shown from their start."""
    make_officer(role="officer", email="pc.wrong@police.example")
    if small:
        page.set_viewport_size({"width": 320, "height": 700})
        # The phone's own text size, as the page loads (not a style added after it).
        cdp = page.context.new_cdp_session(page)
        cdp.send("Page.enable")
        cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 32, "fixed": 26}})
    page.goto("/sign-in")
    page.get_by_label("E-mail address").fill("pc.wrong@police.example")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#sign-in-error")).to_contain_text("not right")
    expect(page.locator("#password")).to_be_focused()
    page.wait_for_timeout(200)
    said = page.locator("#sign-in-error").bounding_box()
    box = page.locator("#password").bounding_box()
    height = page.viewport_size["height"]
    # The words from their start, and the box below them (at least its start).
    assert said["y"] >= 0 and box["y"] + min(box["height"], 40) <= height, (said, box)


def test_a_sign_in_held_back_on_a_small_phone_shows_its_words_from_their_start(
    app, page, make_officer, monkeypatch
):
    """Found by an outside check: at 200% text on a 320-pixel phone, "Too many wrong
    passwords. Wait…" (in Welsh, longer) began 350 px above the screen, the focus on
    the password below it. Words and box do not fit together there: the words take
    the focus from their start, and Tab goes on to the password."""
    monkeypatch.setitem(app.config, "LOGIN_FREE_FAILURES", 0)
    make_officer(role="officer", email="pc.held@police.example")
    page.set_viewport_size({"width": 320, "height": 700})
    cdp = page.context.new_cdp_session(page)
    cdp.send("Page.enable")
    cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 32, "fixed": 26}})
    page.goto("/sign-in?lang=cy")
    for _ in range(2):  # the first is refused as wrong, the second held back
        page.locator("#email").fill("pc.held@police.example")
        page.locator("#password").fill("not the password")
        page.locator("form.form button[type=submit]").click()
        page.wait_for_load_state()
    said = page.locator("#sign-in-error")
    expect(said).to_contain_text("Gormod")
    expect(said).to_be_focused()
    page.wait_for_timeout(200)
    top = said.bounding_box()["y"]
    assert 0 <= top <= 60, top
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    assert sideways(page) <= 0


def test_an_invitation_tapped_twice_is_sent_once(app, page, make_officer):
    """Found by an outside check: a double tap on Invite sent the form twice; one
    account was made, and the admin was left on the second's page, "There is already
    an account…" under "has been sent a link". A form sent again within a moment is
    not sent twice."""
    sign_in_officer(app, page, make_officer(role="admin"))
    page.goto("/admin/officers/invite")
    page.get_by_label("Name").fill("PC Double Tap")
    page.get_by_label("Work e-mail address").fill("double.tap@police.example")
    posts = []
    page.on(
        "request",
        lambda request: (
            posts.append(request.url)
            if request.method == "POST" and "/admin/officers/invite" in request.url
            else None
        ),
    )
    # Two taps 80 ms apart: the first's request is on its way when the second comes.
    page.evaluate(
        """() => {
            const invite = document.querySelector("main form button[type=submit]");
            invite.click();
            setTimeout(() => invite.click(), 80);
        }"""
    )
    expect(page.locator("main .flash, #error-summary").first).to_be_visible()
    page.wait_for_timeout(500)  # a second request would be on its way by now
    assert len(posts) == 1, posts
    expect(page.locator("main")).to_contain_text("has been sent a link")
    expect(page.locator("main")).not_to_contain_text("There is already an account")
