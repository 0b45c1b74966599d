"""Postcode lookups, as questions: by_postcode, nearest, centroid...

The lookups take anything with SQLAlchemy's `execute(text, params)` (a Connection or a
Session) and only read. Distances are metres in the British National Grid; points come
back in WGS84 for maps, axis order in the names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, text

from geo import postcodes
from geo.projection import BNG, WGS84, wgs84_to_bng

MAX_BULK = 100
MAX_NEAREST_RADIUS_M = 20_000
MAX_NEAREST_LIMIT = 100


@dataclass(frozen=True)
class PostcodeRecord:
    postcode: str  # display form
    key: str
    longitude: float | None
    latitude: float | None
    easting: float | None
    northing: float | None
    positional_quality: int | None
    country_code: str | None
    admin_district_code: str | None
    admin_ward_code: str | None
    introduced_on: date | None
    terminated_on: date | None

    @property
    def has_location(self) -> bool:
        return self.easting is not None

    def as_json(self) -> dict:
        return {
            "postcode": self.postcode,
            "longitude": self.longitude,
            "latitude": self.latitude,
            "eastings": self.easting,
            "northings": self.northing,
            "positional_quality": self.positional_quality,
            "country_code": self.country_code,
            "admin_district_code": self.admin_district_code,
            "admin_ward_code": self.admin_ward_code,
            "introduced_on": self.introduced_on.isoformat() if self.introduced_on else None,
            "terminated_on": self.terminated_on.isoformat() if self.terminated_on else None,
        }


_RECORD_COLUMNS = """
    display, postcode, ST_X(location_wgs84), ST_Y(location_wgs84), ST_X(location),
    ST_Y(location), positional_quality, country_code, admin_district_code,
    admin_ward_code, introduced_on, terminated_on
"""


def _record(row) -> PostcodeRecord:
    return PostcodeRecord(*row)


def by_postcode(conn, text_typed: str) -> PostcodeRecord | None:
    """The postcode as typed (any spacing or case), or None if we don't hold it."""
    key = postcodes.canonical(text_typed)
    row = conn.execute(
        text(f"SELECT {_RECORD_COLUMNS} FROM postcodes WHERE postcode = :key"), {"key": key}
    ).first()
    return _record(row) if row else None


def by_postcodes(conn, typed: Sequence[str]) -> dict[str, PostcodeRecord]:
    """Up to MAX_BULK postcodes in one query, keyed by their compact form."""
    if len(typed) > MAX_BULK:
        raise ValueError(f"at most {MAX_BULK} postcodes at once")
    keys = sorted({postcodes.canonical(t) for t in typed})
    if not keys:  # an empty IN list is typed as integers, which PostgreSQL refuses
        return {}
    rows = conn.execute(
        text(f"SELECT {_RECORD_COLUMNS} FROM postcodes WHERE postcode IN :keys").bindparams(
            bindparam("keys", expanding=True)
        ),
        {"keys": keys},
    )
    return {record.key: record for record in map(_record, rows)}


def nearest(
    conn, *, longitude: float, latitude: float, radius_m: float, limit: int = 10
) -> list[tuple[PostcodeRecord, float]]:
    """Live postcodes within radius_m of a point, nearest first, with their distances.

    ORDER BY location <-> point walks the GiST index outwards (a KNN scan); the
    ST_DWithin filter stops it at the radius.
    """
    easting, northing = (float(v[0]) for v in wgs84_to_bng([longitude], [latitude]))
    rows = conn.execute(
        text(
            f"""
            SELECT {_RECORD_COLUMNS}, ST_Distance(location, point) AS distance_m
            FROM postcodes, ST_SetSRID(ST_MakePoint(:e, :n), {BNG}) AS point
            WHERE terminated_on IS NULL AND ST_DWithin(location, point, :radius)
            ORDER BY location <-> point
            LIMIT :limit
            """
        ),
        {"e": easting, "n": northing, "radius": radius_m, "limit": limit},
    )
    return [(_record(row[:-1]), float(row[-1])) for row in rows]


def autocomplete(conn, prefix: str, *, limit: int = 10) -> list[str]:
    """Live postcodes (display form) starting with what has been typed so far."""
    # A postcode's letters and digits alone, before its length is judged: "%%%" was
    # three characters, then nothing, and listed any postcodes (an outside check).
    key = "".join(c for c in postcodes.canonical(prefix) if c.isascii() and c.isalnum())
    # Not Great Britain: lookups refuse these (ONSPD holds a few), so never offer them.
    if len(key) < 2 or postcodes.outside_great_britain(key):
        return []
    like = key + "%"
    # A space typed after the outward code says where it ends: "BS1 6" is BS1 6xx, and
    # BS16 0BB came first (an outside check). Its inward code is three characters.
    words = prefix.split()
    typed_space = len(words) == 2 or (len(words) == 1 and prefix != prefix.rstrip())
    length = len(postcodes.canonical(words[0])) + 3 if typed_space else None
    return list(
        conn.execute(
            text(
                "SELECT display FROM postcodes WHERE postcode LIKE :like "
                "AND (CAST(:length AS integer) IS NULL OR length(postcode) = :length) "
                "AND terminated_on IS NULL ORDER BY postcode LIMIT :limit"
            ),
            {"like": like, "length": length, "limit": limit},
        ).scalars()
    )


def centroid(conn, *, outward: str, sector: str | None = None) -> dict | None:
    """The centre of the live postcodes of an outward code ("BS1") or a sector
    ("BS1 6"), with how many there are and their extent, or None."""
    out = postcodes.canonical(outward)
    prefix = out + (sector or "")
    # An outward code is followed by exactly the three-character inward code; the
    # length test stops "BS1" from also matching BS10..BS16.
    length = len(out) + 3
    row = conn.execute(
        text(
            f"""
            SELECT count(*), ST_X(ST_Transform(ST_Centroid(ST_Collect(location)), {WGS84})),
                   ST_Y(ST_Transform(ST_Centroid(ST_Collect(location)), {WGS84})),
                   ST_Extent(location_wgs84)::text
            FROM postcodes
            WHERE postcode LIKE :like AND length(postcode) = :length
              AND terminated_on IS NULL AND location IS NOT NULL
            """
        ),
        {"like": prefix + "%", "length": length},
    ).one()
    if not row[0]:
        return None
    return {"postcodes": row[0], "longitude": row[1], "latitude": row[2], "extent": row[3]}


def postcodes_in_place(conn, place_id: int, *, limit: int = 1000) -> tuple[int, list[str]]:
    """How many live postcodes a place covers, and the first `limit` of them."""
    # One look: the count beside each row (two statements found them twice).
    rows = conn.execute(
        text(
            """
            SELECT p.display, count(*) OVER () AS count
            FROM postcodes p JOIN places pl ON pl.id = :id
            WHERE p.terminated_on IS NULL AND ST_Covers(pl.boundary, p.location)
            ORDER BY p.postcode LIMIT :limit
            """
        ),
        {"id": place_id, "limit": limit},
    ).all()
    return (rows[0].count if rows else 0), [row.display for row in rows]


def find_changed_postcodes(session, *, moved_m: float, limit: int, force_id: int) -> list[tuple]:
    """Postcodes a force's residents registered with (their places in its area) that
    the directory no longer gives as they were: (compact key, residents, not in the
    directory, terminated_on, no location, furthest a resident's point is from the
    directory's in metres), most residents first. "Moved" is further than moved_m from
    the directory's current point."""
    return session.execute(
        text(
            """
            SELECT l.postcode, count(DISTINCT l.resident_id), p.postcode IS NULL,
                   p.terminated_on, p.location IS NULL,
                   max(ST_Distance(l.location, p.location))
            FROM resident_locations l LEFT JOIN postcodes p USING (postcode)
            WHERE l.force_id = :force_id
              AND (p.postcode IS NULL OR p.terminated_on IS NOT NULL OR p.location IS NULL
                   OR NOT ST_DWithin(l.location, p.location, :moved))
            GROUP BY l.postcode, p.postcode, p.terminated_on, p.location
            ORDER BY count(DISTINCT l.resident_id) DESC, l.postcode
            LIMIT :limit
            """
        ),
        {"moved": moved_m, "limit": limit, "force_id": force_id},
    ).all()


def find_random_postcodes_in_force(session, force_code: str, count: int, *, seed: float):
    """(compact key, BNG point) of up to `count` located postcodes in the force's
    districts, in an order that is random but the same for the same seed (0 to 1)."""
    session.execute(text("SELECT setseed(:s)"), {"s": seed})
    return session.execute(
        text(
            """
            SELECT p.postcode, p.location FROM postcodes p
            JOIN places f ON f.kind = 'force' AND f.code = :force
            WHERE p.location IS NOT NULL
              AND p.admin_district_code IN (
                  SELECT jsonb_array_elements_text(f.properties -> 'constituent_lad23cd'))
            ORDER BY random() LIMIT :n
            """
        ),
        {"force": force_code, "n": count},
    ).all()
