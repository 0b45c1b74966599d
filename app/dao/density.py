"""Residents per national-grid square for the analysts' density map, with an optional
filter (one interest group or one channel). Reads that never commit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text

from geo.projection import BNG, WGS84


@dataclass(frozen=True)
class SquareCount:
    """One square of the grid: its place (i, j: multiples of the cell size), every
    confirmed resident with a location in it, those of them the filter keeps, and its
    outline as GeoJSON (WGS84)."""

    i: int
    j: int
    residents: int
    filtered: int
    geometry: str


# The squares are counted ahead (app/dao/figures.py, density_squares): `filtered` is
# the square's count in the filter's own rows, 0 where the filter keeps nobody.
_SQUARES = """
SELECT a.i, a.j, a.residents,
    CASE WHEN :kind = '' THEN a.residents ELSE coalesce(f.residents, 0) END,
    ST_AsGeoJSON(ST_Transform(ST_MakeEnvelope(
        a.i * :cell_m, a.j * :cell_m, (a.i + 1) * :cell_m, (a.j + 1) * :cell_m, {bng}),
        {wgs84}), 6)
FROM density_squares a
LEFT JOIN density_squares f
  ON f.cell_m = a.cell_m AND f.force_id = a.force_id
 AND f.filter_kind = :kind AND f.filter_value = :value
 AND f.i = a.i AND f.j = a.j
WHERE a.cell_m = :cell_m AND a.force_id = :force_id AND a.filter_kind = ''
ORDER BY a.i, a.j
"""


def find_square_counts(
    session, *, cell_m: int, force_id: int, kind: str | None = None, value: str | None = None
) -> list[SquareCount]:
    """Every square with a confirmed resident in it (none is left out here: the
    service decides what may be shown), with the count the filter keeps: `kind`
    "channel" or "group" and its `value`, or no filter (filtered == residents), as
    last counted."""
    sql = _SQUARES.format(bng=BNG, wgs84=WGS84)
    params = {"cell_m": cell_m, "force_id": force_id, "kind": kind or "", "value": value or ""}
    rows = session.execute(text(sql), params).all()
    return [SquareCount(i, j, n, f, geometry) for i, j, n, f, geometry in rows]


def find_interest_groups(session) -> list[tuple[str, str, str | None]]:
    """(slug, name, Welsh name) of every interest group the force offers, by name."""
    return [
        (slug, name, name_cy)
        for slug, name, name_cy in session.execute(
            text("SELECT slug, name, name_cy FROM interest_groups ORDER BY name, slug")
        ).all()
    ]
