"""An analyst opens reach against population on a phone and on a desktop: the map of
wards with its legend, the tables, sorting them (with the keyboard on the desktop, with
the sort form on the phone), and axe-core finds nothing serious."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from app.extensions import db
from tests.browser.axe import axe_violations
from tests.browser_fixtures import _new_page, sideways, staff_menu
from tests.factories import PASSWORDS

pytestmark = pytest.mark.browser


@pytest.fixture
def residents(residents_in_three_wards):
    return residents_in_three_wards


def open_report(page, make_officer):
    officer = make_officer(role="analyst", email="reach.analyst@police.example")
    page.goto("/sign-in")
    page.get_by_label("E-mail address").fill(officer.email)
    page.get_by_label("Password").fill(PASSWORDS["analyst"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    staff_menu(page)
    page.get_by_role("link", name="Reach").click()
    expect(page).to_have_url(re.compile(r"/analysts/penetration$"))
    expect(page.locator("#map-status")).to_have_text(
        "185 wards drawn; 183 with figures not shown (fewer than 5)."
    )
    expect(page.locator("#map path.leaflet-interactive")).to_have_count(185)
    expect(page.locator("#legend li")).not_to_have_count(0)
    expect(page.locator("#legend")).to_contain_text("fewer than 5")
    expect(page.locator("#population-source")).to_contain_text("mid-2022")
    expect(page.locator("#population-source")).to_contain_text(
        "Source: Office for National Statistics licensed under the Open Government Licence v.3.0"
    )
    # The first 25 wards; the rest a tap away (all 185 made a phone's page 38,852 px
    # tall: an outside check).
    expect(page.locator("#ward-table tbody tr")).to_have_count(25)
    expect(page.locator("#wards-shown")).to_contain_text("The first 25 of 185 wards")


def test_reach_on_a_phone(page, make_officer, residents):
    seven, twelve, two = residents
    open_report(page, make_officer)
    first = page.locator("#ward-table tbody tr").first
    # Lowest rate first among the two wards shown.
    assert first.get_attribute("data-code") in (seven, twelve)
    height = page.evaluate("document.scrollingElement.scrollHeight")
    assert height < 12000, height
    assert sideways(page) <= 0
    # A district's row opens its wards, every one; the hidden ward reads "fewer than 5".
    district = db.session.scalar(
        text("SELECT properties->>'lad23cd' FROM places WHERE kind = 'ward' AND code = :c"),
        {"c": two},
    )
    page.locator(f'#district-table tr[data-code="{district}"] a').click()
    expect(page).to_have_url(re.compile(rf"district={district}#wards$"))
    expect(page.locator("#wards")).to_contain_text("Wards of ")
    expect(page.locator(f'#ward-table tr[data-code="{two}"]')).to_contain_text("fewer than 5")
    in_district = db.session.scalar(
        text("SELECT count(*) FROM places WHERE kind = 'ward' AND properties->>'lad23cd' = :d"),
        {"d": district},
    )
    expect(page.locator("#ward-table tbody tr")).to_have_count(in_district)
    expect(page.get_by_label("Show the wards of")).to_have_value(district)
    page.get_by_label("Show the wards of").select_option("")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#ward-table tbody tr")).to_have_count(25)
    assert axe_violations(page) == []
    # Stacked, every column heading still has a name (axe's minor "empty-table-header",
    # which the check above leaves out, found every one empty: an outside check).
    empty = page.evaluate(
        "async () => (await axe.run(document, {runOnly: ['empty-table-header']})).violations.length"
    )
    assert empty == 0

    page.get_by_label("Sort the tables by").select_option("name")
    page.get_by_label("Order").select_option("desc")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"sort=name&order=desc"))
    names = page.locator('#ward-table tbody th[data-label="Ward"]').all_inner_texts()
    names = [re.sub(r"\s+E\d{8}$", "", n) for n in names]
    assert names == sorted(names, key=str.lower, reverse=True)
    assert sideways(page) <= 0
    # Found by an outside check: a keyboard passed through the map's 185 wards, and
    # through the sort links of headings a phone does not show.
    expect(page.locator('#map path[tabindex="-1"]')).to_have_count(185)
    expect(page.locator('#map path[tabindex="0"]')).to_have_count(0)
    visibility = page.locator("#ward-table thead a").first.evaluate(
        "a => getComputedStyle(a).visibility"
    )
    assert visibility == "hidden"
    # In Welsh, the map's own words are Welsh, and nothing spills sideways.
    page.goto("/analysts/penetration?lang=cy&wards=all")
    expect(page.locator("#map-status")).to_have_text(
        "185 ward wedi'u lluniadu; 183 heb ddangos eu ffigurau (llai na 5)."
    )
    expect(page.locator(f'#ward-table tr[data-code="{two}"]')).to_contain_text("llai na 5")
    assert sideways(page) <= 0
    # A stacked cell ("label: figure") wraps on a phone: with the force's six-figure
    # totals a Welsh label kept on one line spilled 2 px (an outside check).
    wraps = page.locator("#district-table td.num").first.evaluate(
        "td => getComputedStyle(td).whiteSpace"
    )
    assert wraps == "normal"
    assert page.console_errors == []


def test_reach_on_a_desktop(browser, request, live_server, make_officer, residents):
    context, page = _new_page(
        browser, request, live_server, viewport={"width": 1440, "height": 900}
    )
    try:
        open_report(page, make_officer)
        assert sideways(page) <= 0
        assert axe_violations(page) == []
        # Sort by confirmed residents with the keyboard: focus the header link, Enter.
        link = page.locator("#ward-table thead a", has_text="Confirmed residents")
        link.focus()
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"sort=residents&order=asc#wards$"))
        header = page.locator("#ward-table thead th", has_text="Confirmed residents")
        expect(header).to_have_attribute("aria-sort", "ascending")
        counts = page.locator('#ward-table tbody td[data-label="Confirmed residents"]')
        assert counts.all_inner_texts()[:2] == ["7", "12"]
        page.locator("#ward-table thead a", has_text="Confirmed residents").press("Enter")
        expect(header).to_have_attribute("aria-sort", "descending")
        assert counts.all_inner_texts()[:2] == ["12", "7"]
        assert page.console_errors == []
    finally:
        context.close()
