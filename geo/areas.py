"""Turn the shapes an officer draws into one area in British National Grid metres.

A shape arrives from the map in WGS84 (Leaflet speaks longitude/latitude):

    {"kind": "circle", "center": [-2.59, 51.45], "radius_m": 1500}
    {"kind": "polygon", "coordinates": [[[lon, lat], ...]]}     # GeoJSON Polygon rings
    {"kind": "rectangle", ...}                                   # same as polygon
    {"kind": "place", "place_id": 12}          # a ward, district or the force, by id

and may carry "exclude": true to be cut out of the others. Every refusal raises
AreaError with a sentence an officer can act on.

Every number must be a JSON number: text such as "51.45", true/false, NaN and Infinity
are refused, not converted. A point may carry a third value (altitude, as GPS apps
write it), which is dropped. An outline that does not end where it starts is closed,
and a note saying so is returned for the preview.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import shapely
from shapely import MultiPolygon, Point, Polygon, from_wkb, unary_union
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from geo.projection import BNG, WGS84, transform_geometry, wgs84_to_bng

MIN_RADIUS_M = 100
MAX_RADIUS_M = 20_000
# A circle becomes a polygon with 4 * 64 = 256 sides; at 20 km radius its edge is at
# most 20_000 * (1 - cos(pi / 256)) = 1.5 m inside the true circle: well under the
# accuracy of a postcode centroid.
CIRCLE_QUAD_SEGMENTS = 64
MAX_SHAPES = 20
# A hand-drawn polygon has tens of points; thousands means a pasted file or an attack
# on the database, and a slow preview either way.
MAX_VERTICES_PER_SHAPE = 2_000
# Bigger than any force area (North Yorkshire, about 8,300 km2), so only a mistake hits it.
MAX_AREA_KM2 = 12_000
# What the shapes may cost to join and to count in. Two drawn combs crossing each other
# make a lattice of thousands of holes (200 teeth each: 40,000 crossings, 200,000 points,
# seconds to join), and PostGIS tests a point against an outline of more than about
# 10,000 points one segment at a time (12 ms a resident at 40,000). Twenty circles
# overlapping every other cross 380 times and have 5,120 points.
MAX_CROSSINGS = 1_000
MAX_AREA_POINTS = 10_000
# Counting the crossings must itself be cheap: the drawn shapes' points together, and
# the pairs of segments whose boxes meet (a few thousand for circles or hand-drawn
# outlines; a star of long spikes has millions, and counting them took minutes a
# request, while the web app's threads waited: found by an outside probe).
MAX_DRAWN_POINTS = 20_000
MAX_SEGMENT_PAIRS = 2_000_000
# Segments looked up at a time, so that the pairs in hand stay few (a megabyte or two).
_SEGMENTS_AT_ONCE = 64
# Longitude/latitude box around Great Britain and its islands (EPSG:27700 is meaningless
# far outside it).
GB_LON = (-9.0, 2.5)
GB_LAT = (49.5, 61.5)


def N_(template: str) -> str:
    """Marks words for translation (pybabel's N_): this library says them in English,
    and keeps them as Words so that an application can say them in another."""
    return template


class Words(str):
    """A message in English that keeps its template and values: the application
    translates `template` and fills in `values` (app/services/alerts/targeting.py).

    >>> words = Words("Shape %(number)s has no outline.", number=2)
    >>> str(words), words.template, words.values
    ('Shape 2 has no outline.', 'Shape %(number)s has no outline.', {'number': 2})
    """

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, **values: Any) -> Words:
        said = super().__new__(cls, template % values if values else template)
        said.template, said.values = template, values
        return said


class AreaError(ValueError):
    """A shape we cannot use, with a message for the officer who drew it (Words)."""

    def __init__(self, template: str, **values: Any):
        self.words = Words(template, **values)
        super().__init__(str(self.words))


def area_from_shapes(
    shapes: Iterable[Mapping[str, Any]],
    place_boundary: Callable[[int], BaseGeometry | None] | None = None,
    notes: list[str] | None = None,
) -> MultiPolygon:
    """Union the included shapes, minus the excluded ones, in BNG metres.

    place_boundary(place_id) gives a named place's boundary in BNG, or None when there
    is no such place (the caller reads them from its database).
    Appends to `notes` what we changed in a shape to use it, for the officer to see.
    Raises AreaError when there is nothing to send to or a shape is unusable.
    """
    shapes = list(shapes or [])
    if not shapes:
        raise AreaError(N_("Draw an area on the map or enter a postcode and radius first."))
    if len(shapes) > MAX_SHAPES:
        raise AreaError(N_("Use at most %(most)s shapes; merge some of them."), most=MAX_SHAPES)
    included, excluded, drawn = [], [], []
    for number, shape in enumerate(shapes, start=1):
        if not isinstance(shape, Mapping):
            raise AreaError(N_("Shape %(number)s is not a shape."), number=number)
        exclude = shape.get("exclude")
        if exclude is not None and not isinstance(exclude, bool):
            # "true" or 1 taken as false would send to the area the officer cut out. (Not
            # `in (None, True, False)`: 1 == True and 0 == False, and 1 got through as
            # "include", an outside check.)
            raise AreaError(N_("Shape %(number)s: exclude must be true or false."), number=number)
        geometry = shape_to_bng(shape, number=number, place_boundary=place_boundary, notes=notes)
        (excluded if shape.get("exclude") is True else included).append(geometry)
        if shape.get("kind") != "place":  # places are ours; what is drawn may be anything
            drawn.append(geometry)
            _check_drawn_points(drawn)  # before the next shape costs anything
    if not included:
        raise AreaError(N_("Every shape is an exclusion: add an area to send to."))
    crossings = _crossings(drawn)
    if crossings is None:
        raise AreaError(
            N_(
                "The shapes' outlines are too intricate to join quickly (long thin spikes "
                "over each other). Draw them with fewer points or simpler outlines."
            )
        )
    if crossings > MAX_CROSSINGS:
        raise AreaError(
            N_(
                "The shapes cross each other too many times to join. Draw fewer shapes, "
                "or shapes that overlap less."
            )
        )
    area = unary_union(included)
    if excluded:
        area = area.difference(unary_union(excluded))
    if area.is_empty:
        raise AreaError(N_("The exclusions cover the whole area: nobody is left to send to."))
    if area.area / 1e6 > MAX_AREA_KM2:
        raise AreaError(
            N_(
                "The area is %(area)s km², more than the %(most)s km² allowed. Draw a smaller area."
            ),
            area=f"{area.area / 1e6:,.0f}",
            most=f"{MAX_AREA_KM2:,}",
        )
    points = shapely.get_num_coordinates(area)
    if points > MAX_AREA_POINTS:
        raise AreaError(
            N_(
                "The area's outline has %(points)s points once its shapes are joined, more "
                "than the %(most)s we can count in quickly. Draw it with fewer points, or "
                "choose a ward, a district or the whole force instead."
            ),
            points=f"{points:,}",
            most=f"{MAX_AREA_POINTS:,}",
        )
    return as_multipolygon(area)


def _check_drawn_points(drawn: list[BaseGeometry]) -> None:
    points = sum(shapely.get_num_coordinates(g) for g in drawn)
    if points > MAX_DRAWN_POINTS:
        raise AreaError(
            N_(
                "The shapes have %(points)s points together, more than the %(most)s we can "
                "join quickly. Draw them with fewer points."
            ),
            points=f"{points:,}",
            most=f"{MAX_DRAWN_POINTS:,}",
        )


def _crossings(geometries: list[BaseGeometry]) -> int | None:
    """How many times the outlines of different shapes cross or touch: a cheap count
    (a spatial index of their segments) before joining them costs anything. It stops
    once past MAX_CROSSINGS; None when the segments' boxes meet in more than
    MAX_SEGMENT_PAIRS pairs (to count them would cost more than the shapes are worth).

    >>> from shapely import box
    >>> _crossings([box(0, 0, 2, 2), box(1, 1, 3, 3), box(5, 5, 6, 6)])
    2
    """
    segments, owners = [], []
    for owner, geometry in enumerate(geometries):
        for ring in shapely.get_rings(shapely.get_parts(geometry)):
            coords = shapely.get_coordinates(ring)
            segments.extend(shapely.linestrings(np.stack([coords[:-1], coords[1:]], axis=1)))
            owners.extend([owner] * (len(coords) - 1))
    if len(set(owners)) < 2:
        return 0
    owner, segments = np.array(owners), np.array(segments)
    tree = shapely.STRtree(segments)
    pairs = crossings = 0
    for start in range(0, len(segments), _SEGMENTS_AT_ONCE):
        left, right = tree.query(segments[start : start + _SEGMENTS_AT_ONCE])
        pairs += len(left)
        if pairs > MAX_SEGMENT_PAIRS:
            return None
        left = left + start
        # Each crossing is found from both sides; a shape's own segments meet at its
        # corners: of different shapes, counted once.
        apart = owner[left] < owner[right]
        crossings += int(
            np.count_nonzero(shapely.intersects(segments[left[apart]], segments[right[apart]]))
        )
        if crossings > MAX_CROSSINGS:
            return crossings
    return crossings


def shape_to_bng(
    shape: Mapping[str, Any],
    *,
    number: int = 1,
    place_boundary: Callable[[int], BaseGeometry | None] | None = None,
    notes: list[str] | None = None,
) -> BaseGeometry:
    """One shape from the map as a valid polygon in BNG metres. Raises AreaError."""
    kind = shape.get("kind")
    if kind == "place":
        return _place(shape, number, place_boundary)
    if kind == "circle":
        return _circle(shape, number)
    if kind in ("polygon", "rectangle"):
        return _polygon(shape.get("coordinates"), number, notes)
    if not isinstance(kind, str) or not kind.strip():
        # "unknown kind None" (or a list's Python spelling) read as a fault of ours (an
        # outside check).
        raise AreaError(
            N_("Shape %(number)s does not say what it is: use a circle or a polygon."),
            number=number,
        )
    raise AreaError(
        N_("Shape %(number)s has an unknown kind %(kind)s: use a circle or a polygon."),
        number=number,
        kind=repr(kind[:30]),
    )


def _place(
    shape: Mapping[str, Any],
    number: int,
    place_boundary: Callable[[int], BaseGeometry | None] | None,
) -> BaseGeometry:
    place_id = shape.get("place_id")
    if isinstance(place_id, bool) or not isinstance(place_id, int):
        raise AreaError(
            N_("Shape %(number)s names no place. Choose it from the list again."), number=number
        )
    # An id no table can hold (10**20) is no place of ours: said so, not left for the
    # database to refuse as a value out of range (an outside check).
    in_range = 0 < place_id < 2**31
    boundary = place_boundary(place_id) if place_boundary and in_range else None
    if boundary is None or boundary.is_empty:
        raise AreaError(
            N_("Shape %(number)s is a place we no longer have. Choose it again."), number=number
        )
    return boundary


def _describe(value: Any) -> str:
    """A value as the officer's JSON spelt it, for a message (Words: said in English
    here, in the page's language by the application)."""
    if isinstance(value, str):
        return Words(N_('text ("%(text)s")'), text=f"{value[:20]}{'…' if len(value) > 20 else ''}")
    if isinstance(value, bool):
        return Words(N_("true or false (%(value)s)"), value=str(value).lower())
    if value is None:
        return Words(N_("empty (null)"))
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float):
        return "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, int):
        return Words(N_("a number too large to use"))
    return Words(N_("a list")) if isinstance(value, list | tuple) else Words(N_("an object"))


def _number(value: Any, number: int, rule: str) -> float:
    # `rule` is a whole message, with %(number)s and %(value)s in it.
    """A finite JSON number, or AreaError naming the shape, the rule and the value.

    float() would turn "51.45", True and "nan" into numbers, so the type is checked.
    """
    if not isinstance(value, bool) and isinstance(value, int | float):
        try:
            if math.isfinite(value):
                return float(value)
        except OverflowError:  # an int past 1.8e308: JSON has no limit on digits
            pass
    raise AreaError(rule, number=number, value=_describe(value))


def _lon_lat(value: Any, number: int) -> tuple[float, float]:
    """[longitude, latitude] or [longitude, latitude, altitude], without the altitude:
    only where a resident lives on the map matters, not how high."""
    if not isinstance(value, list | tuple) or len(value) < 2:
        raise AreaError(
            N_("Shape %(number)s has a point that is not a longitude and latitude."),
            number=number,
        )
    if len(value) > 3:
        raise AreaError(
            N_(
                "Shape %(number)s: a point has %(count)s values; give its longitude and "
                "latitude (an altitude may follow, and is ignored)."
            ),
            number=number,
            count=len(value),
        )
    # The altitude is checked like the others, then dropped.
    rule = N_("Shape %(number)s: coordinates must be numbers, not %(value)s.")
    lon, lat = [_number(v, number, rule) for v in value][:2]
    if not (GB_LON[0] <= lon <= GB_LON[1] and GB_LAT[0] <= lat <= GB_LAT[1]):
        raise AreaError(
            N_("Shape %(number)s reaches outside Great Britain. Redraw it on the map."),
            number=number,
        )
    return lon, lat


def _circle(shape: Mapping[str, Any], number: int) -> Polygon:
    lon, lat = _lon_lat(shape.get("center"), number)
    if shape.get("radius_m") is None:
        raise AreaError(N_("Circle %(number)s needs a radius in metres."), number=number)
    rule = N_("Shape %(number)s: the radius in metres must be a number, not %(value)s.")
    radius_m = _number(shape["radius_m"], number, rule)
    if not MIN_RADIUS_M <= radius_m <= MAX_RADIUS_M:
        raise AreaError(
            N_("Circle %(number)s: choose a radius between %(least)s m and %(most)s km."),
            number=number,
            least=MIN_RADIUS_M,
            most=MAX_RADIUS_M // 1000,
        )
    easting, northing = wgs84_to_bng([lon], [lat])
    return Point(float(easting[0]), float(northing[0])).buffer(
        radius_m, quad_segs=CIRCLE_QUAD_SEGMENTS
    )


def _rings(rings: Any, number: int) -> tuple[list[list[tuple[float, float]]], bool]:
    """The outline and its holes as closed lists of (lon, lat), and whether any of
    them had to be closed. Raises AreaError."""
    if not isinstance(rings, list) or not rings:
        raise AreaError(N_("Shape %(number)s has no outline."), number=number)
    # Each ring a list of points, each point a list of numbers. The first point shows
    # the depth: a lone ring or a MultiPolygon's extra level gets this, not a puzzle.
    if not all(isinstance(ring, list) for ring in rings) or any(
        not isinstance(point, list) or any(isinstance(v, list) for v in point)
        for ring in rings[:1]
        for point in ring[:1]
    ):
        raise AreaError(
            N_(
                "Shape %(number)s: coordinates must be a list of outlines, each a list of "
                "[longitude, latitude] points."
            ),
            number=number,
        )
    vertices = sum(len(ring) for ring in rings)
    if vertices > MAX_VERTICES_PER_SHAPE:
        raise AreaError(
            N_(
                "Shape %(number)s has %(points)s points; at most %(most)s are allowed. Simplify it."
            ),
            number=number,
            points=f"{vertices:,}",
            most=f"{MAX_VERTICES_PER_SHAPE:,}",
        )
    points = [[_lon_lat(p, number) for p in ring] for ring in rings]
    if any(len(set(ring)) < 3 for ring in points):
        raise AreaError(
            N_("Shape %(number)s needs at least three distinct corners."), number=number
        )
    # GeoJSON rings end where they start; Shapely would close an open one silently,
    # and the officer should know their last point was joined to their first.
    opened = [ring for ring in points if ring[0] != ring[-1]]
    for ring in opened:
        ring.append(ring[0])
    return points, bool(opened)


# What GEOS says of an outline it cannot use, in words an officer can act on.
_INVALID_OUTLINES = {
    "Self-intersection": N_(
        "Shape %(number)s crosses over itself. Redraw it so that its edges do not cross."
    ),
    "Hole lies outside shell": N_(
        "Shape %(number)s has a hole cut outside its outline. Redraw it."
    ),
    "Nested holes": N_("Shape %(number)s has a hole inside another hole. Redraw it."),
    "Interior is disconnected": N_("Shape %(number)s has holes that cut it in pieces. Redraw it."),
    "Nested shells": N_("Shape %(number)s has an outline inside another. Redraw it."),
    "Duplicate Rings": N_("Shape %(number)s has the same outline twice. Redraw it."),
    "Too few points": N_("Shape %(number)s needs at least three distinct corners. Redraw it."),
}
# Smaller than a garden shed, or nowhere a metre wide: nobody lives in it. Nor in a
# long sliver nowhere as wide as a house (three taps nearly in a line made one 14 km
# long and a few metres wide, taken with no word: an outside check); a small square
# round one house is an area, however small.
MIN_SHAPE_M2 = 10.0
MIN_WIDTH_M = 1.0
SLIVER_WIDTH_M = 6.0
SLIVER_ROUNDNESS = 0.005  # 4πA/P²: 1 for a circle, 0.785 a square, 0.0005 that sliver


def _too_thin(polygon: Polygon) -> bool:
    """Nowhere as wide as MIN_WIDTH_M (corners nearly in a line), or a long sliver
    nowhere SLIVER_WIDTH_M wide.

    >>> from shapely import box
    >>> _too_thin(box(0, 0, 1000, 0.5)), _too_thin(box(0, 0, 5, 5))
    (True, False)
    >>> _too_thin(box(0, 0, 14000, 4)), _too_thin(box(0, 0, 14000, 20))
    (True, False)
    """
    if polygon.buffer(-MIN_WIDTH_M / 2).is_empty:
        return True
    roundness = 4 * math.pi * polygon.area / polygon.length**2
    return roundness < SLIVER_ROUNDNESS and polygon.buffer(-SLIVER_WIDTH_M / 2).is_empty


def _polygon(rings: Any, number: int, notes: list[str] | None = None) -> Polygon:
    points, closed_by_us = _rings(rings, number)
    if closed_by_us and notes is not None:
        notes.append(
            Words(
                N_(
                    "Shape %(number)s: the outline was not closed, so we joined its last "
                    "point to its first."
                ),
                number=number,
            )
        )
    try:
        polygon = transform_geometry(Polygon(points[0], points[1:]), WGS84, BNG)
    except (ValueError, TypeError):
        raise AreaError(
            N_("Shape %(number)s is not a usable outline. Redraw it."), number=number
        ) from None
    if not polygon.is_valid:
        reason = explain_validity(polygon)
        for words, meaning in _INVALID_OUTLINES.items():
            if words in reason:
                raise AreaError(meaning, number=number)
        raise AreaError(N_("Shape %(number)s is not a usable outline. Redraw it."), number=number)
    if polygon.area < MIN_SHAPE_M2 or _too_thin(polygon):
        # Its corners in a line (or nearly): a sliver no home can be in.
        raise AreaError(
            N_("Shape %(number)s has almost no area: its corners are nearly in a line. Redraw it."),
            number=number,
        )
    return polygon


def clean_shapes(shapes: Iterable[Mapping[str, Any]]) -> list[dict]:
    """The shapes as they will be stored, as they were used: only the keys we
    understand, floats, no altitude, outlines closed. Call after area_from_shapes has
    accepted them.

    >>> clean_shapes([{"kind": "circle", "center": [-2.5, 51, 80], "radius_m": 900, "x": 1}])
    [{'kind': 'circle', 'exclude': False, 'center': [-2.5, 51.0], 'radius_m': 900.0}]
    """
    cleaned = []
    for number, shape in enumerate(shapes, start=1):
        item: dict[str, Any] = {"kind": shape["kind"], "exclude": shape.get("exclude") is True}
        if shape["kind"] == "place":
            item["place_id"] = shape["place_id"]
            if isinstance(shape.get("name"), str):
                item["name"] = shape["name"][:120]
        elif shape["kind"] == "circle":
            item["center"] = list(_lon_lat(shape["center"], number))
            item["radius_m"] = float(shape["radius_m"])
        else:
            rings, _ = _rings(shape["coordinates"], number)
            item["coordinates"] = [[list(point) for point in ring] for ring in rings]
        cleaned.append(item)
    return cleaned


def as_multipolygon(geometry: BaseGeometry) -> MultiPolygon:
    """Keep only the polygonal parts, as a MultiPolygon (what the database stores).

    >>> as_multipolygon(Point(0, 0).buffer(1)).geom_type
    'MultiPolygon'
    """
    if isinstance(geometry, MultiPolygon):
        return geometry
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry])
    parts = [g for g in getattr(geometry, "geoms", []) if isinstance(g, Polygon | MultiPolygon)]
    polygons: list[Polygon] = []
    for part in parts:
        polygons.extend(part.geoms if isinstance(part, MultiPolygon) else [part])
    return MultiPolygon(polygons)


def wholly_outside(area_km2: float | None, outside_km2: float | None) -> bool:
    """Whether `outside_km2` of an area of `area_km2` is all of it, to a thousandth:
    the two are measured by different libraries (shapely, PostGIS), and rounded.

    >>> wholly_outside(12.566, 12.5663), wholly_outside(12.566, 6.0)
    (True, False)
    >>> wholly_outside(None, None), wholly_outside(0.0, 0.0004)
    (False, True)
    """
    if not outside_km2 or area_km2 is None:
        return False
    return outside_km2 >= area_km2 * 0.999


def outline(area_wkb: bytes) -> bytes:
    """The outline of an area (BNG, WKB): its rings as lines, for "how many are near the
    edge" (within a distance of it, either side).

    >>> from shapely import box
    >>> from_wkb(outline(box(0, 0, 1000, 1000).wkb)).length
    4000.0
    """
    return from_wkb(area_wkb).boundary.wkb


def square_size(area_wkb: bytes, smallest: int, across: int) -> int:
    """The side of the squares to show an area in: `smallest` metres, doubled until
    the longer side of the area's box spans at most `across` squares. A map of a
    large area in small squares draws hundreds of them too small to see, and sends
    every one to the officer's phone.

    >>> from shapely import box
    >>> [square_size(box(0, 0, w, 1000).wkb, 500, 32) for w in (2000, 16000, 16001, 40000)]
    [500, 500, 1000, 2000]
    """
    min_x, min_y, max_x, max_y = from_wkb(area_wkb).bounds
    longest = max(max_x - min_x, max_y - min_y, 0)
    size = smallest
    while longest > size * across:
        size *= 2
    return size


# More squares than this in an area's bounding box (a 200 km square at 500 m): the
# caller counts the area one resident at a time instead.
MAX_COVER_SQUARES = 160_000


class SquareCover(NamedTuple):
    """An area on the national grid's squares of `size` metres, each square named by
    (i, j), its south-west corner divided by `size`, and grouped in runs along a row:
    (i0, i1, j) is the squares i0 to i1 of row j. `inside`: squares wholly inside the
    area (every point of them is in it) and more than the margin from its outline;
    `edge`: the other squares that hold points of the area or within the margin of it."""

    size: int
    inside: list[tuple[int, int, int]]
    edge: list[tuple[int, int, int]]


def square_cover(area_wkb: bytes, size: int, margin: float = 0) -> SquareCover | None:
    """The squares of `size` metres wholly inside an area (BNG, WKB) and those on its
    edge (near its outline: within `margin` metres of it, inside or out, and perhaps a
    little more), as runs along each row; None when the area's bounding box holds more
    than MAX_COVER_SQUARES squares.

    >>> from shapely import box
    >>> square_cover(box(0, 0, 2000, 1500).wkb, 500).inside
    [(1, 2, 1)]
    >>> cover = square_cover(box(0, 0, 2000, 2000).wkb, 500, margin=100)
    >>> cover.inside
    [(1, 2, 1), (1, 2, 2)]
    >>> cover.edge[0], cover.edge[-1]
    ((-1, 4, -1), (-1, 4, 4))

    A square touching the outline is on the edge: a point on the outline belongs to
    the area, and the row above the box holds the points of its top side.
    """
    area = from_wkb(area_wkb)
    if area.is_empty:
        return SquareCover(size, [], [])
    min_x, min_y, max_x, max_y = area.bounds
    i0, j0 = math.floor((min_x - margin) / size), math.floor((min_y - margin) / size)
    i1, j1 = math.floor((max_x + margin) / size), math.floor((max_y + margin) / size)
    if (i1 - i0 + 1) * (j1 - j0 + 1) > MAX_COVER_SQUARES:
        return None
    # The outline, as points no more than `step` apart: every point of it is within
    # step / 2 of one, so every square within the margin of the outline overlaps the
    # box of margin + step round one of them (a few more squares are marked: harmless).
    step = size / 4
    x, y = shapely.get_coordinates(shapely.segmentize(area.boundary, step)).T
    reach = margin + step
    near = np.zeros((j1 - j0 + 1, i1 - i0 + 1), dtype=bool)
    lo_i, hi_i = np.floor((x - reach) / size).astype(int), np.floor((x + reach) / size).astype(int)
    lo_j, hi_j = np.floor((y - reach) / size).astype(int), np.floor((y + reach) / size).astype(int)
    span = math.ceil(2 * reach / size) + 1
    for di in range(span):
        for dj in range(span):
            i, j = lo_i + di, lo_j + dj
            mark = (i <= hi_i) & (j <= hi_j) & (i >= i0) & (i <= i1) & (j >= j0) & (j <= j1)
            near[j[mark] - j0, i[mark] - i0] = True
    # Any other square is wholly inside the area or wholly outside it, as its centre is.
    jj, ii = np.mgrid[j0 : j1 + 1, i0 : i1 + 1]
    shapely.prepare(area)
    inside = shapely.contains_xy(area, (ii + 0.5) * size, (jj + 0.5) * size) & ~near
    return SquareCover(size, _runs(ii[inside], jj[inside]), _runs(ii[near], jj[near]))


def _runs(ii: np.ndarray, jj: np.ndarray) -> list[tuple[int, int, int]]:
    """Squares in row order (j, then i) joined into runs of neighbours along each row.

    >>> _runs(np.array([1, 2, 3, 5, 0, 1]), np.array([7, 7, 7, 7, 8, 8]))
    [(1, 3, 7), (5, 5, 7), (0, 1, 8)]
    """
    if ii.size == 0:
        return []
    # A run starts where the row changes or the square is not the last one's neighbour.
    starts = np.flatnonzero(np.r_[True, (np.diff(jj) != 0) | (np.diff(ii) != 1)])
    ends = np.r_[starts[1:] - 1, ii.size - 1]
    return list(zip(ii[starts].tolist(), ii[ends].tolist(), jj[starts].tolist(), strict=True))
