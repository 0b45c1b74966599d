"""The analysts' precomputed figures: when each set was last counted, and the SQL
that recounts it. Each recount replaces the set in the caller's transaction, so a
page reads either the old set or the new one, never half of each."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text


def find_refreshed_at(session, name: str) -> datetime | None:
    return session.execute(
        text("SELECT refreshed_at FROM figure_refreshes WHERE name = :name"), {"name": name}
    ).scalar()


def find_all_refreshed_at(session) -> dict[str, datetime]:
    return dict(session.execute(text("SELECT name, refreshed_at FROM figure_refreshes")).all())


def lock_figure(session, name: str) -> None:
    """One recount of a set at a time (until the transaction ends), however many
    sweepers and pages ask at once."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('figures:' || :name))"), {"name": name}
    )


def mark_refreshed(session, name: str, took_ms: int) -> datetime:
    return session.execute(
        text(
            "INSERT INTO figure_refreshes (name, refreshed_at, took_ms)"
            " VALUES (:name, now(), :took)"
            " ON CONFLICT (name) DO UPDATE"
            " SET refreshed_at = excluded.refreshed_at, took_ms = excluded.took_ms"
            " RETURNING refreshed_at"
        ),
        {"name": name, "took": took_ms},
    ).scalar_one()


# "Confirmed": at least one way to reach them that they proved is theirs and have not
# stopped (a paused resident still counts: they are registered), as on the reach
# report. A resident is counted once per square, in each square they registered a
# place in; per channel when that channel is confirmed and not stopped; per group when
# they are in it.
_DENSITY_SQUARES = """
INSERT INTO density_squares (cell_m, filter_kind, filter_value, i, j, residents)
WITH confirmed AS (
    SELECT c.resident_id, array_agg(DISTINCT c.channel::text) AS channels
    FROM resident_channels c
    WHERE c.verified_at IS NOT NULL AND c.unsubscribed_at IS NULL
    GROUP BY c.resident_id
), located AS MATERIALIZED (
    SELECT DISTINCT
        floor(ST_X(l.location) / :cell_m)::int AS i,
        floor(ST_Y(l.location) / :cell_m)::int AS j,
        l.resident_id, confirmed.channels
    FROM resident_locations l
    JOIN confirmed ON confirmed.resident_id = l.resident_id
)
SELECT :cell_m, '', '', i, j, count(*) FROM located GROUP BY i, j
UNION ALL
SELECT :cell_m, 'channel', ch, i, j, count(*)
FROM located, unnest(channels) ch GROUP BY ch, i, j
UNION ALL
SELECT :cell_m, 'group', g.slug, l.i, l.j, count(*)
FROM located l
JOIN resident_groups rg ON rg.resident_id = l.resident_id
JOIN interest_groups g ON g.id = rg.group_id
GROUP BY g.slug, l.i, l.j
"""


def recount_density_squares(session, cell_m: int) -> None:
    """Every square's confirmed residents at this cell size, for everyone, each
    channel and each group; squares of other sizes (a size changed in the settings)
    are dropped."""
    session.execute(text("DELETE FROM density_squares"))
    session.execute(text(_DENSITY_SQUARES), {"cell_m": cell_m})


# Each confirmed resident counted once, at the first place they registered (their
# home, as a rule): a population counts people where they live, and one count per
# resident makes a district exactly the sum of its wards. "Confirmed": a way to reach
# them that they proved is theirs and have not stopped (a paused resident still
# counts: they are registered). The ward is the one the postcode directory gives the
# postcode (ONS assigns each postcode to one ward); without one (a postcode the
# directory no longer has, or holds without codes) the ward boundary the point falls
# in, by code; the district likewise.
_WARD_RESIDENTS = """
INSERT INTO ward_residents (ward_code, district_code, residents)
WITH counted AS (
    SELECT DISTINCT ON (rl.resident_id) rl.resident_id, rl.postcode, rl.location
    FROM resident_locations rl
    WHERE EXISTS (
        SELECT 1 FROM resident_channels c
        WHERE c.resident_id = rl.resident_id
          AND c.verified_at IS NOT NULL AND c.unsubscribed_at IS NULL
    )
    ORDER BY rl.resident_id, rl.id
), placed AS (
    SELECT
        COALESCE(
            p.admin_ward_code,
            (SELECT w.code FROM places w
             WHERE w.kind = 'ward' AND ST_Covers(w.boundary, counted.location)
             ORDER BY w.release DESC, w.code LIMIT 1)
        ) AS ward_code,
        COALESCE(
            p.admin_district_code,
            (SELECT d.code FROM places d
             WHERE d.kind = 'district' AND ST_Covers(d.boundary, counted.location)
             ORDER BY d.release DESC, d.code LIMIT 1)
        ) AS district_code
    FROM counted
    LEFT JOIN postcodes p ON p.postcode = counted.postcode
)
SELECT coalesce(ward_code, ''), coalesce(district_code, ''), count(*)
FROM placed GROUP BY 1, 2
"""


def recount_ward_residents(session) -> None:
    session.execute(text("DELETE FROM ward_residents"))
    session.execute(text(_WARD_RESIDENTS))
