"""The analyst's screens: where residents are, never who."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_login import current_user

from app.auth import role_required
from app.dao import places as places_dao
from app.services import authorisation, forces
from app.services.density import (
    CHANNEL_NAMES,
    DensityFilterError,
    density_features,
    density_map,
)
from app.services.penetration import (
    ORDERS,
    SORTS,
    penetration_geojson,
    penetration_report,
    sorted_report,
)
from app.services.postcode_review import MOVED_THRESHOLD_M, find_postcode_reviews

bp = Blueprint("analysts", __name__)


@bp.route("/density")
@role_required("analyst", "supervisor")
def density():
    """Residents per grid square, for everyone or one group or channel (?group= or
    ?channel=), with the legend and the grey squares' total worked out on the server."""
    force = forces.area_of(forces.current_force())
    bounds = places_dao.find_force_bounds_wgs84(force) if force else None
    cell_m = current_app.config["DENSITY_CELL_M"]
    min_count = current_app.config["DENSITY_MIN_COUNT"]
    error = None
    try:
        result = density_map(
            cell_m, min_count, group=request.args.get("group"), channel=request.args.get("channel")
        )
    except DensityFilterError as problem:
        error = str(problem)
        result = density_map(cell_m, min_count)
    page = render_template(
        "analysts/density.html",
        bounds=bounds,
        cell_m=cell_m,
        min_count=min_count,
        density=result,
        error=error,
        channel_names=CHANNEL_NAMES,
    )
    return (page, 400) if error else page


@bp.route("/density.geojson")
@role_required("analyst", "supervisor")
def density_geojson():
    # One cell size per installation: with two nested grids, a hidden small cell's
    # count could be worked out by subtracting the visible ones from a larger cell.
    try:
        result = density_map(
            current_app.config["DENSITY_CELL_M"],
            current_app.config["DENSITY_MIN_COUNT"],
            group=request.args.get("group"),
            channel=request.args.get("channel"),
        )
    except DensityFilterError as problem:
        return jsonify(error=str(problem), reason="invalid_filter"), 400
    return jsonify(density_features(result) | {"licences": _licences()})


@bp.route("/postcode-review")
@role_required(*authorisation.roles_for("admin.postcode_review"))
def postcode_review():
    """Postcodes residents registered with that the directory has since ended or moved:
    unit postcodes, where a count of one to four is a household or two, so for the
    administrators who contact residents (analysts saw it, found by an outside probe),
    and each look recorded."""
    return render_template(
        "analysts/postcode_review.html",
        reviews=find_postcode_reviews(current_user),
        moved_threshold_m=MOVED_THRESHOLD_M,
    )


@bp.route("/penetration")
@role_required("analyst", "supervisor")
def penetration():
    """Confirmed residents per 1,000 adults by ward and district, lowest first; sorted
    on the server (?sort=rate|residents|adults|name|district&order=asc|desc)."""
    sort = request.args.get("sort", "rate")
    order = request.args.get("order", "asc")
    sort = sort if sort in SORTS else "rate"
    order = order if order in ORDERS else "asc"
    code = forces.current_force().code
    report = sorted_report(penetration_report(code), sort, order)
    # The wards of one district (?district=code), or the first WARDS_SHOWN of them all
    # (?wards=all: every one): 185 wards, each a block on a phone, made the page
    # 38,852 px tall (an outside check). An unknown district is said, and every
    # district's first wards shown.
    districts = {row.code: row for row in report.districts}
    asked = request.args.get("district", "").strip().upper()  # "e06000023" too
    district = districts.get(asked)
    every = request.args.get("wards") == "all"
    wards = [row for row in report.wards if district is None or row.district_code == district.code]
    shown = wards if district or every else wards[:WARDS_SHOWN]
    return render_template(
        "analysts/penetration.html",
        report=report,
        sort=sort,
        order=order,
        bounds=report.bounds,
        district=district,
        unknown_district=bool(asked) and district is None,
        every=every,
        wards=shown,
        ward_count=len(wards),
    )


# Wards shown at first, lowest rate first as the page opens: where a recruitment
# campaign should go.
WARDS_SHOWN = 25


@bp.route("/penetration.geojson")
@role_required("analyst", "supervisor")
def penetration_map():
    """The wards with their suppressed figures only, for the choropleth."""
    return jsonify(penetration_geojson(forces.current_force().code) | {"licences": _licences()})


def _licences() -> list[str]:
    """The data licences' lines, in what is downloaded as on the pages: the squares are
    placed by postcodes, the wards drawn from OS boundaries (an outside check)."""
    from app import DATA_ATTRIBUTION

    return list(DATA_ATTRIBUTION)


from app.analysts.briefing import register_briefing  # noqa: E402
from app.analysts.reports import register_reports  # noqa: E402
from app.analysts.timeline import register_timeline  # noqa: E402

register_timeline(bp)
register_briefing(bp)
register_reports(bp)
