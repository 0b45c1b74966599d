"""Named places: the streets and localities a force loads, one point each, so the map's
search box finds "Stapleton Road" as well as a postcode.

The source is a GeoJSON FeatureCollection, WGS84 or British National Grid (read by
geo.geojson, as the base map's layers are), typically OS Open Names (points, the name
in NAME1, the locality in POPULATED_PLACE) or OS Open Roads (lines). A point is kept as
it is, a line becomes the point halfway along it, an area a point inside it.

load_named_places takes an open psycopg 3 connection and never commits: the caller
owns the transaction, so a load that fails part-way changes nothing.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from shapely.errors import ShapelyError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.geojson import read_feature_collection
from geo.projection import BNG, WGS84, bng_to_wgs84, wgs84_to_bng

# Where the name is when the caller names no property: GeoJSON's usual `name`, then
# OS Open Names' NAME1 (upper case in its CSV, lower case in its GeoPackage).
NAME_PROPERTIES = ("name", "NAME1", "name1")
# The locality a feature is in, first found wins, when the caller names none: OS Open
# Names' populated place (a street's town or village), else its district or county.
AREA_PROPERTIES = ("area", "POPULATED_PLACE", "DISTRICT_BOROUGH", "COUNTY_UNITARY")
DEFAULT_KIND = "place"
# Longer than any street or place name in OS Open Names (the longest are about 60):
# longer text is not a name.
MAX_NAME_CHARS = 200
MAX_KIND_CHARS = 40  # the column's width
# The British National Grid's extent (metres): a point outside it is not in Great
# Britain, usually a file in EPSG:27700 that does not say so.
GB_EXTENT_M = (0.0, 0.0, 700_000.0, 1_300_000.0)


@dataclass(frozen=True)
class NamedPlace:
    name: str
    kind: str
    area: str | None
    easting: float
    northing: float
    longitude: float
    latitude: float


@dataclass
class NamesSummary:
    read: int = 0
    loaded: int = 0
    replaced: int = 0  # rows of the same file and release the load replaced
    rejected: Counter = field(default_factory=Counter)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def lines(self) -> list[str]:
        """The headline, then each reason features were rejected for, indented."""
        headline = f"read {self.read:,}, loaded {self.loaded:,}"
        if self.replaced:
            headline += f" (replacing {self.replaced:,} loaded before)"
        headline += f", rejected {self.rejected_total:,}"
        return [headline] + [
            f"  {count:,} {reason}" for reason, count in self.rejected.most_common()
        ]


# ONS writes a few authorities' names for sorting: "Bristol, City of".
_FOR_SORTING = re.compile(r"(?P<name>.+), (?P<title>(?:City and )?(?:City|County) of)")


def reading_order(name: str) -> str:
    """A place's name as people say it, for a page: ONS's sorting form turned round.
    Searches keep ONS's form (a resident types "Bristol").

    >>> reading_order("Bristol, City of"), reading_order("Herefordshire, County of")
    ('City of Bristol', 'County of Herefordshire')
    >>> reading_order("Bath and North East Somerset"), reading_order("Cardiff, Wales")
    ('Bath and North East Somerset', 'Cardiff, Wales')
    """
    found = _FOR_SORTING.fullmatch(name)
    return f"{found['title']} {found['name']}" if found else name


_TITLE_FIRST = re.compile(r"(?P<title>(?:city and )?(?:city|county) of)\s+(?P<name>.+)", re.I)
_AMPERSAND = re.compile(r"\s+&\s+")
_AND = re.compile(r"\s+and\s+", re.I)


def plain_typed(typed: str) -> str:
    """What was typed, as a name is stored: compatibility forms made plain (NFKC:
    full-width letters, ligatures, a no-break space), invisible format characters
    (zero-width spaces, direction marks) and control characters dropped, spaces
    collapsed."""
    text = unicodedata.normalize("NFKC", typed)
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cf", "Cc", "Cs"))
    return " ".join(text.split())


def search_forms(typed: str) -> list[str]:
    """What a place's name may be stored as, for what was typed: as typed, in ONS's
    sorting form when typed as pages show it ("City of Bristol"), and with "&" for
    "and" and the other way round (the pages named places people could not then find:
    an outside check).

    >>> search_forms("City of Bristol")
    ['City of Bristol', 'Bristol, City of']
    >>> search_forms("Hotwells and Harbourside")
    ['Hotwells and Harbourside', 'Hotwells & Harbourside']
    >>> search_forms("Widcombe & Lyncombe")
    ['Widcombe & Lyncombe', 'Widcombe and Lyncombe']
    >>> search_forms("Bristol")
    ['Bristol']

    Typed as a phone or a copy may give it: full-width letters, a no-break space, a
    zero-width or direction character are read as the name (they found nothing).

    >>> search_forms("\uff22\uff52\uff49\uff53\uff54\uff4f\uff4c\u200b")
    ['Bristol']
    >>> search_forms("Bath\u00a0and North East Somerset")[0]
    'Bath and North East Somerset'
    """
    typed = plain_typed(typed)
    forms = [typed]
    found = _TITLE_FIRST.fullmatch(typed)
    if found:
        forms.append(f"{found['name']}, {found['title']}")
    for form in list(forms):
        forms.append(_AMPERSAND.sub(" and ", form))
        forms.append(_AND.sub(" & ", form))
    return list(dict.fromkeys(forms))


def representative_point(geometry: BaseGeometry) -> shapely.Point | None:
    """One point that stands for the geometry, on it: a point itself, the middle of a
    line (along its length), a point inside an area. None when empty.

    >>> from shapely import LineString, Polygon
    >>> representative_point(LineString([(0, 0), (10, 0), (10, 30)])).wkt
    'POINT (10 10)'
    >>> representative_point(Polygon([(0, 0), (4, 0), (4, 4), (0, 4)])).within(
    ...     Polygon([(0, 0), (4, 0), (4, 4), (0, 4)]))
    True
    >>> representative_point(LineString()) is None
    True
    """
    if geometry.is_empty:
        return None
    if isinstance(geometry, shapely.Point):
        return geometry
    if isinstance(geometry, shapely.LineString | shapely.MultiLineString):
        return geometry.interpolate(0.5, normalized=True)
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    # Areas, several points (the one nearest their centre), mixed collections.
    point = geometry.point_on_surface()
    return None if point.is_empty else point


def _property(properties: dict, names: Sequence[str]) -> object:
    """The first of these properties a feature has a value for: an exact match of the
    name first, then one in another case (ogr2ogr keeps a source's case)."""
    lowered = None
    for name in names:
        value = properties.get(name)
        if value is None:
            if lowered is None:
                lowered = {str(key).lower(): value for key, value in properties.items()}
            value = lowered.get(name.lower())
        if value is not None and _clean(value):
            return value
    return None


def _clean(value: object) -> str:
    """Text of a property, runs of white space as one space; "" for what is not text
    or a whole number."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return ""
    return " ".join(str(value).split())


def _unreadable(text: str) -> bool:
    """Control characters PostgreSQL would refuse (NUL) or that belong in no name, and
    halves of surrogate pairs (from JSON's \\ud800 escapes)."""
    return any(
        unicodedata.category(character) in ("Cc", "Cs") or character in "\u2028\u2029"
        for character in text
    )


def read_named_places(
    features: Iterable,
    *,
    srid: int = WGS84,
    name_property: str | None = None,
    kind: str | None = None,
    kind_property: str | None = None,
    area_properties: Sequence[str] = (),
    summary: NamesSummary,
) -> list[NamedPlace]:
    """Named places from GeoJSON features (parsed) whose coordinates are in `srid`
    (WGS84 or BNG), each as one point in both.

    name_property: where the name is (default: name, then NAME1 / name1).
    kind: the kind of every place ("street"), or, with kind_property, of those that
    have no value for it (default "place").
    area_properties: where the locality is, first found wins (default: area, then OS
    Open Names' POPULATED_PLACE, DISTRICT_BOROUGH, COUNTY_UNITARY).

    Features without a name, with a name that is no name (control characters, too
    long), or without a usable geometry are rejected and counted by reason in summary.
    Raises ValueError for an srid other than WGS84 or BNG, or a kind too long.
    """
    if srid not in (WGS84, BNG):
        raise ValueError(f"Coordinates must be WGS84 (EPSG:4326) or EPSG:27700, not {srid}")
    fixed_kind = _clean(kind) or DEFAULT_KIND
    if len(fixed_kind) > MAX_KIND_CHARS:
        raise ValueError(f"A kind is at most {MAX_KIND_CHARS} characters")
    name_names = (name_property,) if name_property else NAME_PROPERTIES
    name_label = name_property or "name (or NAME1)"
    area_names = tuple(area_properties) or AREA_PROPERTIES

    found: list[tuple[str, str, str | None]] = []
    xs: list[float] = []
    ys: list[float] = []
    for item in features:
        summary.read += 1
        item = item if isinstance(item, dict) else {}
        properties = item.get("properties")
        properties = properties if isinstance(properties, dict) else {}

        name = _clean(_property(properties, name_names))
        if not name:
            summary.rejected[f"no {name_label}"] += 1
            continue
        if _unreadable(name):
            summary.rejected["a control character in the name"] += 1
            continue
        if len(name) > MAX_NAME_CHARS:
            summary.rejected[f"a name over {MAX_NAME_CHARS} characters"] += 1
            continue

        place_kind = fixed_kind
        if kind_property:
            place_kind = _clean(_property(properties, (kind_property,))) or fixed_kind
            if len(place_kind) > MAX_KIND_CHARS or _unreadable(place_kind):
                summary.rejected[f"a {kind_property} that is no kind"] += 1
                continue

        area = _clean(_property(properties, area_names))[:MAX_NAME_CHARS] or None
        if area and _unreadable(area):
            area = None

        if not item.get("geometry"):
            summary.rejected["no geometry"] += 1
            continue
        try:
            point = representative_point(shape(item["geometry"]))
        except (AttributeError, IndexError, KeyError, ShapelyError, TypeError, ValueError):
            summary.rejected["an unreadable geometry"] += 1
            continue
        if point is None:
            summary.rejected["an empty geometry"] += 1
            continue
        found.append((name, place_kind, area))
        xs.append(point.x)
        ys.append(point.y)

    if not found:
        return []
    # One projection call for the lot: pyproj is quick on arrays, slow point by point.
    if srid == BNG:
        eastings, northings = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        longitudes, latitudes = bng_to_wgs84(eastings, northings)
    else:
        longitudes, latitudes = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        with np.errstate(invalid="ignore"):
            eastings, northings = wgs84_to_bng(longitudes, latitudes)

    places = []
    west, south, east, north = GB_EXTENT_M
    for (name, place_kind, area), e, n, lon, lat in zip(
        found, eastings, northings, longitudes, latitudes, strict=True
    ):
        e, n, lon, lat = float(e), float(n), float(lon), float(lat)
        if not (
            all(math.isfinite(v) for v in (e, n, lon, lat))
            and west <= e <= east
            and south <= n <= north
        ):
            summary.rejected["outside Great Britain (a file in EPSG:27700 must say so)"] += 1
            continue
        places.append(NamedPlace(name, place_kind, area, e, n, lon, lat))
    return places


def read_named_places_file(path: Path, **options) -> list[NamedPlace]:
    """read_named_places on a GeoJSON file, in the coordinates it says it is in.

    Raises ValueError when the file is not a GeoJSON FeatureCollection.
    """
    features, srid = read_feature_collection(path)
    return read_named_places(features, srid=srid, **options)


def load_named_places(
    conn, places: Sequence[NamedPlace], *, source: str, release: str, summary: NamesSummary
) -> NamesSummary:
    """Replace the named places of one source file and release with these. Loading the
    same file again leaves the same rows. Does not commit."""
    with conn.cursor() as cur:
        cur.execute(
            "DELETE FROM named_places WHERE source = %s AND release = %s", (source, release)
        )
        summary.replaced = max(cur.rowcount, 0)
        with cur.copy(
            "COPY named_places (name, kind, area, release, source, location, longitude, "
            "latitude) FROM STDIN"
        ) as copy:
            for place in places:
                copy.write_row(
                    (
                        place.name,
                        place.kind,
                        place.area,
                        release,
                        source,
                        # Millimetres: a fixed-point number, never an exponent.
                        f"SRID={BNG};POINT({place.easting:.3f} {place.northing:.3f})",
                        place.longitude,
                        place.latitude,
                    )
                )
    summary.loaded = len(places)
    return summary
