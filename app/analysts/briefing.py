"""The briefing map download: one self-contained HTML file of reach against
population, for analysts, supervisors and admins. Routes on the analysts' blueprint,
added by register_briefing (called from the package, so that this module does not
import the package back)."""

from __future__ import annotations

from flask import Blueprint, Response
from flask_login import current_user

from app.auth import role_required
from app.i18n import in_language
from app.services import forces
from app.services.briefing import download_briefing_map
from app.web import attachment


def briefing_map():
    """Download the briefing map (the penetration choropleth, legend, population year
    and attribution, Leaflet inlined: it opens offline), in English. Each download is
    audited."""
    # In English throughout, as its page (lang="en") is: from a Welsh page its legend
    # and wards' figures were Welsh in an English file (an outside check).
    with in_language("en"):
        briefing = download_briefing_map(forces.current_force().code, officer_id=current_user.id)
    return Response(
        briefing.html,
        mimetype="text/html",
        headers={
            "Content-Disposition": attachment(briefing.filename),
            "Cache-Control": "no-store",
        },
    )


def register_briefing(bp: Blueprint) -> None:
    bp.add_url_rule(
        "/briefing-map.html", "briefing_map", role_required("analyst", "supervisor")(briefing_map)
    )
