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


# "Confirmed": at least one way to reach them that they proved is theirs and have not
# stopped (a paused resident still counts: they are registered), as on the reach
# report. A resident is counted once per square, in each square they registered a
# place in. `filtered` is the same count for those the filter keeps: on the channel
# (confirmed, not stopped) or in the group.
_SQUARES = """
WITH confirmed AS (
    SELECT c.resident_id, array_agg(DISTINCT c.channel) AS channels
    FROM resident_channels c
    WHERE c.verified_at IS NOT NULL AND c.unsubscribed_at IS NULL
    GROUP BY c.resident_id
), located AS (
    SELECT DISTINCT
        floor(ST_X(l.location) / :cell_m)::int AS i,
        floor(ST_Y(l.location) / :cell_m)::int AS j,
        l.resident_id,
        {kept} AS kept
    FROM resident_locations l
    JOIN confirmed ON confirmed.resident_id = l.resident_id
), squares AS (
    SELECT i, j, count(*) AS residents, count(*) FILTER (WHERE kept) AS filtered
    FROM located GROUP BY i, j
)
SELECT i, j, residents, filtered,
    ST_AsGeoJSON(ST_Transform(ST_MakeEnvelope(
        i * :cell_m, j * :cell_m, (i + 1) * :cell_m, (j + 1) * :cell_m, {bng}), {wgs84}), 6)
FROM squares ORDER BY i, j
"""

_KEPT = {
    None: "true",
    "channel": "(:value = ANY(confirmed.channels))",
    "group": (
        "EXISTS (SELECT 1 FROM resident_groups rg JOIN interest_groups g ON g.id = rg.group_id"
        " WHERE rg.resident_id = l.resident_id AND g.slug = :value)"
    ),
}


def find_square_counts(
    session, *, cell_m: int, kind: str | None = None, value: str | None = None
) -> list[SquareCount]:
    """Every square with a confirmed resident in it (none is left out here: the
    service decides what may be shown), with the count the filter keeps: `kind`
    "channel" or "group" and its `value`, or no filter (filtered == residents)."""
    sql = _SQUARES.format(kept=_KEPT[kind], bng=BNG, wgs84=WGS84)
    params = {"cell_m": cell_m}
    if kind is not None:
        params["value"] = value
    rows = session.execute(text(sql), params).all()
    return [SquareCount(i, j, n, f, geometry) for i, j, n, f, geometry in rows]


def find_interest_groups(session) -> list[tuple[str, str]]:
    """(slug, name) of every interest group the force offers, by name."""
    return [
        (slug, name)
        for slug, name in session.execute(
            text("SELECT slug, name FROM interest_groups ORDER BY name, slug")
        ).all()
    ]
