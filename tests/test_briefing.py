"""The briefing map: one HTML file that opens offline. Leaflet inlined from our own
vendored copy (no CDN, no tile server), the reach choropleth with only the figures the
reach page may show, the legend, the population year and the attribution; who may
download it, and that each download is audited."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent
from app.services.briefing import briefing_geojson, build_briefing_map
from app.services.penetration import penetration_report

FORCE = "E23000036"
ATTRIBUTION = (
    "Source: Office for National Statistics licensed under the Open Government Licence v.3.0"
)


@pytest.fixture
def residents(residents_in_three_wards):
    """7, 12 and 2 confirmed residents in three wards of one district."""
    return residents_in_three_wards


def embedded_wards(page: str) -> dict:
    """The ward features folium wrote into the page (the call that adds them)."""
    for match in re.finditer(r"geo_json_\w+_add\((\{.*?\})\);\n", page, re.DOTALL):
        data = json.loads(match.group(1))
        features = data.get("features") or []
        if features and "rate" in features[0]["properties"]:
            return data
    raise AssertionError("no ward features in the briefing")


def test_briefing_is_self_contained_with_no_external_script_style_or_tiles(app_ctx, residents):
    page = build_briefing_map(FORCE).html

    # Nothing loaded from anywhere: no script or stylesheet by URL, no CSS import or
    # url() to a server, no tile layer at all (so never OpenStreetMap's tiles).
    assert re.findall(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE) == []
    assert re.findall(r"<link\b[^>]*>", page, re.IGNORECASE) == []
    assert re.findall(r"@import", page) == []
    assert re.findall(r"url\(\s*['\"]?(?!data:|#)[^)]*\)", page) == []
    assert "cdn.jsdelivr.net" not in page and "cdnjs" not in page and "bootstrapcdn" not in page
    assert "L.tileLayer" not in page and "tile.openstreetmap" not in page
    # Leaflet itself is inlined from static/vendor/leaflet (1.9.4), with its styles.
    assert 't.version="1.9.4"' in page
    assert ".leaflet-pane" in page
    assert '<html lang="en">' in page


def test_briefing_carries_the_suppressed_figures_only(app_ctx, residents):
    seven, twelve, two = residents
    report = penetration_report(FORCE)
    page = build_briefing_map(FORCE).html
    wards = {f["id"]: f["properties"] for f in embedded_wards(page)["features"]}

    assert len(wards) == 185
    expected = {r.code: r for r in report.wards}
    for code, props in wards.items():
        assert props["residents"] == expected[code].residents_label
        assert props["rate"] == expected[code].rate_label
        assert props["colour"] == expected[code].colour
        assert set(props) == {"name", "district", "residents", "rate", "status", "colour"}
    # The ward of 2 reads "fewer than 5", with no rate; the others as the reach page
    # shows them (secondary suppression decided there).
    assert wards[two]["residents"] == "fewer than 5"
    assert wards[two]["rate"].startswith("not shown")
    assert wards[seven]["residents"] in ("7", "fewer than 5")
    assert wards[twelve]["residents"] in ("12", "fewer than 5")
    # No count anywhere in the features, only words; no hidden count at all.
    for props in wards.values():
        assert not any(isinstance(v, int | float) for v in props.values())
    geojson = briefing_geojson(FORCE)
    assert '"2"' not in json.dumps([f["properties"] for f in geojson["features"]])


def test_briefing_states_legend_population_year_and_attribution(app_ctx, residents):
    briefing = build_briefing_map(FORCE)
    page = briefing.html
    legend = re.search(r'<section id="briefing-legend".*?</section>', page, re.DOTALL).group(0)
    report = penetration_report(FORCE)
    for band in report.legend:
        assert band.label in legend
    assert "not shown (fewer than 5 residents, or hidden to protect one)" in legend
    assert "mid-2022" in legend
    assert ATTRIBUTION in legend
    assert "Contains OS data © Crown copyright and database right 2025" in legend
    assert "Boundaries: Contains OS data © Crown copyright and database right 2023" in legend
    # The map's own attribution line says the same, in place of Leaflet's link.
    assert "attributionControl.setPrefix(false)" in page
    assert briefing.filename.startswith("briefing-map-") and briefing.filename.endswith(".html")


@pytest.mark.parametrize(
    ("role", "status"),
    [("analyst", 200), ("supervisor", 200), ("admin", 200), ("officer", 403)],
)
def test_who_may_download_the_briefing_map_and_it_is_audited(client, sign_in, role, status):
    officer = sign_in(role)
    answer = client.get("/analysts/briefing-map.html")
    assert answer.status_code == status
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "briefing_map.downloaded")
    ).all()
    if status == 200:
        assert answer.headers["Content-Disposition"].startswith(
            'attachment; filename="briefing-map-'
        )
        assert answer.mimetype == "text/html"
        assert "L.map(" in answer.text or "L.map(\n" in answer.text
        assert [e.actor_id for e in events] == [officer.id]
    else:
        assert events == []


def test_the_briefing_map_from_a_welsh_page_is_in_english_throughout(client, sign_in):
    """Found by an outside check: downloaded from a Welsh page, its legend and wards'
    figures were Welsh ("llai na 5") in a file marked lang="en"."""
    sign_in("analyst")
    client.get("/analysts/density?lang=cy")
    answer = client.get("/analysts/briefing-map.html")
    assert answer.status_code == 200 and '<html lang="en">' in answer.text
    assert "llai na" not in answer.text and "fewer than" in answer.text


def test_signed_out_is_sent_to_sign_in(client):
    answer = client.get("/analysts/briefing-map.html")
    assert answer.status_code in (302, 401)
