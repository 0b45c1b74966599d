"""The vector base map: one PMTiles file (`flask geo build-basemap`), served as static
bytes with HTTP range requests, and what the map pages need to know to draw it.

The file holds open data only (boundaries, postcode centroids, the force's own
layers), never residents, so browsers may keep it: unlike every other answer of ours.
Staff and public pages alike may draw it.
"""

from __future__ import annotations

import os

from flask import Blueprint, abort, current_app, request, send_file, url_for
from werkzeug.http import parse_range_header

from geo.basemap import describe

bp = Blueprint("basemap", __name__)

# A URL carrying the file's version never changes content, so a browser keeps it a
# year; without it (or with an old one) it checks the ETag each time.
VERSIONED_MAX_AGE_S = 365 * 24 * 3600

_described: dict[tuple, dict | None] = {}


def _file() -> tuple[str, os.stat_result] | None:
    path = current_app.config.get("BASEMAP_PATH")
    if not path:
        return None
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (path, found) if found.st_size else None


def _version(found: os.stat_result) -> str:
    return f"{found.st_mtime_ns:x}-{found.st_size:x}"


@bp.route("/basemap/force.pmtiles")
def tiles():
    """The whole file, or the byte ranges asked for (206), with an ETag."""
    file = _file()
    if file is None:
        abort(404)
    path, found = file
    asked = request.headers.get("Range")
    if asked is not None and getattr(parse_range_header(asked), "units", None) != "bytes":
        # A Range we cannot read (another unit, or none of its syntax) is ignored, as
        # HTTP asks (RFC 9110 14.2): the whole file. Werkzeug answered 416.
        request.environ.pop("HTTP_RANGE", None)
    response = send_file(
        path, mimetype="application/octet-stream", conditional=True, etag=True, max_age=None
    )
    if request.args.get("v") == _version(found):
        response.headers["Cache-Control"] = f"public, max-age={VERSIONED_MAX_AGE_S}, immutable"
    else:
        response.headers["Cache-Control"] = "no-cache"
    return response


def base_map() -> dict | None:
    """The vector base map for the page's map config, or None: when raster tiles are
    configured (they win) or no readable file is built."""
    if current_app.config.get("MAP_TILE_URL"):
        return None
    file = _file()
    if file is None:
        return None
    path, found = file
    key = (path, found.st_mtime_ns, found.st_size)
    if key not in _described:
        _described.clear()  # one file at a time; a rebuilt file replaces the old entry
        _described[key] = describe(path)
    described = _described[key]
    if described is None:
        return None
    metadata = described["metadata"]
    return {
        "url": url_for("basemap.tiles", v=_version(found)),
        "minDataZoom": described["min_zoom"],
        "maxDataZoom": described["max_zoom"],
        # What the force's own layers add to the data every map page already credits.
        "attribution": metadata.get("added_attribution", ""),
        "layers": [
            {"name": layer["id"], "geometry": layer.get("geometry", "mixed")}
            for layer in metadata.get("vector_layers", [])
        ],
    }


@bp.app_context_processor
def base_map_for_templates():
    return {"base_map": base_map}
