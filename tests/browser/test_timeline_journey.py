"""An analyst opens the time line on a phone and on a desktop: the weekly chart with
an alert marked, the table under it, a breakdown, message fatigue, and the chart
downloaded as PNG (from the canvas) and SVG (from the server), both valid files; the
CSV too. axe-core finds nothing serious."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree
from playwright.sync_api import expect
from sqlalchemy import text

from app.extensions import db
from app.models import Alert
from tests.browser.axe import axe_violations
from tests.browser_fixtures import _new_page, sideways, staff_menu
from tests.factories import PASSWORDS

pytestmark = pytest.mark.browser

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def activity(make_resident, make_officer):
    for i in range(7):
        make_resident(sms=f"+44770090{i:04d}", groups=("farm-watch",) if i < 3 else ())
    officer = make_officer(role="officer", email="sender@police.example")
    sent = datetime.now(UTC) - timedelta(days=10)
    db.session.add(
        Alert(
            created_by_id=officer.id,
            title="T",
            body="B",
            shapes=[],
            status="sent",
            mode="live",
            category="incident",
            sent_at=sent,
            reference="TL01-ABC",
        )
    )
    # Six in the alert's 48 hours, five at other times (the usual rate: under 5, the
    # table shows none of its figures, since the period's total is shown weekly).
    times = [sent + timedelta(hours=hours) for hours in range(1, 7)]
    times += [sent - timedelta(days=3, hours=hours) for hours in range(1, 6)]
    for at in times:
        db.session.execute(
            text(
                "INSERT INTO resident_events (kind, at, channels, groups, source)"
                " VALUES ('stopped', :at, ARRAY['sms'], '{}', 'self')"
            ),
            {"at": at},
        )
    db.session.commit()


def open_time_line(page, make_officer):
    officer = make_officer(role="analyst", email="time.analyst@police.example")
    page.goto("/sign-in")
    page.get_by_label("E-mail address").fill(officer.email)
    page.get_by_label("Password").fill(PASSWORDS["analyst"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    page.goto("/analysts/density")
    staff_menu(page)
    page.get_by_role("link", name="Time line").click()
    expect(page).to_have_url(re.compile(r"/analysts/timeline$"))
    expect(page.locator("#timeline-chart canvas")).to_have_count(1)
    expect(page.locator("#weekly-table tbody tr")).to_have_count(26)
    expect(page.locator("#alerts-table")).to_contain_text("TL01-ABC")
    expect(page.locator("#fatigue-table")).to_contain_text("Incident")
    expect(page.locator("#fatigue-table")).to_contain_text("6")


def downloads(page, tmp_path, prefix: str):
    with page.expect_download() as png_info:
        page.locator(f"#{prefix}-png").click()
    png = png_info.value
    assert png.suggested_filename.endswith(".png")
    data = Path(png.path()).read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000
    with page.expect_download() as svg_info:
        page.locator(f"#{prefix}-svg").click()
    svg = svg_info.value
    assert svg.suggested_filename.endswith(".svg")
    root = etree.parse(svg.path()).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def test_time_line_on_a_phone(browser, request, live_server, make_officer, activity, tmp_path):
    context, page = _new_page(
        browser, request, live_server, viewport={"width": 390, "height": 844}, accept_downloads=True
    )
    try:
        open_time_line(page, make_officer)
        last = page.locator("#weekly-table tbody tr").last
        expect(last.locator('td[data-column="registered"]')).to_have_text("7")
        expect(last.locator('td[data-column="deleted"]')).to_have_text("fewer than 5")
        assert sideways(page) <= 0
        # The week is one line, not a letter to a line under the wide hidden figures
        # (found by an outside check).
        week = last.locator("th").bounding_box()
        assert week["height"] < 60, week
        # A margin, as every report has (found by an outside check: the time line's
        # selects touched the screen's edges; its page missed the reports' style).
        heading = page.get_by_role("heading", level=1).bounding_box()
        assert heading["x"] >= 12 and heading["x"] + heading["width"] <= 390 - 12
        assert axe_violations(page) == []
        root = downloads(page, tmp_path, "timeline")
        assert "What residents did" in root.findtext("{http://www.w3.org/2000/svg}title")
        downloads(page, tmp_path, "fatigue")
        with page.expect_download() as csv_info:
            page.locator("#timeline-csv").click()
        assert "fewer than 5" in Path(csv_info.value.path()).read_text(encoding="utf-8-sig")
        # The map pages' footer link is a thumb's height (it was 14 px: an outside check).
        page.goto("/analysts/density")
        licence = page.get_by_role("link", name="Open Government Licence v3.0")
        assert licence.bounding_box()["height"] >= 44
        assert page.console_errors == []
    finally:
        context.close()


def test_time_line_fits_a_small_phone_at_twice_the_text_size(
    browser, request, live_server, make_officer, activity
):
    """Found by an outside check: at 200% text on a 320-pixel phone the chart was drawn
    280 px wide in a box of 256 and cut off at its right, and the keys lost their last
    letters ("Cofrestriadau")."""
    context, page = _new_page(browser, request, live_server, viewport={"width": 320, "height": 700})
    try:
        # The phone's own text size, as the page loads (a style added after it comes
        # after the charts are drawn).
        cdp = context.new_cdp_session(page)
        cdp.send("Page.enable")
        cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 32, "fixed": 26}})
        open_time_line(page, make_officer)
        page.goto("/analysts/timeline?lang=cy")
        expect(page.locator("#timeline-chart canvas")).to_have_count(1)
        page.wait_for_timeout(300)
        for chart in ("#timeline-chart", "#fatigue-chart"):
            fits = page.evaluate(
                """(id) => { const box = document.querySelector(id).getBoundingClientRect();
                   const parts = document.querySelectorAll(id + ' canvas, ' + id + ' .u-legend tr');
                   return Array.from(parts)
                     .every(p => p.getBoundingClientRect().right <= box.right + 0.5); }""",
                chart,
            )
            assert fits, chart
        # A table's caption wraps in the box that scrolls the table sideways (it was as
        # wide as the table, 32 to 1,641 px, read as a broken sentence: an outside check).
        captions = page.evaluate(
            """() => Array.from(document.querySelectorAll(".table-scroll > table > caption"))
                 .filter(c => !c.classList.contains("visually-hidden"))
                 .map(c => [c.getBoundingClientRect().right,
                            c.closest(".table-scroll").getBoundingClientRect().right])"""
        )
        assert captions and all(right <= box + 0.5 for right, box in captions), captions
        assert sideways(page) <= 0
    finally:
        context.close()


def test_time_line_on_a_desktop(browser, request, live_server, make_officer, activity, tmp_path):
    context, page = _new_page(
        browser,
        request,
        live_server,
        viewport={"width": 1440, "height": 900},
        accept_downloads=True,
    )
    try:
        open_time_line(page, make_officer)
        page.get_by_label("Break down by").select_option("group")
        page.get_by_label("Count (with a breakdown)").select_option("registered")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"by=group&kind=registered"))
        last = page.locator("#weekly-table tbody tr").last
        # 7 this week: 3 in Farm Watch (hidden), so "no group" (4) is hidden anyway.
        expect(last.locator('td[data-column="all"]')).to_have_text("7")
        expect(last.locator('td[data-column="farm-watch"]')).to_have_text("fewer than 5")
        expect(last.locator('td[data-column="none"]')).to_have_text("fewer than 5")
        assert sideways(page) <= 0
        main = page.locator("main").bounding_box()
        assert main["width"] <= 80 * 16 and main["x"] > 0  # a readable width, centred
        assert axe_violations(page) == []
        root = downloads(page, tmp_path, "timeline")
        assert "by group" in root.findtext("{http://www.w3.org/2000/svg}title")
        # A bad period: a clear message, the form kept.
        page.get_by_label("From (week of)").fill("2026-05-01")
        page.get_by_label("To (week of)").fill("2026-04-01")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_role("alert")).to_contain_text("is after")
        assert axe_violations(page) == []
        # In Welsh: the categories, the charts' words and their dates (they were English:
        # an outside check).
        page.goto("/analysts/timeline?lang=cy")
        expect(page.locator("#fatigue-table")).to_contain_text("Digwyddiad")
        expect(page.locator("#fatigue-table")).not_to_contain_text("Incident")
        legends = page.locator(".u-legend").all_inner_texts()
        said = " ".join(legends)
        assert "Ar ôl rhybuddion, fesul 48 awr" in said, said
        assert "Week starting" not in said and "per 48 hours" not in said
        # Its dates in Welsh too (drawn on the canvas, by the page's locale).
        sent = json.loads(page.locator("#timeline-data").text_content())
        assert sent["locale"] == "cy" and sent["words"]["Week starting"] == "Wythnos yn dechrau"
        assert sent["months"][5] == "Meh"  # June
        assert page.console_errors == []
    finally:
        context.close()
