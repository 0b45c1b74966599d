"""An analyst reads what was sent last quarter on a phone and on a desktop: choosing
the period, the tables (nothing under 5), downloading the CSV, and axe-core finds
nothing serious."""

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from tests.browser.axe import axe_violations
from tests.browser.test_phone_fit import small_targets
from tests.browser_fixtures import _new_page, sideways, sign_in_officer, staff_menu
from tests.test_sent_report import ledger  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser


def cut_off(page) -> list[str]:
    """Cells whose text runs past their edge (clipped, or over the next one)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#main td, #main th, #main caption')]
            .filter(e => e.scrollWidth > e.clientWidth + 1)
            .map(e => e.textContent.trim().slice(0, 40))"""
    )


def words_broken(page) -> list[str]:
    """Words wider than their table cell, so broken inside ("Prob/e: burg/laries"): on
    a wide screen a column is never squeezed below its longest word."""
    return page.evaluate(
        """() => {
          const ctx = document.createElement('canvas').getContext('2d');
          // What is seen: a hidden figure's words are for a screen reader only.
          const seen = node => node.nodeType === 3 ? node.textContent
            : node.classList && node.classList.contains('visually-hidden') ? ' '
            : [...node.childNodes].map(seen).join('');
          return [...document.querySelectorAll('#main td, #main th')].filter(cell => {
            const style = getComputedStyle(cell);
            ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
            const room = cell.clientWidth - parseFloat(style.paddingLeft)
                         - parseFloat(style.paddingRight);
            // A line may break at a space or after a hyphen ("NVNU-" / "NTN").
            return seen(cell).split(/\\s+|(?<=-)/)
              .some(w => ctx.measureText(w).width > room + 1);
          }).map(cell => cell.innerText.trim().slice(0, 40));
        }"""
    )


def choose_q1(page):
    staff_menu(page)
    page.get_by_role("link", name="Sent", exact=True).click()
    expect(page).to_have_url(re.compile(r"/analysts/sent$"))
    expect(page.get_by_role("heading", name="What was sent", level=1)).to_be_visible()
    page.get_by_label("From (first day)").fill("2026-01-01")
    page.get_by_label("To (last day, included)").fill("2026-03-31")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"from=2026-01-01&to=2026-03-31"))
    expect(page.locator("#period")).to_contain_text(
        "1 January 2026 to 31 March 2026 (UK time): 3 alerts released"
    )
    grid = page.locator("#messages")
    expect(grid.locator('tfoot td[data-label="All statuses"]')).to_have_text("90")
    # "fewer than 5", or, in a table with figures hidden to protect it, said so too:
    # to the eye as "<5*", explained above the tables (the words in each cell made the
    # table 2.3 times as wide as the page: an outside check).
    expect(grid.locator('tr[data-key="sms"] td[data-label="Cancelled"]')).to_have_text(
        re.compile(r"^(fewer than 5|<5\*fewer than 5, or hidden to protect one)$")
    )
    expect(page.locator("#hidden-mark")).to_have_text(
        "In the tables, “<5*” reads “fewer than 5, or hidden to protect one”."
    )
    box = page.locator("#messages").bounding_box()
    assert box["width"] <= page.viewport_size["width"]
    expect(page.locator("#each-alert tbody tr")).to_have_count(3)
    expect(page.locator("#speed")).to_contain_text("27.8 s")


def download(page, tmp_path) -> list[list[str]]:
    with page.expect_download() as info:
        page.get_by_role("link", name="Download as CSV").click()
    assert info.value.suggested_filename == "sent-2026-01-01-to-2026-03-31.csv"
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    return list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8"))))


# The report reads the same either way (tests/test_sent_report.py runs both); in the
# browser, once: the settled alerts' counts.
ONCE = pytest.mark.parametrize("ledger", ["counted once settled"], indirect=True)


@ONCE
def test_what_was_sent_on_a_phone(app, page, make_officer, ledger, tmp_path):  # noqa: F811
    sign_in_officer(app, page, make_officer(role="analyst", email="sent.analyst@police.example"))
    choose_q1(page)
    assert sideways(page) <= 0
    assert cut_off(page) == []
    assert axe_violations(page) == []
    # The period's presets and the header's link, a thumb's height (24 and 26 px, the
    # presets overlapping where one wrapped: an outside check).
    assert small_targets(page) == []
    boxes = [page.locator(".presets a").nth(i).bounding_box() for i in range(5)]
    for one, other in zip(boxes, boxes[1:], strict=False):
        apart = one["y"] + one["height"] <= other["y"] or one["x"] + one["width"] <= other["x"]
        assert apart, (one, other)
    rows = download(page, tmp_path)
    assert ["Messages by channel and status", "All channels", "All statuses", "90"] in rows
    assert page.console_errors == []


@ONCE
def test_what_was_sent_on_a_desktop(
    app,
    browser,
    request,
    live_server,
    make_officer,
    ledger,  # noqa: F811
    tmp_path,
):
    context, page = _new_page(
        browser, request, live_server, viewport={"width": 1440, "height": 900}
    )
    try:
        sign_in_officer(app, page, make_officer(role="analyst", email="sent.desk@police.example"))
        page.goto("/analysts/sent?from=2026-03-31&to=2026-01-01")
        expect(page.get_by_role("alert")).to_contain_text("is before the start date")
        assert axe_violations(page) == []
        page.get_by_role("link", name="Last year").click()
        expect(page.locator("#period")).to_contain_text("1 January 2025 to 31 December 2025")
        expect(page.locator("#period")).to_contain_text("1 alert released")
        choose_q1(page)
        assert sideways(page) <= 0
        assert cut_off(page) == []
        assert words_broken(page) == []
        assert axe_violations(page) == []
        rows = download(page, tmp_path)
        shown = page.locator('#cost tr[data-key="sms"] td[data-label="Cost"]').inner_text()
        # Two texts cancelled, hidden: the parts and cost are rounded, said so.
        assert shown == "about £2.80"
        assert [
            "Text parts, call minutes, e-mails and cost",
            "Text (SMS)",
            "Cost",
            "about £2.80",
        ] in rows
        assert page.console_errors == []
    finally:
        context.close()
