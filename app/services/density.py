"""Resident density in square grid cells, with small counts suppressed."""

from __future__ import annotations

import json

from app.dao.targeting import find_grid_squares
from app.extensions import db

DENSITY_CELL_SIZES_M = (250, 500, 1000, 2000, 5000)  # what DENSITY_CELL_M may be


def resident_density(cell_m: int, min_count: int) -> dict:
    """A GeoJSON FeatureCollection of cells (WGS84) with the residents counted in each.

    Cells are aligned to the national grid (multiples of cell_m metres), so they never
    move between requests, and cells with fewer than min_count residents are left out:
    a cell of one or two points at a household. Counts distinct residents per cell.
    """
    if cell_m not in DENSITY_CELL_SIZES_M:
        raise ValueError(f"cell_m must be one of {DENSITY_CELL_SIZES_M}")
    squares = find_grid_squares(db.session, cell_m=cell_m, min_count=min_count)
    db.session.rollback()
    features = [
        {"type": "Feature", "properties": {"residents": n}, "geometry": json.loads(geometry)}
        for n, geometry in squares.shown
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "cell_m": cell_m,
        "min_count": min_count,
        "suppressed_cells": squares.hidden,
        "max_residents": max((n for n, _ in squares.shown), default=0),
    }
