"""A PCSO on a phone (390x844, touch): find a postcode, set a radius, draw, exclude a
ward, see the count, write a message with a curly apostrophe and watch the text
message's parts change, request approval; a supervisor approves on their own phone;
delivery is followed live. axe-core checks every page on the way."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.axe import axe_violations
from tests.browser_fixtures import staff_menu

pytestmark = pytest.mark.browser


@pytest.fixture
def bristol(make_resident):
    # Central ward: BS1 6AD, BS8 1TH. Lawrence Hill ward: BS2 0GR, 400 m from BS1 6AD.
    make_resident(postcode="BS1 6AD", sms="+447700900001", groups=("neighbourhood-watch",))
    make_resident(postcode="BS8 1TH", sms=None, email="b@example.invalid")
    make_resident(postcode="BS2 0GR", sms="+447700900003", email="c@example.invalid")
    make_resident(postcode="BS2 0GR", sms=None, voice="+441174960004")


def tap_polygon(page):
    box = page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    dx, dy = box["width"] / 5, box["height"] / 8
    for px, py in [(cx - dx, cy - dy), (cx + dx, cy - dy), (cx + dx, cy + dy), (cx - dx, cy + dy)]:
        page.touchscreen.tap(px, py)
        page.wait_for_timeout(350)  # two quick taps would be a double-tap zoom
    page.get_by_role("button", name="Finish shape").tap()


def test_pcso_targets_composes_and_gets_approval_then_delivery_is_followed(
    app,
    monkeypatch,
    browser,
    page,
    sign_in_page,
    make_officer,
    bristol,
    worker_process,
    live_server,
):
    monkeypatch.setitem(app.config, "APPROVAL_THRESHOLD", 2)
    # Counts under 2 hidden (5 in service), so the journey shows exact and hidden ones.
    monkeypatch.setitem(app.config, "DENSITY_MIN_COUNT", 2)
    sign_in_page("officer")
    expect(page.locator("#map .leaflet-overlay-pane path").first).to_be_visible()
    assert axe_violations(page) == []

    # A postcode and a radius.
    page.get_by_label("Postcode to centre a circle on").fill("bs1 6ad")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#reach-residents")).to_have_text("3")  # 1 km: not BS8 1TH
    page.get_by_label("Radius in metres").fill("2000")
    page.get_by_label("Radius in metres").press("Enter")
    expect(page.locator("#radius-label")).to_have_text("2 km")
    expect(page.locator("#reach-residents")).to_have_text("4")
    expect(page.locator("#shapes-list")).to_contain_text("2 km round BS1 6AD")

    # A drawn polygon joins the list of areas (it adds nobody new here).
    page.get_by_role("button", name="Draw area").click()
    tap_polygon(page)
    expect(page.locator("#shapes-list li")).to_have_count(2)
    expect(page.locator("#reach-residents")).to_have_text("4")

    # Exclude the Central ward: only Lawrence Hill's two residents are left.
    page.get_by_label("Add a ward, district or the whole force").fill("Centr")
    page.get_by_role("button", name="Ward: Central").click()
    expect(page.locator("#shapes-list li")).to_have_count(3)
    page.get_by_role("button", name="Leave out: Ward: Central").click()
    expect(page.locator("#shapes-list")).to_contain_text("Left out: Ward: Central")
    expect(page.locator("#reach-residents")).to_have_text("2")
    expect(page.locator("#reach-sms")).to_have_text("fewer than 2")
    expect(page.locator("#reach-voice")).to_have_text("fewer than 2")
    expect(page.locator("#reach-email")).to_have_text("fewer than 2")
    expect(page.locator("#reach-approval")).to_be_hidden()  # 2 is not over the threshold
    # The preview shows where they are, as squares.
    expect(page.locator("#map .leaflet-overlay-pane path")).not_to_have_count(0)

    # Writing it: a curly apostrophe makes the text message UCS-2, in more parts.
    page.get_by_label("Title").fill("Car crime")
    body = "Cars broken into on Old Market Street overnight. Please check yours " + "x" * 6
    page.get_by_label("Message", exact=True).fill(body)
    expect(page.locator("#sms-length")).to_contain_text("1 part (at most 4)")
    expect(page.locator("#sms-length")).to_contain_text("Each part holds 160 characters.")
    expect(page.locator("#sms-length")).not_to_contain_text("chose Welsh")
    # A text of one part in English that takes two in a Welsh speaker's words (ours
    # are longer in Welsh): the counter says so (it showed the English alone).
    with app.test_request_context():
        longer = _longer_in_welsh("Car crime")
    page.get_by_label("Message", exact=True).fill(longer)
    expect(page.locator("#sms-length")).to_contain_text(
        "Text message: 1 part (at most 4). Each part holds 160 characters. Residents who "
        "chose Welsh get our words in Welsh: 2 parts."
    )
    page.get_by_label("Message", exact=True).fill(body)
    expect(page.locator("#sms-length")).not_to_contain_text("chose Welsh")
    page.get_by_label("Message", exact=True).fill(body.replace("Please", "Don’t panic; please"))
    expect(page.locator("#sms-length")).to_contain_text("3 parts")
    # In plain words, never "UCS-2".
    expect(page.locator("#sms-length")).to_contain_text(
        "each part holds 67 characters instead of 153"
    )
    expect(page.locator("#sms-length")).not_to_contain_text("UCS")
    expect(page.locator("#sms-ucs2")).to_contain_text("’ (curly quote)")
    page.get_by_text("Text message as residents see it").click()
    expect(page.locator("#preview-sms mark")).to_have_text("’")
    # A cost would tell the hidden number of texts: it says the most it can be.
    expect(page.locator("#cost")).to_contain_text("at most £")
    expect(page.locator("#cost")).to_contain_text("fewer than 2 texts × 3 parts")
    assert axe_violations(page) == []
    # One tap makes the punctuation plain, and says what it saves.
    page.get_by_role("button", name="Use plain ' instead (saves 2 parts)").tap()
    expect(page.locator("#sms-length")).to_contain_text("1 part (at most 4)")
    expect(page.get_by_label("Message", exact=True)).to_have_value(
        body.replace("Please", "Don't panic; please")
    )
    expect(page.locator("#sms-ucs2")).to_be_hidden()
    # Welsh letters cost parts too, and are the spelling: never offered for replacing.
    page.get_by_text("Also in Welsh (Cymraeg)").tap()
    page.locator("#title-cy").fill("Ceir")
    page.locator("#body-cy").fill("Mae'r dŵr yn uchel ar y ffordd.")
    expect(page.locator("#sms-ucs2-text")).to_have_text(
        "Welsh letters (ŵ) need the larger character set, so each part holds fewer "
        "characters. Keep them: they are the spelling."
    )
    expect(page.locator("#plain-punctuation")).to_be_hidden()
    # Its quotes and dashes are made plain as the English's are; its letters stay.
    page.locator("#body-cy").fill("Arhoswch yn y tŷ – “diolch”")
    page.get_by_role("button", name=re.compile(r"^Use plain")).tap()
    expect(page.locator("#body-cy")).to_have_value('Arhoswch yn y tŷ - "diolch"')
    page.locator("#body-cy").fill("")
    page.locator("#title-cy").fill("")
    expect(page.locator("#sms-ucs2")).to_be_hidden()

    # Over the threshold: the officer asks for approval.
    monkeypatch.setitem(app.config, "APPROVAL_THRESHOLD", 1)
    page.get_by_label("Postcode to centre a circle on").fill("BS1 6AD")  # a fresh count
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#send")).to_have_text("Request approval…")
    page.get_by_role("button", name="Request approval…").click()
    expect(page.locator("#confirm")).to_contain_text("Ask a supervisor to approve")
    # The title changed after the question: it closes, and is asked again with the new
    # one (the edited title went under the question naming the old: an outside check).
    page.get_by_label("Title").fill("Car crime in Old Market")
    expect(page.locator("#confirm")).to_be_hidden()
    page.get_by_role("button", name="Request approval…").click()
    expect(page.locator("#confirm")).to_contain_text("“Car crime in Old Market”")
    page.get_by_role("button", name="Request approval", exact=True).click()
    expect(page).to_have_url(re.compile(r"/officers/alerts/\d+$"))
    expect(page.locator("#alert-status")).to_have_text("waiting for approval")
    alert_url = page.url
    assert axe_violations(page) == []

    # The supervisor, on their own phone, approves.
    supervisor = make_officer(role="supervisor")
    context = browser.new_context(
        base_url=live_server,
        viewport={"width": 390, "height": 844},
        has_touch=True,
        is_mobile=True,
    )
    phone = context.new_page()
    try:
        from tests.factories import PASSWORDS

        phone.goto("/sign-in")
        phone.get_by_label("E-mail address").fill(supervisor.email)
        phone.get_by_label("Password").fill(PASSWORDS["supervisor"])
        phone.get_by_role("button", name="Sign in").click()
        staff_menu(phone)
        phone.get_by_role("link", name="Approvals").click()
        expect(phone.locator("main")).to_contain_text("Car crime")
        assert axe_violations(phone) == []
        phone.get_by_role("link", name="Car crime").click()
        # The supervisor sees where it goes before approving.
        area_map = phone.get_by_role("region", name="Map of the area this alert is for")
        expect(area_map).to_be_visible()
        expect(phone.locator("#map .leaflet-overlay-pane path").first).to_be_visible()
        assert axe_violations(phone) == []
        phone.get_by_role("button", name="Approve and send").click()
        expect(phone.locator(".flash").first).to_contain_text("Approved")
    finally:
        context.close()

    # The officer watches it go out.
    page.goto(alert_url)
    expect(page.locator("#total")).to_have_text("3")
    expect(page.locator("#delivered")).to_have_text("3", timeout=20_000)
    expect(page.locator("#status")).to_have_text("finished sending")
    expect(page.locator("main")).to_contain_text("Approved by Test Supervisor")
    assert page.console_errors == []


def test_exercise_mode_is_unmistakable(page, sign_in_page, bristol):
    sign_in_page("officer")
    banner = page.locator("#exercise-banner")
    expect(banner).to_be_hidden()
    page.get_by_label("This is an exercise").check()
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("EXERCISE")
    page.get_by_label("Title").fill("Drill")
    page.get_by_label("Message", exact=True).fill("Practice <b>not bold</b>")
    page.get_by_text("Text message as residents see it").click()
    expect(page.locator("#preview-sms")).to_contain_text("EXERCISE EXERCISE EXERCISE")
    # Marked with its language, as the words are (a Welsh page read them as Welsh).
    expect(page.locator("#preview-sms")).to_have_attribute("lang", "en-GB")
    expect(page.locator("#preview-voice")).to_have_attribute("lang", "en-GB")
    page.locator("#compose summary", has_text="E-mail").click()
    html = page.frame_locator("#preview-email-html").locator("body")
    expect(html).to_contain_text("Practice <b>not bold</b>")  # shown as typed, never markup
    # A Tab stop that shows it has the focus (it showed nothing: an outside check).
    page.locator("#preview-email-html").focus()
    ring = page.locator("#preview-email-html").evaluate("e => getComputedStyle(e).outlineStyle")
    assert ring != "none"
    assert axe_violations(page) == []


def _longer_in_welsh(title: str) -> str:
    """A message whose text is one part in English and two in a Welsh speaker's."""
    from app.references import SAMPLE
    from app.services import forces, message_text
    from app.services.dispatch import sms_reference

    def parts(body: str, first: bool) -> int:
        text = message_text.sms_text(
            title=title,
            body=body,
            force=forces.current_force().name,
            ask=None,
            reference=sms_reference(SAMPLE),
            welsh_first=first,
        )
        return message_text.sms_length(text).segments

    return next(
        "x" * n for n in range(40, 160) if parts("x" * n, False) == 1 < parts("x" * n, True)
    )
