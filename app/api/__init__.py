"""JSON API: postcodes and places (open data, no personal data).

Errors are JSON {"error": message, "reason": code} with the matching 4xx status. For a
postcode: invalid (400: empty, not a postcode, or holding a control character such as a
line break), outside_great_britain (404: a Northern Ireland, Channel Islands or Isle of
Man postcode; the data covers Great Britain only, and the message names the police
service there), unknown (404), terminated (410), no_location (422, where a point is
needed). A postcode's "in_force" is null when nothing in the data says where it is.
A street or place name search: too_short (400: under 2 characters), invalid (400: a
control character, or a limit out of range).
"""

from __future__ import annotations

import json

from flask import Blueprint, abort, jsonify, request
from werkzeug.routing import PathConverter

from app.dao import places as places_dao
from app.dao import postcodes as postcodes_dao
from app.extensions import csrf, db
from app.services import names as names_service
from app.services import places as places_service
from app.services.postcode_check import (
    PostcodeRefused,
    check_postcode,
    no_location_message,
    outside_great_britain,
    postcode_key,
    refuse_control_characters,
    terminated_refusal,
)
from app.services.text import TextRefused, checked_text, whole_number, without_direction_marks
from geo import postcodes

bp = Blueprint("api", __name__)
# Read-only lookups: no session state changes, so no CSRF token is needed, even for
# the bulk lookup's POST (it carries a list too long for a URL).
csrf.exempt(bp)


class TypedConverter(PathConverter):
    """Text as typed into a URL. Like `path`, but a line break matches too: otherwise
    routing would answer a bare 404 before the view could say what is wrong."""

    regex = r"[^/][\s\S]*?"


# Deferred functions run in order, so the converter is there before the routes below.
bp.record_once(lambda state: state.app.url_map.converters.setdefault("typed", TypedConverter))

PLACE_KINDS = {"force": 50.0, "district": 50.0, "ward": 20.0}
STATUS_FOR_REASON = {
    "invalid": 400,
    "outside_great_britain": 404,
    "unknown": 404,
    "terminated": 410,
    "no_location": 422,
}


def error(status: int, reason: str, message: str):
    return jsonify(error=message, reason=reason), status


def refused(refusal: PostcodeRefused):
    return error(STATUS_FOR_REASON.get(refusal.reason, 422), refusal.reason, str(refusal))


def _terminated(refusal: PostcodeRefused, record: postcodes_dao.PostcodeRecord | None) -> dict:
    """A terminated postcode's refusal, and where it was, as postcodes.io's terminated
    postcodes say: an officer's old record may carry one, and the map can still centre
    on it."""
    body = {"error": str(refusal), "reason": refusal.reason}
    if record is not None:
        record_json = record.as_json()
        body["terminated"] = {
            key: record_json[key] for key in ("postcode", "terminated_on", "longitude", "latitude")
        }
    return body


def _record_json(record: postcodes_dao.PostcodeRecord, checked=None) -> dict:
    body = record.as_json()
    if checked is not None:
        body["in_force"] = checked.in_force
        body["places"] = checked.place_names
        body["description"] = checked.description
    return body


@bp.route("/postcodes/", defaults={"text": ""})
@bp.route("/postcodes/<typed:text>")
def postcode(text: str):
    """One postcode: its point (WGS84 and BNG), codes, places, and whether it is ours."""
    try:
        checked = check_postcode(text, require_in_force=False)
    except PostcodeRefused as refusal:
        if refusal.reason == "terminated":
            record = postcodes_dao.by_postcode(db.session, text)
            return jsonify(_terminated(refusal, record)), STATUS_FOR_REASON["terminated"]
        return refused(refusal)
    record = postcodes_dao.by_postcode(db.session, checked.postcode.postcode)
    return jsonify(_record_json(record, checked))


@bp.route("/postcode", methods=["POST"])
def posted_postcode():
    """One postcode sent as {"postcode": "..."}: the same answer as GET
    /api/postcodes/<postcode>, with the postcode kept out of the address (an officer's
    map looks up where an incident is, or a victim lives: an outside probe)."""
    data = request.get_json(silent=True)
    typed = data.get("postcode") if isinstance(data, dict) else None
    if not isinstance(typed, str):
        return error(400, "invalid", 'Send {"postcode": "BS1 6AD"} as JSON.')
    return postcode(typed)


@bp.route("/postcodes", methods=["POST"])
def bulk_postcodes():
    """Up to 100 postcodes: {"postcodes": [...]} -> {"results": [{query, result}]}.

    A query with no result also has the "error" and "reason" a single lookup would
    give, where they need no lookup (invalid, outside_great_britain), else unknown;
    a terminated postcode is answered as the single lookup answers it."""
    data = request.get_json(silent=True)
    typed = data.get("postcodes") if isinstance(data, dict) else None
    if not isinstance(typed, list) or not all(isinstance(t, str) for t in typed):
        return error(400, "invalid", 'Send {"postcodes": ["BS1 6AD", ...]} as JSON.')
    if len(typed) > postcodes_dao.MAX_BULK:
        return error(400, "too_many", f"Send at most {postcodes_dao.MAX_BULK} postcodes at once.")
    keys: dict[str, str | PostcodeRefused] = {}
    for query in typed:
        try:
            keys[query] = postcode_key(query)
        except PostcodeRefused as refusal:
            keys[query] = refusal
    found = postcodes_dao.by_postcodes(db.session, [k for k in keys.values() if isinstance(k, str)])
    results = []
    for query in typed:
        key = keys[query]
        record = found.get(key) if isinstance(key, str) else None
        if record is not None and record.terminated_on is not None:
            # As the single lookup answers it (410, where it was): it came back as a
            # live postcode here (an outside re-check).
            gone = terminated_refusal(record.postcode, record.terminated_on)
            results.append({"query": query, "result": None} | _terminated(gone, record))
            continue
        answer = {"query": query, "result": record.as_json() if record else None}
        if isinstance(key, PostcodeRefused):
            answer |= {"error": str(key), "reason": key.reason}
        elif record is None:
            answer |= {"error": f"We can't find {postcodes.display(key)}.", "reason": "unknown"}
        results.append(answer)
    return jsonify(results=results)


@bp.route("/postcodes")
def nearest_postcodes():
    """Live postcodes nearest a point: ?longitude=&latitude=&radius_m=&limit=."""
    # Each value its own message: a limit of "1e3" was said to be a bad longitude.
    try:
        longitude = float(request.args["longitude"])
        latitude = float(request.args["latitude"])
    except (KeyError, ValueError):
        return error(400, "invalid", "Give longitude and latitude as numbers.")
    try:
        radius_m = float(request.args.get("radius_m", 1000))
    except ValueError:
        return error(400, "invalid", "radius_m must be a number of metres, up to 20,000.")
    try:
        limit = int(request.args.get("limit", 10))
    except ValueError:
        return error(400, "invalid", "limit must be a whole number from 1 to 100.")
    if not (-9 <= longitude <= 2.5 and 49.5 <= latitude <= 61.5):
        return error(400, "outside_gb", "That point is outside Great Britain.")
    if not 0 < radius_m <= postcodes_dao.MAX_NEAREST_RADIUS_M:
        return error(400, "invalid", "radius_m must be between 0 and 20,000 metres.")
    if not 1 <= limit <= postcodes_dao.MAX_NEAREST_LIMIT:
        return error(400, "invalid", "limit must be between 1 and 100.")
    rows = postcodes_dao.nearest(
        db.session, longitude=longitude, latitude=latitude, radius_m=radius_m, limit=limit
    )
    return jsonify(results=[record.as_json() | {"distance_m": round(d, 1)} for record, d in rows])


@bp.route("/autocomplete")
def autocomplete():
    """Live postcodes starting with ?q= (at least the area letters), for type-ahead."""
    try:
        # A NUL reached PostgreSQL, refused there with words that did not say what to
        # change (an outside check): named here, as a postcode's lookup names it.
        asked = without_direction_marks(request.args.get("q", ""))
        typed = checked_text(asked, "The postcode")
    except TextRefused as refusal:
        return error(400, "invalid", str(refusal))
    if typed and asked[-1:].isspace():
        typed += " "  # "BS1 " is BS1's postcodes, not BS10's: the space says so
    return jsonify(results=postcodes_dao.autocomplete(db.session, typed, limit=10))


@bp.route("/names", methods=["GET", "POST"])
def names():
    """Streets and places whose name starts with ?q= (at least 2 characters; &limit=,
    1-50, default 10), best first: {"loaded": bool, "results": [{name, kind, area,
    longitude, latitude}]}. "loaded" is false when no names are loaded: then only a
    postcode can be searched. Or posted as {"q": ..., "limit": ...}: the officer's map
    posts it, so that the street of an incident stays out of addresses and logs (an
    outside check), as a posted postcode does."""
    asked = request.args
    if request.method == "POST":
        asked = request.get_json(silent=True)
        if not isinstance(asked, dict):
            return error(400, "invalid", 'Send {"q": "Whiteladies"} as JSON.')
    typed, limit = asked.get("q", ""), asked.get("limit")
    try:
        found = names_service.search_names(typed, None if limit is None else str(limit))
    except names_service.NameSearchRefused as refusal:
        return error(400, refusal.reason, str(refusal))
    return jsonify(loaded=found.loaded, results=found.results)


@bp.route("/outcodes/", defaults={"outward": ""})
@bp.route("/outcodes/<typed:outward>")
def outcode(outward: str):
    """Centre of an outward code (district), e.g. BS1."""
    if not postcodes.canonical(outward):
        return error(400, "invalid", "Enter an outward code, for example BS1.")
    try:
        refuse_control_characters(outward, "The outward code")
    except PostcodeRefused as refusal:
        return refused(refusal)
    if not postcodes.is_outward_code(outward):
        return error(400, "invalid", f"“{outward.strip()[:10]}” is not an outward code like BS1.")
    if refusal := outside_great_britain(postcodes.canonical(outward)):
        return refused(refusal)
    found = postcodes_dao.centroid(db.session, outward=outward)
    if found is None:
        return error(404, "unknown", f"We hold no postcodes in {postcodes.canonical(outward)}.")
    return jsonify(found | {"outcode": postcodes.canonical(outward)})


@bp.route("/sectors/", defaults={"sector": ""})
@bp.route("/sectors/<typed:sector>")
def sector(sector: str):
    """Centre of a postcode sector, e.g. "BS1 6"."""
    if not postcodes.canonical(sector):
        return error(400, "invalid", "Enter a postcode sector, for example BS1 6.")
    try:
        refuse_control_characters(sector, "The postcode sector")
    except PostcodeRefused as refusal:
        return refused(refusal)
    key = postcodes.canonical(sector)
    outward, digit = key[:-1], key[-1:]
    if whole_number(digit) is None or not postcodes.is_outward_code(outward):
        shown = sector.strip()[:10]
        return error(400, "invalid", f"“{shown}” is not a postcode sector like BS1 6.")
    if refusal := outside_great_britain(f"{outward} {digit}"):
        return refused(refusal)
    found = postcodes_dao.centroid(db.session, outward=outward, sector=digit)
    if found is None:
        return error(404, "unknown", f"We hold no postcodes in {outward} {digit}.")
    return jsonify(found | {"sector": f"{outward} {digit}"})


@bp.route("/places/containing")
def places_containing():
    """Places covering ?postcode= or ?longitude=&latitude=."""
    if "postcode" in request.args:
        try:
            checked = check_postcode(request.args["postcode"], require_in_force=False)
        except PostcodeRefused as refusal:
            return refused(refusal)
        record = postcodes_dao.by_postcode(db.session, checked.postcode.postcode)
        if not record.has_location:
            return error(422, "no_location", no_location_message(record.postcode))
        easting, northing = record.easting, record.northing
    else:
        try:
            longitude = float(request.args["longitude"])
            latitude = float(request.args["latitude"])
        except (KeyError, ValueError):
            return error(400, "invalid", "Give a postcode, or longitude and latitude.")
        # As for the nearest postcodes: "nan" and "inf" are floats, and no point of ours.
        if not (-9 <= longitude <= 2.5 and 49.5 <= latitude <= 61.5):
            return error(400, "outside_gb", "That point is outside Great Britain.")
        from geo.projection import wgs84_to_bng

        e, n = wgs84_to_bng([longitude], [latitude])
        easting, northing = float(e[0]), float(n[0])
    return jsonify(
        results=places_dao.places_containing(db.session, easting=easting, northing=northing)
    )


@bp.route("/places/<int:place_id>/postcodes")
def place_postcodes(place_id: int):
    """How many live postcodes a place covers, and (up to 1,000 of) which; 404 for a
    place we do not have (it answered "0 postcodes", as for a place with none)."""
    found = places_service.postcodes_in_place(place_id)
    if found is None:
        return error(404, "not_found", "There is no place with that id.")
    count, names = found
    return jsonify(place_id=place_id, count=count, postcodes=names)


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
