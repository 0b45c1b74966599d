"""An analyst downloads the briefing map and opens the file from disk with the network
cut off: Leaflet draws the wards from the file alone, with the legend, the population
year and the attribution."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.axe import SERIOUS

pytestmark = pytest.mark.browser


@pytest.fixture
def residents(residents_in_three_wards):
    return residents_in_three_wards


def test_briefing_map_opens_offline_from_disk(page, sign_in_page, browser, tmp_path, residents):
    sign_in_page("analyst")
    expect(page).to_have_url(re.compile(r"/analysts/density$"))
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download briefing map").click()
    download = download_info.value
    assert re.fullmatch(r"briefing-map-\d{4}-\d{2}-\d{2}\.html", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)

    # A fresh browser with no server and no network: any http(s) request is refused
    # (and counted), only the file itself may load.
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    asked = []

    def refuse(route):
        if route.request.url.startswith(("http://", "https://")):
            asked.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", refuse)
    offline = context.new_page()
    errors = []
    offline.on("pageerror", lambda e: errors.append(str(e)))
    try:
        offline.goto(saved.as_uri())
        expect(offline.locator(".leaflet-map-pane")).to_have_count(1)
        expect(offline.locator(".leaflet-overlay-pane svg")).to_have_count(1)
        # 185 wards, and the force's outline (not interactive).
        expect(offline.locator(".leaflet-overlay-pane path.leaflet-interactive")).to_have_count(185)
        expect(offline.locator(".leaflet-tile")).to_have_count(0)
        legend = offline.locator("#briefing-legend")
        expect(legend).to_be_visible()
        expect(legend).to_contain_text("Per 1,000 adults (population mid-2022)")
        expect(legend).to_contain_text(
            "not shown (fewer than 5 residents, or hidden to protect one)"
        )
        expect(legend).to_contain_text(
            "Source: Office for National Statistics licensed under the Open Government"
            " Licence v.3.0"
        )
        expect(offline.locator(".leaflet-control-attribution")).to_contain_text("mid-2022")
        # Leaflet's own styles are in force (inlined): the map pane is positioned.
        assert (
            offline.evaluate("getComputedStyle(document.querySelector('.leaflet-pane')).position")
            == "absolute"
        )
        assert asked == []
        assert errors == []
        assert axe_violations_offline(offline) == []
    finally:
        context.close()


def axe_violations_offline(page) -> list[str]:
    """Serious and critical axe-core violations; axe-core is read from our vendored copy
    on disk and added inline, as the page is offline (tests/browser/axe.py fetches it
    from the server)."""
    script = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe-core" / "axe.min.js"
    page.add_script_tag(content=script.read_text(encoding="utf-8"))
    found = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ['violations']});
            return result.violations.map(v => ({id: v.id, impact: v.impact,
                nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}));
        }"""
    )
    return [f"{v['id']} ({v['impact']}): {v['nodes']}" for v in found if v["impact"] in SERIOUS]
