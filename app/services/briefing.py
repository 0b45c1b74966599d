"""The briefing map: reach against population as one self-contained HTML file, for
analysts to hand to senior officers and partners.

Built with folium (pinned 0.20.0). folium links Leaflet, jQuery, Bootstrap and Font
Awesome from CDNs by default; here none of them is linked: Leaflet's code and styles
are inlined from our own static/vendor/leaflet (with its few images as data: URIs),
and the file uses no tile layer (no OpenStreetMap or any other tile server), so it
opens offline, from a USB stick or an e-mail attachment. What it carries is only what
the reach page may show: each ward's suppressed count and rate as labels (nothing
under 5, secondary suppression as app/services/suppression.py decides), the legend,
the population year and the attribution the data licences require.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import folium
from branca.element import Element, MacroElement
from flask import current_app
from jinja2 import Template

from app.dao import places as places_dao
from app.dao.audit import create_audit_event
from app.i18n import UK_TIME
from app.services.penetration import penetration_geojson, penetration_report
from app.services.transaction import read_only, transaction

FORCE_OUTLINE_COLOUR = "#1d4ed8"
# Links and scripts the inlined assets or folium may name: none may load anything.
_EXTERNAL = re.compile(
    r"<script[^>]+src\s*=|<link[^>]+href\s*=|@import|url\(\s*['\"]?https?:", re.IGNORECASE
)


@dataclass(frozen=True)
class Briefing:
    filename: str
    html: str


def _leaflet_assets() -> tuple[str, str]:
    """Leaflet's JS and CSS from our vendored copy, the CSS's images inlined."""
    folder = Path(current_app.static_folder) / "vendor" / "leaflet"
    script = (folder / "leaflet.js").read_text(encoding="utf-8")
    script = re.sub(r"//# sourceMappingURL=\S+\s*$", "", script)
    css = (folder / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match) -> str:
        image = folder / "images" / match.group(1)
        data = base64.b64encode(image.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{data})"

    css = re.sub(r"url\(images/([\w.-]+\.png)\)", inline, css)
    # Inside a <script> element, "</" would end it early.
    return script.replace("</", "<\\/"), css


class _MapSettings(MacroElement):
    """Runs after the map is made: our attribution instead of Leaflet's link, and the
    view fitted to the force."""

    _template = Template(
        """{% macro script(this, kwargs) %}
        {% set map = this._parent.get_name() %}
        {{ map }}.attributionControl.setPrefix(false);
        {{ map }}.attributionControl.addAttribution({{ this.attribution|tojson }});
        {% if this.bounds %}{{ map }}.fitBounds({{ this.bounds|tojson }});{% endif %}
        {% endmacro %}"""
    )

    def __init__(self, attribution: str, bounds):
        super().__init__()
        self._name = "MapSettings"
        self.attribution = attribution
        self.bounds = bounds


def _legend_html(report, year_label: str, made_on: date, attribution: list[str]) -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{html.escape(band.colour)}"></span>'
        f"{html.escape(band.label)}</li>"
        for band in report.legend
    )
    credits = "".join(f"<li>{html.escape(line)}.</li>" for line in attribution)
    force = html.escape(report.force_name or "the force")
    counted = (
        f" from residents counted {report.counted_at.astimezone(UK_TIME):%d %B %Y at %H:%M}"
        if report.counted_at
        else ""
    )
    return f"""
<section id="briefing-legend" class="briefing-legend" aria-labelledby="briefing-title">
  <h1 id="briefing-title">Reach against population: {force}</h1>
  <p class="lede">Confirmed residents per 1,000 adults (18+), by ward{year_label}.
  Palest: where a recruitment campaign should go.</p>
  <h2>Per 1,000 adults{year_label}</h2>
  <ul class="legend-list" id="legend">{items}</ul>
  <p class="note">No figure under {report.k} is shown; a few larger ones are hidden too, so
  that none can be worked out by subtraction. Made {made_on:%d %B %Y}{counted}. For use inside the
  force and with partners.</p>
  <ul class="credits" id="attribution">{credits}</ul>
</section>"""


_STYLE = """
html, body { font-family: Arial, Helvetica, sans-serif; color: #0b0c0c; }
.briefing-legend { position: absolute; z-index: 1000; left: 0.5rem; bottom: 1.5rem;
  max-width: min(24rem, calc(100% - 1rem)); max-height: 60%; overflow: auto;
  background: #ffffff; border: 1px solid #505a5f; padding: 0.5rem 0.75rem; font-size: 0.85rem; }
.briefing-legend h1 { font-size: 1.05rem; margin: 0 0 0.25rem; }
.briefing-legend h2 { font-size: 0.95rem; margin: 0.5rem 0 0.25rem; }
.briefing-legend p { margin: 0.25rem 0; }
.briefing-legend ul { list-style: none; padding: 0; margin: 0; }
.briefing-legend li { display: flex; align-items: center; gap: 0.4rem; margin: 0.1rem 0; }
.briefing-legend .swatch { display: inline-block; width: 1rem; height: 1rem;
  border: 1px solid #505a5f; flex: none; }
.briefing-legend .credits { font-size: 0.75rem; color: #505a5f; margin-top: 0.25rem; }
"""


def briefing_geojson(force_code: str) -> dict:
    """The wards with only their labels (suppressed counts and rates as text) and
    colour: the file carries nothing the reach page would not show."""
    data = penetration_geojson(force_code)
    features = []
    for feature in data["features"]:
        p = feature["properties"]
        features.append(
            {
                "type": "Feature",
                "id": p["code"],
                "properties": {
                    "name": p["name"],
                    "district": p["district"] or "",
                    "residents": p["residents_label"],
                    "rate": p["rate_label"],
                    "status": p["status"],
                    "colour": p["colour"],
                },
                "geometry": feature["geometry"],
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _add_wards(fmap, wards: dict, rate_alias: str) -> None:
    folium.GeoJson(
        wards,
        name="Wards",
        style_function=lambda f: {
            "fillColor": f["properties"]["colour"],
            "color": "#374151",
            "weight": 0.75,
            "fillOpacity": 0.2 if f["properties"]["status"] == "no_population" else 0.8,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "district", "residents", "rate"],
            aliases=["Ward", "District", "Confirmed residents", rate_alias],
        ),
    ).add_to(fmap)


_VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'


def build_briefing_map(force_code: str, *, today: date | None = None) -> Briefing:
    """The self-contained HTML file (see the module's docstring)."""
    from app import DATA_ATTRIBUTION  # the licences' lines, as on every map page

    today = today or date.today()
    report = penetration_report(force_code)
    wards = briefing_geojson(force_code)
    with read_only():
        force_outline = [
            outline
            for outline in places_dao.find_places_geojson("force", 40)
            if outline["code"] == force_code
        ]
    year_label = f" (population mid-{report.year})" if report.year else ""
    attribution = [*DATA_ATTRIBUTION]
    if report.attribution.rstrip(".") not in attribution:
        attribution.insert(0, report.attribution.rstrip("."))
    if report.year:
        attribution.insert(0, f"Population: ONS mid-{report.year} ward population estimates")

    figure = folium.Figure(title=f"Reach against population: {report.force_name or ''}")
    fmap = folium.Map(location=None, tiles=None, zoom_start=9, control_scale=True)
    fmap.default_js = []  # no CDN: Leaflet is inlined below, nothing else is needed
    fmap.default_css = []
    figure.add_child(fmap)
    script, css = _leaflet_assets()
    figure.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css")
    figure.header.add_child(Element(f"<style>{_STYLE}</style>"), name="briefing_css")
    figure.header.add_child(Element(f"<script>{script}</script>"), name="leaflet")

    rate_alias = f"Per 1,000 adults{year_label}"
    # A force with no wards loaded gets its outline alone (a tooltip needs features).
    if wards["features"]:
        _add_wards(fmap, wards, rate_alias)
    for outline in force_outline:
        folium.GeoJson(
            {"type": "Feature", "properties": {}, "geometry": json.loads(outline["geometry"])},
            name="Force",
            style_function=lambda f: {"color": FORCE_OUTLINE_COLOUR, "weight": 3, "fill": False},
            interactive=False,
        ).add_to(fmap)
    fmap.add_child(_MapSettings("; ".join(attribution), report.bounds))
    figure.html.add_child(Element(_legend_html(report, year_label, today, attribution)))

    page = figure.render()
    page = page.replace("<html>", '<html lang="en">', 1)
    # Folium's page forbids zooming it and has no main landmark (axe: meta-viewport,
    # landmark-one-main, region): a phone may zoom, and the map and its key are the
    # page's main content.
    page, zoom = re.subn(r'<meta name="viewport"[^>]*>', _VIEWPORT, page, count=1)
    page, body = re.subn(
        r"<body>(.*)</body>", r"<body><main>\1</main></body>", page, count=1, flags=re.S
    )
    if not (zoom and body):
        raise RuntimeError("The briefing map's page is not laid out as expected")
    if _EXTERNAL.search(page):
        raise RuntimeError("The briefing map would load something from outside the file")
    return Briefing(filename=f"briefing-map-{today:%Y-%m-%d}.html", html=page)


def download_briefing_map(force_code: str, *, officer_id: int) -> Briefing:
    """The briefing map, with an audit event saying who took one."""
    briefing = build_briefing_map(force_code)
    with transaction():
        create_audit_event(
            "briefing_map.downloaded",
            actor_id=officer_id,
            subject_type="report",
            subject_id="penetration",
            details={"filename": briefing.filename, "bytes": len(briefing.html)},
        )
    return briefing
