"""Staff pages on a 390-pixel phone: nothing scrolls sideways (long titles, long
addresses, the delivery table), counts read as words ("1 resident"), and every button
and map control is at least 44 by 44 pixels."""

import re

import pytest
from playwright.sync_api import expect

from app.services.accounts import create_officer
from app.services.alerts import submit_alert
from tests.browser.axe import axe_violations
from tests.browser_fixtures import sideways, staff_menu, text_at_twice_the_size

pytestmark = pytest.mark.browser

AREA = [{"kind": "circle", "center": [-2.588230, 51.451967], "radius_m": 800}]


def small_targets(page) -> list[str]:
    """Visible buttons, map controls, links that stand alone and the language switch
    under 44x44 CSS pixels."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll(
              'button, .button, .leaflet-control a, summary, input[type=checkbox] + label, ' +
              'a.standalone, .language-switch, .link-button, .staff-nav a, .brand, .skip-link, ' +
              '.presets a'))
            .filter(e => e.offsetParent !== null)
            .map(e => [e, e.getBoundingClientRect()])
            .filter(([e, r]) => r.width > 0 && (r.height < 44 || r.width < 44))
            .map(([e, r]) => `${e.tagName}#${e.id} ${e.textContent.trim().slice(0, 30)} ` +
                             `${Math.round(r.width)}x${Math.round(r.height)}`)"""
    )


def test_staff_pages_fit_a_phone(
    page, sign_in_page, make_resident, worker_process, app, monkeypatch
):
    make_resident(sms="+447700901201")
    admin = sign_in_page("admin")
    create_officer(
        email="a.very.long.address.for.a.constable@avonandsomerset.police.example",
        name="Constable With A Rather Long Double-Barrelled Name",
        role="officer",
        password="a long enough password",  # noqa: S106
    )
    long_title = "Burglaries" * 12  # one word of 120 letters
    alert = submit_alert(admin, shapes=AREA, title=long_title, body="Lock up.").alert

    page.goto("/officers/alerts")
    expect(page.locator(".alert-list")).to_contain_text("1 resident ")
    expect(page.locator(".alert-list")).not_to_contain_text("1 residents")
    assert sideways(page) <= 0
    assert axe_violations(page) == []

    page.goto(f"/officers/alerts/{alert.id}")
    expect(page.locator("#status")).to_have_text("finished sending", timeout=20_000)
    expect(page.locator('tr[data-channel="sms"] .delivered')).to_be_visible()
    assert sideways(page) <= 0
    assert small_targets(page) == []

    page.goto("/admin/officers")
    expect(page.locator("main")).to_contain_text("a.very.long.address")
    assert sideways(page) <= 0
    staff_menu(page)  # its links too ("Sent" was 39 px wide: an outside check)
    expect(page.locator(".staff-nav a").first).to_be_visible()
    assert small_targets(page) == []
    assert axe_violations(page) == []

    # The invitation's choices: a radio button a thumb can hit, beside its own words
    # (found by an outside check: 13-pixel radios each above the other's label).
    # (Single sign-on is offered only where it is set up.)
    monkeypatch.setitem(app.config, "SSO_ISSUER", "https://login.police.example")
    monkeypatch.setitem(app.config, "SSO_CLIENT_ID", "community-alerts")
    page.goto("/admin/officers/invite")
    for choice in ("sign-in-password", "sign-in-sso"):
        radio = page.locator(f"#{choice}").bounding_box()
        label = page.locator(f"label[for={choice}]").bounding_box()
        assert radio["width"] >= 24 and radio["height"] >= 24
        assert label["x"] > radio["x"] + radio["width"]  # to its right
        assert label["y"] <= radio["y"] + radio["height"] / 2 <= label["y"] + label["height"]
    assert sideways(page) <= 0
    assert axe_violations(page) == []

    # The force's details: a refusal is said at its field, and the page still fits.
    staff_menu(page)
    page.get_by_role("link", name="Staff").first.click()
    page.get_by_role("link", name="Your force's details").click()
    page.get_by_label("Website (optional)").fill("www.example.invalid")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#website-error")).to_contain_text("starting https://")
    assert sideways(page) <= 0
    assert small_targets(page) == []
    assert axe_violations(page) == []

    # A team's name, the way to its page, is a target a thumb can take (20 px high:
    # an outside check).
    from app.services.teams import create_team

    create_team(admin, "Bristol Central")
    page.goto("/admin/teams")
    link = page.locator("main table tbody a").first
    expect(link).to_be_visible()
    assert link.bounding_box()["height"] >= 44
    assert small_targets(page) == []

    page.goto("/officers/")
    expect(page.locator("#map .leaflet-control-zoom-in")).to_be_visible()
    assert sideways(page) <= 0
    assert small_targets(page) == []
    assert page.console_errors == []


def test_the_staff_menu_folds_on_a_phone_and_not_on_a_wide_screen(page, sign_in_page):
    sign_in_page("supervisor")
    page.goto("/officers/")
    menu = page.get_by_role("button", name="Menu")
    new_alert = page.get_by_role("link", name="New alert")
    # Folded, the map starts near the top of the phone.
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(new_alert).to_be_hidden()
    assert page.locator("#map").bounding_box()["y"] < 250
    menu.tap()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(new_alert).to_be_visible()
    expect(page.get_by_role("link", name="Approvals", exact=True)).to_be_visible()
    assert small_targets(page) == []
    assert axe_violations(page) == []
    menu.tap()
    expect(new_alert).to_be_hidden()
    # Escape folds it from its button or from a link in it, and the focus goes back
    # to the button (found by an outside check: only a tap folded it).
    for start in (menu, new_alert):
        menu.tap()
        start.focus()
        page.keyboard.press("Escape")
        expect(menu).to_have_attribute("aria-expanded", "false")
        expect(new_alert).to_be_hidden()
        expect(menu).to_be_focused()
    # A wide screen shows the menu as it is, with no button.
    page.set_viewport_size({"width": 1440, "height": 900})
    expect(menu).to_be_hidden()
    expect(new_alert).to_be_visible()


def test_the_reach_bar_hides_no_control_on_a_phone_or_a_wide_screen(page, sign_in_page):
    """Found by an outside check: on a phone, a control reached with Tab stayed under
    the reach bar fixed at the foot of the screen; on a wide screen, a supervisor's
    menu takes two rows and pushed the end of the panel (Send) under the bar."""
    sign_in_page("supervisor")
    page.goto("/officers/")
    bar = page.locator("#reach-bar")
    for name in ("Draw area", "Use my location"):
        control = page.get_by_role("button", name=name)
        control.focus()
        assert (
            control.bounding_box()["y"] + control.bounding_box()["height"]
            <= (bar.bounding_box()["y"])
        ), name
    page.set_viewport_size({"width": 1440, "height": 900})
    page.wait_for_function(
        "() => document.documentElement.style.getPropertyValue('--map-top') !== ''"
    )
    page.evaluate("window.scrollTo(0, 0)")
    panel = page.locator(".map-page .panel")
    panel.evaluate("element => { element.scrollTop = element.scrollHeight; }")
    send = page.get_by_role("button", name="Send…")
    assert panel.bounding_box()["y"] + panel.bounding_box()["height"] <= bar.bounding_box()["y"] + 1
    assert send.bounding_box()["y"] + send.bounding_box()["height"] <= bar.bounding_box()["y"]


def test_the_reach_bar_keeps_to_a_fifth_of_a_phone_at_twice_the_text_size(page, sign_in_page):
    """Found by an outside check: at 200% text on a 390x844 phone the reach bar took 325
    px, 38% of the screen. Over a fifth, it shows the residents alone (the channels and
    the time are in step 3, a tap away); at the usual size, all of it."""
    sign_in_page("officer")
    page.goto("/officers/")
    bar = page.locator("#reach-bar")
    expect(page.locator("#reach-sms")).to_be_visible()
    page.add_style_tag(content="html { font-size: 200% !important }")
    page.wait_for_timeout(300)
    assert bar.bounding_box()["height"] <= 0.2 * 844
    expect(page.locator("#reach-residents")).to_be_visible()
    expect(page.locator("#reach-sms")).to_be_hidden()
    # Back to the usual size: all of it again.
    page.evaluate("document.querySelectorAll('style').forEach(s => s.remove())")
    page.wait_for_timeout(300)
    expect(page.locator("#reach-sms")).to_be_visible()


def folded_credit_on_a_small_phone(page, sign_in_page):
    """The composer's data credit, folded, on a 320-pixel phone at 200% text."""
    sign_in_page("officer")
    page.set_viewport_size({"width": 320, "height": 700})
    text_at_twice_the_size(page)
    page.goto("/officers/")
    credit = page.locator("#map .leaflet-control-attribution")
    expect(credit).to_have_class(re.compile(r"\bcredit-folded\b"))
    return credit


def test_the_maps_data_credit_folds_to_a_line_where_it_would_cover_the_map(page, sign_in_page):
    """Found by an outside check: at 200% text on a 320-pixel phone the map's data credit
    took 134 of the composer map's 315 px, and taps on it added no corner. Where it
    would take more than 15% of the map it is one line, unfolded by a tap (and folded
    again), or by a link in it taken by the keyboard; where it fits, it is as it was.
    Not a button (a review: one holding links is a control in a control, and it took
    their Enter)."""
    credit = folded_credit_on_a_small_phone(page, sign_in_page)
    assert credit.get_attribute("role") is None
    map_height = page.locator("#map").bounding_box()["height"]
    folded = credit.bounding_box()["height"]
    assert folded <= 0.15 * map_height, (folded, map_height)
    assert axe_violations(page) == []
    credit.click(position={"x": 4, "y": 4})
    expect(credit).not_to_have_class(re.compile(r"\bcredit-folded\b"))
    assert credit.bounding_box()["height"] > 1.5 * folded
    credit.click(position={"x": 4, "y": 4})
    expect(credit).to_have_class(re.compile(r"\bcredit-folded\b"))
    # Unfolded, the next tap on the map folds it (drawing, the next corner tapped
    # under it only folded it: an outside check).
    credit.click(position={"x": 4, "y": 4})
    expect(credit).not_to_have_class(re.compile(r"\bcredit-folded\b"))
    whole = page.locator("#map").bounding_box()
    page.mouse.click(whole["x"] + whole["width"] * 0.6, whole["y"] + whole["height"] * 0.3)
    expect(credit).to_have_class(re.compile(r"\bcredit-folded\b"))
    # A link in it (a tile provider's licence; none here), taken by the keyboard: in
    # full while it has the focus, and its Enter is its own.
    credit.evaluate(
        "c => { const a = document.createElement('a'); a.href = '#licence';"
        " a.textContent = 'Licence'; c.appendChild(a); }"
    )
    link = credit.locator("a").last
    link.focus()
    assert credit.bounding_box()["height"] > 1.5 * folded
    kept = link.evaluate(
        "a => { const e = new KeyboardEvent('keydown', {key: 'Enter', bubbles: true,"
        " cancelable: true}); a.dispatchEvent(e); return !e.defaultPrevented; }"
    )
    assert kept
    page.locator("#centre-postcode").focus()
    assert credit.bounding_box()["height"] <= 0.15 * map_height
    # At the usual size on a wide screen: in full, and no button.
    page.set_viewport_size({"width": 1440, "height": 900})
    other = page.context.new_page()
    other.goto(page.url.split("/officers")[0] + "/officers/")
    wide = other.locator("#map .leaflet-control-attribution")
    expect(wide).to_be_visible()
    expect(wide).not_to_have_class(re.compile(r"\bcredit-folded\b"))
    assert wide.get_attribute("role") is None
    other.close()


def test_drawing_a_tap_on_the_folded_credit_is_a_corner(page, sign_in_page):
    """Found by an outside check: drawing at 200% text on a phone, a corner tapped on
    the folded credit unfolded it, the next folded it (two corners lost), and unfolded
    it covered "Remove shapes". While shapes are drawn it stays folded, and a tap on it
    is the map's."""
    credit = folded_credit_on_a_small_phone(page, sign_in_page)
    credit.click(position={"x": 4, "y": 4})
    expect(credit).not_to_have_class(re.compile(r"\bcredit-folded\b"))
    page.get_by_role("button", name="Draw area").click()
    expect(credit).to_have_class(re.compile(r"\bcredit-folded\b"))  # folded to draw
    whole = page.locator("#map").bounding_box()
    for fx, fy in ((0.3, 0.3), (0.7, 0.3), (0.7, 0.6)):
        page.mouse.click(whole["x"] + whole["width"] * fx, whole["y"] + whole["height"] * fy)
        page.wait_for_timeout(200)
    on = credit.bounding_box()
    page.mouse.click(on["x"] + on["width"] / 2, on["y"] + on["height"] / 2)
    page.wait_for_timeout(200)
    expect(credit).to_have_class(re.compile(r"\bcredit-folded\b"))
    expect(page.locator("#draw-status")).to_contain_text("4 corners")


def test_drawing_on_a_small_phone_keeps_its_buttons_on_the_screen(page, sign_in_page):
    """Found by an outside check: drawing at 200% text on a 320-pixel phone, "Finish
    shape" and "Cancel" were under the screen's edge and the reach bar covered "Undo
    last point": a tap meant for Finish took the page away from the half-drawn shape.
    The bar steps aside while drawing, and the buttons are on the screen, above the
    corners' words."""
    folded_credit_on_a_small_phone(page, sign_in_page)
    page.get_by_role("button", name="Draw area").click()
    whole = page.locator("#map").bounding_box()
    for fx, fy in ((0.3, 0.3), (0.7, 0.3), (0.7, 0.7)):
        page.mouse.click(whole["x"] + whole["width"] * fx, whole["y"] + whole["height"] * fy)
        page.wait_for_timeout(200)
    expect(page.locator("#draw-status")).to_contain_text("3 corners")
    expect(page.locator("#reach-bar")).to_be_hidden()
    height = page.viewport_size["height"]
    for button in ("#draw-undo", "#draw-finish", "#draw-cancel"):
        box = page.locator(button).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= height, (button, box)
        middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        found = page.evaluate("([x, y]) => document.elementFromPoint(x, y).id", middle)
        assert found == button[1:], (button, found)
    page.locator("#draw-finish").click()
    expect(page.locator("#shapes-list")).to_contain_text("Drawn area")
    expect(page.locator("#reach-bar")).to_be_visible()  # back once the shape is drawn
    # From a keyboard, which cannot place corners, what it can do is said under Cancel
    # (the focus), from its start: it was under the screen's edge (an outside check).
    page.locator("#draw-polygon").focus()
    page.keyboard.press("Enter")
    said = page.locator("#draw-status")
    expect(said).to_contain_text("With a keyboard")
    assert page.evaluate("document.activeElement.id") == "draw-cancel"
    page.wait_for_timeout(200)
    cancel, words = page.locator("#draw-cancel").bounding_box(), said.bounding_box()
    assert cancel["y"] >= 0 and words["y"] + 60 <= height, (cancel, words)
    page.keyboard.press("Escape")
    # And when, drawing, an area is found by its postcode instead (it stayed hidden for
    # the rest of the composing: a review).
    page.get_by_role("button", name="Draw area").click()
    expect(page.locator("#reach-bar")).to_be_hidden()
    page.get_by_label("Postcode to centre a circle on").fill("BS1 6AD")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#shapes-list")).to_contain_text("BS1 6AD")
    expect(page.locator("#reach-bar")).to_be_visible()
    expect(page.locator("#draw-bar")).to_be_hidden()


def test_pages_fit_a_phone_at_twice_the_text_size(page, sign_in_page, make_resident):
    """Found by an outside check: at 200% text on a 390-pixel phone the public alert
    page's facts and the density map's legend scrolled sideways, their words cut at
    the edge."""
    make_resident(sms="+447700901202")
    admin = sign_in_page("admin")
    alert = submit_alert(
        admin, shapes=AREA, title="Road closed", body="The A38 is shut at Bedminster."
    ).alert
    # And the sent report in Welsh: a period preset kept on one line was wider than
    # the phone (an outside check).
    for path, shown in (
        (f"/alerts/{alert.reference}", ".facts"),
        ("/analysts/density", "#legend"),
        ("/analysts/sent?lang=cy", ".presets"),
    ):
        page.goto(path)
        page.add_style_tag(content="html { font-size: 200% !important }")
        expect(page.locator(shown)).to_be_visible()
        page.wait_for_timeout(200)
        assert sideways(page) <= 0, path
    # A caption read only by screen readers reached 10 pixels past the screen's edge
    # (an outside check): what is hidden is hidden inside its table's box.
    page.goto("/admin/audit")
    page.add_style_tag(content="html { font-size: 200% !important }")
    page.wait_for_timeout(200)
    reach = page.evaluate(
        "Math.max(...[...document.querySelectorAll('main *')]"
        ".map(e => e.getBoundingClientRect().right)) - screen.width"
    )
    assert reach <= 0


def test_the_message_box_stays_above_the_reach_bar_on_a_landscape_phone(page, sign_in_page):
    """Found by an outside check: on a landscape phone (844x390) at 200% text the
    message box, taller than the screen above the reach bar, ran under the bar when
    focused. No taller than that space, it scrolls inside."""
    sign_in_page("officer")
    page.set_viewport_size({"width": 844, "height": 390})
    text_at_twice_the_size(page)
    page.goto("/officers/")
    box = page.locator("#body")
    box.fill("\n".join(f"Line {n} of what happened." for n in range(30)))
    box.focus()
    page.wait_for_timeout(300)
    bar = page.locator("#reach-bar").bounding_box()
    shown = box.bounding_box()
    assert shown["y"] >= 0 and shown["y"] + shown["height"] <= bar["y"] + 1, (shown, bar)


def composer_with_words(page, sign_in_page, width, height, *, larger_text=True):
    """The officer's composer at this size (200% text unless not `larger_text`), a
    circle round BS1 6AD counted, a title and a message."""
    sign_in_page("officer")
    page.set_viewport_size({"width": width, "height": height})
    if larger_text:
        text_at_twice_the_size(page)
    page.goto("/officers/")
    page.get_by_label("Postcode to centre a circle on").fill("BS1 6AD")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#reach-residents")).not_to_be_empty()
    page.locator("#title").fill("Road closed")
    page.locator("#body").fill("The A38 is shut.")


def send_an_unfinished_question(page, sign_in_page, width, height, *, larger_text=True):
    """The composer with words, answers with no question, Send…: refused at the
    question, which has the focus. The reach bar's box."""
    composer_with_words(page, sign_in_page, width, height, larger_text=larger_text)
    page.locator("#ask summary").click()
    page.locator("#answer-1").fill("Yes")
    page.locator("#answer-2").fill("No")  # answers with no question: unfinished
    page.wait_for_timeout(600)  # the preview of these words
    page.get_by_role("button", name="Send…").click()
    expect(page.locator("#question")).to_be_focused()
    page.wait_for_timeout(200)
    return page.locator("#reach-bar").bounding_box()


@pytest.mark.parametrize("wide", [False, True], ids=["small phone", "wide screen"])
def test_a_box_refused_at_send_is_shown_with_its_label_and_words_on_a_small_phone(
    page, sign_in_page, wide
):
    """Found by an outside check: at 200% text on a 320-pixel phone, Send… refusing an
    unfinished question centred the box, and the words said above it began above the
    screen, their start and the box's label cut off. The label, the words and the box
    are shown together, above the reach bar."""
    if wide:  # the panel scrolls of itself there
        bar = send_an_unfinished_question(page, sign_in_page, 1440, 900, larger_text=False)
    else:
        bar = send_an_unfinished_question(page, sign_in_page, 320, 700)
    for part in ("label[for=question]", ".compose-field-error", "#question"):
        expect(page.locator(part).first).to_be_in_viewport()
        shown = page.locator(part).first.bounding_box()
        assert shown["y"] >= 0 and shown["y"] + shown["height"] <= bar["y"] + 1, (part, shown, bar)


def test_a_box_refused_at_send_stays_above_the_reach_bar_on_a_landscape_phone(page, sign_in_page):
    """Found by a review: on a landscape phone at 200% text the label, the words and the
    box refused at Send… did not fit above the reach bar together, and the box the
    officer is to type in went under the bar. The box stays in view."""
    bar = send_an_unfinished_question(page, sign_in_page, 568, 320)
    box = page.locator("#question").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= bar["y"] + 1, (box, bar)


def test_the_time_to_send_at_can_be_read_and_its_refusal_is_said_once_on_a_small_phone(
    page, sign_in_page
):
    """Found by an outside check: at 200% text on a 320-pixel phone the date and time to
    send at was a box 148 px wide whose value could not be read, and a time gone was
    said twice, beside it in a column 176 px wide and below it, its label above the
    screen."""
    composer_with_words(page, sign_in_page, 320, 700)
    page.locator("#send-later").check()
    box = page.locator("#send-at")
    box.fill("2020-01-01T10:00")
    assert box.bounding_box()["width"] >= 230, box.bounding_box()  # of the 256 px there are
    page.wait_for_timeout(600)
    page.get_by_role("button", name="Send…").click()
    expect(page.locator("#compose-error")).to_contain_text("That time has passed.")
    expect(box).to_be_focused()
    expect(page.locator(".compose-field-error")).to_have_count(0)
    page.wait_for_timeout(200)
    bar = page.locator("#reach-bar").bounding_box()
    for part in ("label[for=send-at]", "#send-at", "#compose-error"):
        shown = page.locator(part).bounding_box()
        assert shown["y"] >= 0 and shown["y"] + shown["height"] <= bar["y"] + 1, (part, shown)


def test_an_area_refused_is_shown_from_its_start_on_a_small_phone(page, sign_in_page):
    """Found by an outside check: at 200% text on a 320-pixel phone, an area refused was
    scrolled to its centre, its start above the screen and its end under the reach bar.
    Shown whole above the bar; taller than that room, from its start."""
    sign_in_page("officer")
    page.set_viewport_size({"width": 320, "height": 700})
    text_at_twice_the_size(page)
    page.goto("/officers/")
    page.get_by_label("Postcode to centre a circle on").fill("BA14 6AA")
    page.get_by_role("button", name="Find").click()
    said = page.locator("#area-error")
    expect(said).to_contain_text("All of this area is outside Avon")
    page.wait_for_timeout(300)
    bar = page.locator("#reach-bar").bounding_box()
    shown = said.bounding_box()
    if shown["height"] <= bar["y"] - 16:
        assert shown["y"] >= 0 and shown["y"] + shown["height"] <= bar["y"] + 1, (shown, bar)
    else:
        assert 0 <= shown["y"] <= 16, (shown, bar)
