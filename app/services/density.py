"""Resident density in square grid cells, with small counts suppressed."""

from __future__ import annotations

import json

from sqlalchemy import text

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
    rows = db.session.execute(
        text(
            """
            WITH cells AS (
                SELECT floor(ST_X(location) / :cell) AS i, floor(ST_Y(location) / :cell) AS j,
                       count(DISTINCT resident_id) AS residents
                FROM resident_locations
                GROUP BY 1, 2
            )
            SELECT residents,
                   ST_AsGeoJSON(ST_Transform(ST_MakeEnvelope(i * :cell, j * :cell,
                       (i + 1) * :cell, (j + 1) * :cell, 27700), 4326), 6)
            FROM cells
            WHERE residents >= :min_count
            """
        ),
        {"cell": cell_m, "min_count": min_count},
    ).all()
    hidden = db.session.scalar(
        text(
            """
            SELECT count(*) FROM (
                SELECT 1 FROM resident_locations
                GROUP BY floor(ST_X(location) / :cell), floor(ST_Y(location) / :cell)
                HAVING count(DISTINCT resident_id) < :min_count) small
            """
        ),
        {"cell": cell_m, "min_count": min_count},
    )
    db.session.rollback()
    features = [
        {"type": "Feature", "properties": {"residents": n}, "geometry": json.loads(geometry)}
        for n, geometry in rows
    ]
    return {
        "type": "FeatureCollection",
        "features": features,
        "cell_m": cell_m,
        "min_count": min_count,
        "suppressed_cells": hidden,
        "max_residents": max((n for n, _ in rows), default=0),
    }
