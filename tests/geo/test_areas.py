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
        ([{"kind": "circle", "center": ["x", 1], "radius_m": 500}], "longitude and latitude"),
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
        ([{"kind": "hexagon"}], "unknown kind"),
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
