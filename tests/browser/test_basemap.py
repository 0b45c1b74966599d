"""The vector base map in Chromium on a phone: built by `flask geo build-basemap` from
the shipped data into a tmp path, served by us with range requests, drawn on canvas
tiles with its labels, and nothing fetched from anywhere else."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.axe import axe_violations

pytestmark = pytest.mark.browser

# protomaps-leaflet draws each tile on a canvas: count the pixels that are not the
# background colour (#f4f2ee) nor transparent, in every loaded tile.
DRAWN_PIXELS = """() => {
    const tiles = document.querySelectorAll('#map canvas.leaflet-tile-loaded');
    let drawn = 0;
    for (const tile of tiles) {
        const data = tile.getContext('2d').getImageData(0, 0, tile.width, tile.height).data;
        for (let i = 0; i < data.length; i += 4) {
            const background = data[i] === 0xf4 && data[i + 1] === 0xf2 && data[i + 2] === 0xee;
            if (data[i + 3] > 0 && !background) { drawn++; }
        }
    }
    return {tiles: tiles.length, drawn: drawn};
}"""
# The labels protomaps-leaflet placed at the current zoom (its label index).
LABELS_PLACED = """() => {
    const layer = CA.baseLayer;
    const index = layer.labelers.getIndex(layer.lastRequestedZ);
    return index ? index.tree.all().length : 0;
}"""


@pytest.fixture(scope="module")
def base_map_file(app, tmp_path_factory):
    path = tmp_path_factory.mktemp("basemap") / "force.pmtiles"
    # Up to data zoom 9 is all a phone shows of the whole force (display zoom 7-10):
    # a few seconds to build. The full build (to 14) is the same code.
    result = app.test_cli_runner().invoke(
        args=["geo", "build-basemap", "--out", str(path), "--max-zoom", "9"]
    )
    assert result.exit_code == 0, result.output
    return path


def test_officer_map_draws_the_base_map_from_our_server_with_labels(
    page, sign_in_page, live_server, app, monkeypatch, base_map_file
):
    monkeypatch.setitem(app.config, "BASEMAP_PATH", str(base_map_file))
    outside, base_map_statuses, ward_outlines = [], [], []

    def on_request(request):
        if not request.url.startswith(live_server):
            outside.append(request.url)
        if "/api/places/ward.geojson" in request.url:
            ward_outlines.append(request.url)

    def on_response(response):
        if "/basemap/force.pmtiles" in response.url:
            base_map_statuses.append((response.status, response.request.headers.get("range")))

    page.on("request", on_request)
    page.on("response", on_response)
    sign_in_page("officer")
    expect(page).to_have_url(re.compile(r"/officers/$"))

    assert page.evaluate("CA.baseMapKind") == "vector"
    page.wait_for_function(
        "() => document.querySelectorAll('#map canvas.leaflet-tile-loaded').length > 0"
    )
    page.wait_for_function(f"() => ({LABELS_PLACED})() > 0")
    drawn = page.evaluate(DRAWN_PIXELS)
    assert drawn["tiles"] > 0
    assert drawn["drawn"] > 1000, drawn  # outlines, shading and names, not a blank

    assert base_map_statuses, "the base map was not read from our server"
    assert all(status in (200, 206) for status, _ in base_map_statuses), base_map_statuses
    assert all(ranges and ranges.startswith("bytes=") for _, ranges in base_map_statuses)
    assert ward_outlines == []  # the base map draws the wards itself
    # The force's edge is still drawn over the base map.
    expect(page.locator("#map .leaflet-overlay-pane path").first).to_be_visible()
    # What the map credits: the data's owners, not the renderer's default (OpenStreetMap).
    attribution = page.locator(".leaflet-control-attribution")
    expect(attribution).to_contain_text("Royal Mail copyright")  # not "Crown" alone
    expect(attribution).not_to_contain_text("OpenStreetMap")
    # Every credit in it marked English (a review: only one of the kinds was).
    unmarked = page.evaluate(
        """() => { const control = document.querySelector('.leaflet-control-attribution');
                   const copy = control.cloneNode(true);
                   copy.querySelectorAll('[lang="en-GB"]').forEach(e => e.remove());
                   return copy.textContent.replace(/[|\\s]/g, ''); }"""
    )
    assert unmarked == "", unmarked
    assert outside == []
    assert axe_violations(page) == []
    assert page.console_errors == []
