import math

import pytest
from shapely import Polygon

from geo.areas import MAX_RADIUS_M, AreaError, area_from_shapes, clean_shapes

BRISTOL = [-2.5879, 51.4545]


def square(lon, lat, half_deg=0.01):
    ring = [
        [lon - half_deg, lat - half_deg],
        [lon + half_deg, lat - half_deg],
        [lon + half_deg, lat + half_deg],
        [lon - half_deg, lat + half_deg],
        [lon - half_deg, lat - half_deg],
    ]
    return {"kind": "polygon", "coordinates": [ring]}


def test_circle_area_is_within_a_tenth_of_a_percent_of_pi_r_squared():
    area = area_from_shapes([{"kind": "circle", "center": BRISTOL, "radius_m": 1000}])
    assert area.geom_type == "MultiPolygon"
    assert area.area == pytest.approx(math.pi * 1000**2, rel=1e-3)


def test_exclusion_cuts_a_hole():
    whole = area_from_shapes([{"kind": "circle", "center": BRISTOL, "radius_m": 2000}])
    holed = area_from_shapes(
        [
            {"kind": "circle", "center": BRISTOL, "radius_m": 2000},
            {"kind": "circle", "center": BRISTOL, "radius_m": 500, "exclude": True},
        ]
    )
    assert holed.area == pytest.approx(whole.area - math.pi * 500**2, rel=2e-3)


def test_two_shapes_are_joined():
    area = area_from_shapes([square(-2.6, 51.45), square(-2.5, 51.45)])
    assert len(area.geoms) == 2


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        ([], "Draw an area"),
        ([{"kind": "circle", "center": BRISTOL, "radius_m": 50}], "between 100 m and 20 km"),
        ([{"kind": "circle", "center": BRISTOL, "radius_m": MAX_RADIUS_M + 1}], "20 km"),
        ([{"kind": "circle", "center": BRISTOL, "radius_m": "far"}], "radius in metres"),
        ([{"kind": "circle", "center": [2.35, 48.85], "radius_m": 500}], "outside Great Britain"),
        ([{"kind": "circle", "center": "x", "radius_m": 500}], "longitude and latitude"),
        (
            [
                {
                    "kind": "polygon",
                    "coordinates": [
                        [[-2.6, 51.4], [-2.5, 51.5], [-2.5, 51.4], [-2.6, 51.5], [-2.6, 51.4]]
                    ],
                }
            ],
            "crosses over itself",
        ),
        ([{"kind": "polygon", "coordinates": [[[-2.6, 51.4], [-2.5, 51.5]]]}], "three distinct"),
        ([{"kind": "hexagon"}], "unknown kind 'hexagon'"),
        ([{"radius_m": 500}], "Shape 1 does not say what it is"),
        ([{"kind": ["polygon"]}], "Shape 1 does not say what it is"),
        ([square(-2.6, 51.45) | {"exclude": True}], "Every shape is an exclusion"),
        (
            [square(-2.6, 51.45), square(-2.6, 51.45, half_deg=0.02) | {"exclude": True}],
            "cover the whole area",
        ),
        ([square(-2.6, 52.5, half_deg=0.7)], "km² allowed"),
        (["not a shape"], "not a shape"),
    ],
)
def test_unusable_shapes_are_refused_with_what_to_do(shapes, message):
    with pytest.raises(AreaError, match=message):
        area_from_shapes(shapes)


def test_too_many_points_is_refused():
    ring = [[-2.6 + i * 1e-5, 51.45 + (i % 2) * 1e-3] for i in range(2100)]
    ring.append(ring[0])
    with pytest.raises(AreaError, match="Simplify it"):
        area_from_shapes([{"kind": "polygon", "coordinates": [ring]}])


def comb(lon: float, lat: float, teeth: int, width: float, length: float, across=False) -> dict:
    """An outline of `teeth` long thin teeth: a comb, upright or lying across."""
    ring = []
    for i in range(teeth):
        x = i * 2 * width
        ring += [[x, 0], [x, length], [x + width, length], [x + width, 0]]
    ring += [[teeth * 2 * width - width, -0.001], [0, -0.001], [0, 0]]
    if across:
        ring = [[y * 1.6, x / 1.6] for x, y in ring]
    return {"kind": "polygon", "coordinates": [[[lon + x, lat + y] for x, y in ring]]}


def test_shapes_that_cross_each_other_too_often_are_refused_before_they_are_joined():
    # Two combs across each other: a lattice (20 teeth each: 1,600 crossings and 400
    # holes; at 200 teeth, joining them took seconds and counting in it minutes).
    lattice = [comb(-2.7, 51.3, 20, 3e-4, 0.3), comb(-2.72, 51.31, 20, 2e-4, 0.2, across=True)]
    with pytest.raises(AreaError, match="cross each other too many times"):
        area_from_shapes(lattice)
    # Fewer crossings are joined, and so are circles drawn over each other.
    few = [comb(-2.7, 51.3, 10, 3e-4, 0.3), comb(-2.72, 51.31, 10, 2e-4, 0.2, across=True)]
    assert len(area_from_shapes(few).geoms) == 1
    circles = [
        {"kind": "circle", "center": [BRISTOL[0] + k * 1e-3, BRISTOL[1]], "radius_m": 2000}
        for k in range(20)
    ]
    assert len(area_from_shapes(circles).geoms) == 1


def test_an_outline_of_too_many_points_once_joined_is_refused():
    # Combs of 2,000 points each, apart: each shape is allowed; six together are
    # 11,994 points, which PostgreSQL would test each resident against one by one.
    combs = [comb(-2.9 + k * 0.02, 51.2, 499, 2e-5, 0.01) for k in range(20)]
    with pytest.raises(AreaError, match="11,994 points once its shapes are joined"):
        area_from_shapes(combs[:6])
    assert len(area_from_shapes(combs[:5]).geoms) == 5
    # Twenty are refused before anything is counted or joined.
    with pytest.raises(AreaError, match="21,989 points together"):  # counted as read
        area_from_shapes(combs)


def star(lon: float, lat: float, points: int, long: float, short: float, turn=0.0) -> dict:
    """An outline of `points` long thin spikes round one centre."""
    ring = []
    for i in range(points * 2):
        angle = math.pi * i / points + turn
        reach = long if i % 2 == 0 else short
        ring.append([lon + reach * math.cos(angle), lat + reach * math.sin(angle) * 0.6])
    ring.append(ring[0])
    return {"kind": "polygon", "coordinates": [ring]}


def test_spiky_shapes_over_each_other_are_refused_without_counting_every_pair():
    """Found by an outside probe: twenty stars of long spikes round one point made
    counting the crossings test nearly every pair of segments: about a minute a
    preview, and eight at once held every thread of the web app for minutes. The
    pairs of segments whose boxes meet are counted first, and too many is refused."""
    stars = [star(-2.6, 51.45, 999, 0.05, 0.001, turn=k * 1e-3) for k in range(6)]
    with pytest.raises(AreaError, match="too intricate to join|cross each other too many"):
        area_from_shapes(stars)
    # One such star alone is a shape like any other; a circle beside it is joined.
    assert area_from_shapes(stars[:1]).area > 0
    circle = {"kind": "circle", "center": [-2.4, 51.45], "radius_m": 1000}
    assert len(area_from_shapes([stars[0], circle]).geoms) == 2


def test_the_pairs_of_segments_are_counted_however_few_the_crossings(monkeypatch):
    """A star inside another's spikes crosses nothing, yet its segments' boxes meet the
    other's in many pairs: past the budget, it is refused all the same."""
    from geo import areas

    outer = star(-2.6, 51.45, 300, 0.05, 0.01)
    inner = star(-2.6, 51.45, 300, 0.009, 0.001)
    assert len(area_from_shapes([outer, inner]).geoms) == 1  # within the budget
    monkeypatch.setattr(areas, "MAX_SEGMENT_PAIRS", 20_000)
    with pytest.raises(AreaError, match="too intricate to join quickly"):
        area_from_shapes([outer, inner])


def test_a_place_comes_from_the_callers_boundaries_and_can_be_cut_by_a_circle():
    square = Polygon([(358000, 172000), (360000, 172000), (360000, 174000), (358000, 174000)])
    boundaries = {7: square}
    area = area_from_shapes([{"kind": "place", "place_id": 7}], place_boundary=boundaries.get)
    assert area.area == pytest.approx(4_000_000)
    with pytest.raises(AreaError, match="no longer have"):
        area_from_shapes([{"kind": "place", "place_id": 8}], place_boundary=boundaries.get)
    with pytest.raises(AreaError, match="names no place"):
        area_from_shapes([{"kind": "place", "place_id": True}], place_boundary=boundaries.get)
    stored = clean_shapes([{"kind": "place", "place_id": 7, "name": "Ward", "extra": 1}])
    assert stored == [{"kind": "place", "exclude": False, "place_id": 7, "name": "Ward"}]


# --- every number in a shape is a real JSON number -----------------------------------

RING = [[-2.60, 51.44], [-2.58, 51.44], [-2.58, 51.46], [-2.60, 51.46], [-2.60, 51.44]]


def polygon(ring=RING):
    return {"kind": "polygon", "coordinates": [ring]}


COORDINATES = "Shape 1: coordinates must be numbers, not "
RADIUS = "Shape 1: the radius in metres must be a number, not "


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        # float() would turn each of these into a number; a hand-made request is wrong.
        (polygon([[-2.60, "51.44"], *RING[1:]]), COORDINATES + 'text ("51.44").'),
        ({"kind": "circle", "center": ["-2.59", 51.45], "radius_m": 500}, COORDINATES + "text"),
        ({"kind": "circle", "center": BRISTOL, "radius_m": "900"}, RADIUS + 'text ("900").'),
        # True is an int in Python, and float(True) is 1.0.
        ({"kind": "circle", "center": BRISTOL, "radius_m": True}, RADIUS + "true or false"),
        (polygon([[True, 51.44], *RING[1:]]), COORDINATES + "true or false (true)."),
        ({"kind": "circle", "center": [-2.59, None], "radius_m": 500}, COORDINATES + "empty"),
        # Python's JSON reader turns NaN, Infinity and 1e999 into floats, and reads
        # any number of digits into an int.
        (polygon([[math.nan, 51.44], *RING[1:]]), COORDINATES + "NaN."),
        ({"kind": "circle", "center": BRISTOL, "radius_m": math.inf}, RADIUS + "Infinity."),
        ({"kind": "circle", "center": BRISTOL, "radius_m": 10**400}, RADIUS + "a number too"),
        # An altitude is dropped, but only once it is known to be a number.
        (polygon([[-2.6, 51.44, "high"], *RING[1:]]), COORDINATES + 'text ("high").'),
    ],
)
def test_numbers_given_as_anything_but_numbers_are_refused_naming_the_value(shape, message):
    with pytest.raises(AreaError) as refused:
        area_from_shapes([shape])
    assert str(refused.value).startswith(message)


def test_the_message_names_which_shape():
    with pytest.raises(AreaError) as refused:
        area_from_shapes([polygon(), polygon([["x", 51.44], *RING[1:]])])
    assert str(refused.value) == 'Shape 2: coordinates must be numbers, not text ("x").'


def test_an_altitude_is_dropped_and_the_area_is_the_flat_one():
    flat = area_from_shapes([polygon()])
    with_altitude = area_from_shapes([polygon([[lon, lat, 87.5] for lon, lat in RING])])
    assert with_altitude.equals(flat)
    circle = area_from_shapes([{"kind": "circle", "center": [*BRISTOL, 12], "radius_m": 900}])
    assert circle.equals(area_from_shapes([{"kind": "circle", "center": BRISTOL, "radius_m": 900}]))
    stored = clean_shapes([polygon([[lon, lat, 87.5] for lon, lat in RING])])
    assert stored[0]["coordinates"] == [[list(p) for p in RING]]


def test_a_point_with_four_values_is_refused():
    with pytest.raises(AreaError, match="^Shape 1: a point has 4 values"):
        area_from_shapes([polygon([[lon, lat, 0, 0] for lon, lat in RING])])


def test_an_unclosed_outline_is_closed_and_noted():
    notes: list[str] = []
    area = area_from_shapes([polygon(), polygon(RING[:-1])], notes=notes)
    assert notes == [
        "Shape 2: the outline was not closed, so we joined its last point to its first."
    ]
    assert area.equals(area_from_shapes([polygon()]))
    assert clean_shapes([polygon(RING[:-1])])[0]["coordinates"] == [RING]
    closed: list[str] = []
    area_from_shapes([polygon()], notes=closed)
    assert closed == []


@pytest.mark.parametrize(
    ("coordinates", "message"),
    [
        (None, "no outline"),
        ([], "no outline"),
        (RING, "list of outlines"),  # one level too shallow
        ([[RING]], "list of outlines"),  # one level too deep (a MultiPolygon)
        ([[[-2.6], *RING[1:]]], "longitude and latitude"),
        ([[None, *RING[1:]]], "list of outlines"),
        ([[]], "three distinct"),
        ([[[-2.6, 95.0], *RING[1:]]], "outside Great Britain"),
        ([[[200.0, 51.4], *RING[1:]]], "outside Great Britain"),
    ],
)
def test_malformed_outlines_are_refused_with_a_message(coordinates, message):
    with pytest.raises(AreaError, match=message):
        area_from_shapes([{"kind": "polygon", "coordinates": coordinates}])
