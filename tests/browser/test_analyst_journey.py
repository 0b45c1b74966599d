"""An analyst lands on the density map, on a phone and on a desktop: squares coloured
by the legend's classes, grey squares with no number, the grey squares' total, the
filters, and axe-core finds nothing serious."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.axe import axe_violations
from tests.browser_fixtures import _new_page, sideways, sign_in_officer

pytestmark = pytest.mark.browser


@pytest.fixture
def residents(make_resident):
    for n in range(12):
        make_resident(postcode="BS1 6AD", sms=f"+44770090020{n:02d}", groups=("farm-watch",))
    for n in range(6):
        make_resident(postcode="BA4 6QN", sms=f"+44770090030{n:02d}")
    for n in range(3):
        make_resident(postcode="TA1 1AA", sms=f"+44770090040{n:02d}")
    for n in range(2):
        make_resident(postcode="BS8 1TH", sms=f"+44770090050{n:02d}")


def check_density(page):
    expect(page).to_have_url(re.compile(r"/analysts/density$"))
    summary = page.locator("#density-summary")
    expect(summary).to_contain_text("All confirmed residents: 2 squares showing 18 residents")
    expect(summary).to_contain_text(
        "2 grey squares with fewer than 5 each (or hidden to protect one), holding 5 residents"
    )
    expect(page.locator("#map-status")).to_have_text("2 squares drawn with their count; 2 grey.")
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(4)
    legend = page.locator("#legend")
    expect(legend.locator("tbody tr")).to_have_count(7)
    expect(legend.locator('tr[data-status="hidden"]')).to_contain_text("Fewer than 5")
    expect(legend.locator('tr[data-status="hidden"] td').nth(1)).to_have_text("5")
    expect(page.locator("#attribution")).to_contain_text(
        "Contains OS data © Crown copyright and database right 2025"
    )
    expect(page.locator(".leaflet-marker-icon")).to_have_count(0)
    assert sideways(page) <= 0
    assert axe_violations(page) == []


def test_analyst_sees_density_squares_never_homes_on_a_phone(page, sign_in_page, residents):
    sign_in_page("analyst")
    check_density(page)
    # Filter by group on the server. The 12 in Farm Watch share one square; the other
    # squares hold none of them, and a grey total of 0 would say so, so the 12 are
    # grey too, and the grey total is theirs.
    page.get_by_label("Interest group").select_option("farm-watch")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"group=farm-watch"))
    expect(page.locator("#density-summary")).to_contain_text(
        "In the group Farm-Watch: 0 squares showing 0 residents; 4 grey squares with fewer"
        " than 5 each (or hidden to protect one), holding 12 residents together."
    )
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(4)
    # The legend's one-word headings and its counts are not broken across lines on a
    # phone ("Squ/ares", "1,51/2": an outside check at 390 px).
    lines = page.evaluate(
        """() => Array.from(document.querySelectorAll('#legend thead th, #legend td.num'))
              .filter(cell => !cell.textContent.trim().includes(' '))
              .map(cell => { const range = document.createRange();
                             range.selectNodeContents(cell);
                             return range.getClientRects().length; })"""
    )
    assert lines and max(lines) == 1, lines
    assert axe_violations(page) == []
    # A thumb swiping up over the map scrolls the page past it, and leaves the map
    # where it was: the map caught the swipe, and half the phone's page would not move.
    box = page.locator("#map").bounding_box()
    page.evaluate(f"window.scrollTo(0, {box['y']} + scrollY - 100)")
    box = page.locator("#map").bounding_box()
    before, centre = page.evaluate("scrollY"), page.evaluate("CA.map.getCenter()")
    touch = page.context.new_cdp_session(page)
    x, y = box["x"] + box["width"] / 2, box["y"] + min(box["height"], 400) - 20

    def finger(kind: str, at: float) -> None:
        points = [] if kind == "touchEnd" else [{"x": x, "y": at}]
        touch.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})

    finger("touchStart", y)
    for step in range(1, 11):
        finger("touchMove", y - 25 * step)
        page.wait_for_timeout(30)
    finger("touchEnd", y - 250)
    page.wait_for_timeout(500)
    assert page.evaluate("scrollY") > before + 100
    assert page.evaluate("CA.map.getCenter()") == centre
    assert page.evaluate("CA.map.dragging.enabled()") is False
    assert page.console_errors == []


def test_analyst_sees_density_on_a_desktop(
    app, browser, request, live_server, make_officer, residents
):
    context, page = _new_page(
        browser, request, live_server, viewport={"width": 1440, "height": 900}
    )
    try:
        sign_in_officer(
            app, page, make_officer(role="analyst", email="density.analyst@police.example")
        )
        check_density(page)
        # A mouse moves the map: the one-finger rule is for touch screens.
        assert page.evaluate("CA.map.dragging.enabled()") is True
        page.get_by_label("Channel").select_option("email")
        page.get_by_role("button", name="Show").click()
        expect(page.locator("#density-summary")).to_contain_text(
            "On e-mail: 0 squares showing 0 residents; 4 grey squares with fewer than 5 each"
            " (or hidden to protect one); their total is not given, as it could reveal a square."
        )
        assert page.console_errors == []
    finally:
        context.close()


def test_a_place_named_in_markup_is_shown_as_words_on_the_figures_maps(
    page, sign_in_page, residents
):
    """Found by a review: the wards' and squares' tooltips took their words as HTML
    (Leaflet does, for a string), and a ward's name comes from a boundary file. Shown
    as words, whatever they hold."""
    import json

    named = '<img src="x" id="planted">Ashley'

    def rename(route):
        data = route.fetch().json()
        for feature in data["features"]:
            for key in ("name", "label", "district"):
                if key in feature["properties"]:
                    feature["properties"][key] = named
        route.fulfill(status=200, content_type="application/json", body=json.dumps(data))

    page.route(re.compile(r"/analysts/(penetration|density)\.geojson"), rename)
    sign_in_page("analyst")
    for path in ("/analysts/penetration", "/analysts/density"):
        page.goto(path)
        shape = page.locator("#map path.leaflet-interactive").first
        expect(shape).to_be_attached()
        shape.hover(force=True)
        tooltip = page.locator(".leaflet-tooltip")
        expect(tooltip).to_contain_text(named)
        assert page.locator("#planted").count() == 0, path
