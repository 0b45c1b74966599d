"""JSON for the maps: postcodes and boundaries (open data, no personal data)."""

from __future__ import annotations

import json

from flask import Blueprint, abort, jsonify
from sqlalchemy import func, select

from app.dao import places as places_dao
from app.extensions import csrf, db
from app.models import Postcode
from app.services.postcode_check import PostcodeRefused, check_postcode

bp = Blueprint("api", __name__)
csrf.exempt(bp)  # read-only GETs

PLACE_KINDS = {"force": 50.0, "district": 50.0, "ward": 20.0}


@bp.route("/postcodes/<path:text>")
def postcode(text: str):
    """One postcode inside the force area, with its point in WGS84."""
    try:
        checked = check_postcode(text)
    except PostcodeRefused as refusal:
        return jsonify(error=str(refusal)), 404
    lon, lat = db.session.execute(
        select(func.ST_X(Postcode.location_wgs84), func.ST_Y(Postcode.location_wgs84)).where(
            Postcode.postcode == checked.postcode.postcode
        )
    ).one()
    return jsonify(
        postcode=checked.postcode.display,
        longitude=lon,
        latitude=lat,
        places=checked.place_names,
        description=checked.description,
    )


@bp.route("/places/<kind>.geojson")
def places(kind: str):
    """Boundaries of one kind, simplified for the map."""
    if kind not in PLACE_KINDS:
        abort(404)
    rows = places_dao.find_places_geojson(kind, PLACE_KINDS[kind])
    response = jsonify(
        type="FeatureCollection",
        features=[
            {
                "type": "Feature",
                "properties": {"code": r["code"], "name": r["name"]},
                "geometry": json.loads(r["geometry"]),
            }
            for r in rows
        ],
    )
    response.cache_control.max_age = 3600
    return response
