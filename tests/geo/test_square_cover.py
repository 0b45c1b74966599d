"""square_cover splits an area into squares counted ahead (wholly inside, away from the
outline) and squares on the edge; the officer's preview is only exact if no point of the
area, or near its outline, falls in a square left out, and no point of an inside square
is outside the area or near its outline."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import Point, Polygon

from geo.areas import square_cover


def _squares(runs):
    return {(i, j) for i0, i1, j in runs for i in range(i0, i1 + 1)}


@settings(max_examples=60, deadline=None)
@given(
    corners=st.lists(
        st.tuples(st.floats(0, 6000), st.floats(0, 6000)), min_size=3, max_size=9, unique=True
    ),
    circle=st.booleans(),
    margin=st.sampled_from([0, 100, 250]),
    seed=st.integers(0, 1000),
)
def test_every_point_of_the_area_or_near_its_outline_is_in_a_square_of_the_cover(
    corners, circle, margin, seed
):
    if circle:
        area = Point(corners[0]).buffer(200 + corners[1][0] / 2, quad_segs=32)
    else:
        area = Polygon(corners).buffer(0)
        if area.is_empty or area.area < 1:
            return
    size = 500
    cover = square_cover(area.wkb, size, margin)
    inside, edge = _squares(cover.inside), _squares(cover.edge)
    assert not inside & edge
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = area.bounds
    points = [
        Point(x, y) for x, y in rng.uniform((x0 - 300, y0 - 300), (x1 + 300, y1 + 300), (400, 2))
    ]
    # Points on the outline and its corners too: they belong to the area.
    points += [Point(c) for c in area.exterior.coords] if hasattr(area, "exterior") else []
    for point in points:
        square = (math.floor(point.x / size), math.floor(point.y / size))
        near = area.boundary.distance(point) <= margin
        if area.intersects(point) or near:
            assert square in inside | edge
        if square in inside:
            assert area.intersects(point) and not near
