"""The analyst's screens: where residents are, never who."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template, request

from app.auth import role_required
from app.dao import places as places_dao
from app.services.density import DENSITY_CELL_SIZES_M, resident_density

bp = Blueprint("analysts", __name__)


@bp.route("/density")
@role_required("analyst", "supervisor")
def density():
    force = places_dao.find_force(current_app.config["FORCE_CODE"])
    bounds = places_dao.find_force_bounds_wgs84(force) if force else None
    return render_template(
        "analysts/density.html",
        bounds=bounds,
        cell_sizes=DENSITY_CELL_SIZES_M,
        default_cell=current_app.config["DENSITY_CELL_M"],
        min_count=current_app.config["DENSITY_MIN_COUNT"],
    )


@bp.route("/density.geojson")
@role_required("analyst", "supervisor")
def density_geojson():
    cell_m = request.args.get("cell_m", type=int) or current_app.config["DENSITY_CELL_M"]
    if cell_m not in DENSITY_CELL_SIZES_M:
        sizes = ", ".join(str(s) for s in DENSITY_CELL_SIZES_M)
        return jsonify(error=f"cell_m must be one of {sizes} metres."), 400
    return jsonify(resident_density(cell_m, current_app.config["DENSITY_MIN_COUNT"]))
