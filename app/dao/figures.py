"""The analysts' precomputed figures: when each set was last counted, and the SQL
that recounts it. Each recount replaces the set in the caller's transaction, so a
page reads either the old set or the new one, never half of each."""

# Only this module's constant fragments are put into the SQL; values are bound.
# ruff: noqa: S608

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from app.dao.locks import lock_until_commit


def find_refreshed_at(session, name: str) -> datetime | None:
    return session.execute(
        text("SELECT refreshed_at FROM figure_refreshes WHERE name = :name"), {"name": name}
    ).scalar()


def find_all_refreshed_at(session) -> dict[str, datetime]:
    return dict(session.execute(text("SELECT name, refreshed_at FROM figure_refreshes")).all())


def lock_figure(session, name: str) -> None:
    """One recount of a set at a time (until the transaction ends), however many
    sweepers and pages ask at once."""
    lock_until_commit(session, f"figures:{name}")


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
# they are in it. By force: the force of their place in the square (migration 0034),
# each force's analysts reading their own.
_DENSITY_SQUARES = """
INSERT INTO density_squares (cell_m, force_id, filter_kind, filter_value, i, j, residents)
WITH confirmed AS (
    SELECT c.resident_id, array_agg(DISTINCT c.channel::text) AS channels
    FROM resident_channels c
    WHERE c.verified_at IS NOT NULL AND c.unsubscribed_at IS NULL
    GROUP BY c.resident_id
), located AS MATERIALIZED (
    SELECT DISTINCT
        coalesce(l.force_id, 0) AS force_id,
        floor(ST_X(l.location) / :cell_m)::int AS i,
        floor(ST_Y(l.location) / :cell_m)::int AS j,
        l.resident_id, confirmed.channels
    FROM resident_locations l
    JOIN confirmed ON confirmed.resident_id = l.resident_id
)
SELECT :cell_m, force_id, '', '', i, j, count(*) FROM located GROUP BY force_id, i, j
UNION ALL
SELECT :cell_m, force_id, 'channel', ch, i, j, count(*)
FROM located, unnest(channels) ch GROUP BY force_id, ch, i, j
UNION ALL
SELECT :cell_m, l.force_id, 'group', g.slug, l.i, l.j, count(*)
FROM located l
JOIN resident_groups rg ON rg.resident_id = l.resident_id
JOIN interest_groups g ON g.id = rg.group_id
GROUP BY l.force_id, g.slug, l.i, l.j
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


# --- the sent report: settled alerts counted once ------------------------------------

# When a message arrived, as far as the ledger knows (as app/dao/reports.py reads it).
ARRIVED = """
    CASE WHEN d.status = 'delivered' THEN coalesce(d.finished_at, d.sent_at)
         WHEN d.channel = 'email' AND d.status = 'sent' THEN d.sent_at
    END
"""

# When a message's alert was released to its resident: the alert's release, or later
# for a neighbouring force's residents, when it approved (deliveries.released_at).
RELEASED = "coalesce(d.released_at, a.sent_at)"

# Alerts released at least :settled_s seconds ago, none of whose deliveries is still
# on its way, and not counted since (or un-counted by a late change).
_SETTLED = """
SELECT a.id FROM alerts a
LEFT JOIN alert_figures f ON f.alert_id = a.id
WHERE a.sent_at < now() - make_interval(secs => :settled_s)
  AND (f.alert_id IS NULL OR f.deliveries_at IS NULL)
  AND NOT EXISTS (
      SELECT 1 FROM deliveries d
      WHERE d.alert_id = a.id AND d.status IN ('queued', 'sending', 'unknown')
  )
ORDER BY a.sent_at
LIMIT :limit
"""

_DELIVERY_TOTALS = f"""
INSERT INTO alert_delivery_totals (alert_id, channel, status, reason, messages, segments,
    billed_minutes, within_s, within, last_arrived_s)
SELECT d.alert_id, d.channel, d.status,
       CASE WHEN d.status = 'failed' THEN coalesce(d.reason, '') ELSE '' END,
       count(*), coalesce(sum(d.segments), 0),
       coalesce(sum(ceil(d.duration_seconds / 60.0)), 0),
       :within_s,
       count(*) FILTER (WHERE t.arrived <= {RELEASED} + make_interval(secs => :within_s)),
       extract(epoch FROM max(t.arrived - {RELEASED}))
FROM alerts a
JOIN deliveries d ON d.alert_id = a.id
CROSS JOIN LATERAL (SELECT {ARRIVED} AS arrived) t
WHERE a.id = ANY(:ids)
GROUP BY d.alert_id, a.sent_at, d.channel, d.status, 4
"""

# The share of a ward's people inside an alert's area `a` (ward `w`): the share of
# its live postcodes there, people living where the postcodes are; by area only for a
# ward with none loaded. By area alone, a village's circle in a large rural ward held
# 105 of its adults where 258 residents were messaged (19% of its postcodes in 1.3% of
# its area: an outside check).
WARD_SHARE_INSIDE = """coalesce(
       (SELECT count(*) FILTER (WHERE ST_Intersects(p.location, a.area))::float8
               / NULLIF(count(*), 0)
        FROM postcodes p
        WHERE ST_Intersects(p.location, w.boundary) AND p.terminated_on IS NULL),
       ST_Area(ST_Intersection(w.boundary, a.area)) / NULLIF(ST_Area(w.boundary), 0),
       0)"""

_AREA_WARDS = f"""
INSERT INTO alert_area_wards (alert_id, ward_code, share_inside, inside_m2, alert_area_m2)
SELECT a.id, w.code,
       {WARD_SHARE_INSIDE},
       coalesce(ST_Area(ST_Intersection(w.boundary, a.area)), 0),
       coalesce(ST_Area(a.area), 0)
FROM alerts a
JOIN places w ON w.kind = 'ward' AND ST_Intersects(w.boundary, a.area)
WHERE a.id = ANY(:ids)
  AND NOT EXISTS (SELECT 1 FROM places n WHERE n.kind = 'ward'
                  AND n.code = w.code AND n.release > w.release)
"""


def count_settled_alerts(
    session, *, settled_s: float, within_s: float, limit: int, gap_s: float
) -> int:
    """Count the deliveries of up to `limit` settled alerts once, per channel, status
    and reason; how many alerts were counted. A settled alert is first noticed (its
    alert_figures row made) and counted from `gap_s` seconds later; its row is locked
    before its deliveries are read (see migration 0029 for why both)."""
    # Counted with another speed mark (the report's changed): count them all again.
    session.execute(
        text(
            "UPDATE alert_figures SET deliveries_at = NULL WHERE alert_id IN ("
            " SELECT alert_id FROM alert_delivery_totals WHERE within_s <> :within_s)"
        ),
        {"within_s": within_s},
    )
    settled = list(session.scalars(text(_SETTLED), {"settled_s": settled_s, "limit": limit}))
    if not settled:
        return 0
    session.execute(
        text(
            "INSERT INTO alert_figures (alert_id)"
            " SELECT unnest(CAST(:ids AS integer[])) ON CONFLICT (alert_id) DO NOTHING"
        ),
        {"ids": settled},
    )
    ids = list(
        session.scalars(
            text(
                "SELECT alert_id FROM alert_figures WHERE alert_id = ANY(:ids)"
                " AND noticed_at <= now() - make_interval(secs => :gap)"
                " ORDER BY alert_id FOR UPDATE"
            ),
            {"ids": settled, "gap": gap_s},
        )
    )
    if not ids:
        return 0
    session.execute(
        text("DELETE FROM alert_delivery_totals WHERE alert_id = ANY(:ids)"), {"ids": ids}
    )
    session.execute(text(_DELIVERY_TOTALS), {"ids": ids, "within_s": within_s})
    # Still settled now that the rows are locked (a retry may have come in between).
    session.execute(
        text(
            "UPDATE alert_figures f SET deliveries_at = now() WHERE f.alert_id = ANY(:ids)"
            " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = f.alert_id"
            " AND d.status IN ('queued', 'sending', 'unknown'))"
        ),
        {"ids": ids},
    )
    return len(ids)


def count_alert_again(session, alert_id: int) -> None:
    """The alert's deliveries counted again once it settles again (some were queued
    again): until then the report reads them from the ledger."""
    session.execute(
        text("UPDATE alert_figures SET deliveries_at = NULL WHERE alert_id = :id"),
        {"id": alert_id},
    )


def measure_alert_areas(session, *, limit: int) -> int:
    """The wards the areas of up to `limit` released alerts overlap, for alerts not
    measured since the last boundaries or postcodes were loaded; how many alerts."""
    ids = list(
        session.scalars(
            text(
                "SELECT a.id FROM alerts a LEFT JOIN alert_figures f ON f.alert_id = a.id"
                " WHERE a.sent_at IS NOT NULL AND a.area IS NOT NULL"
                " AND (f.wards_at IS NULL"
                "      OR f.wards_at < (SELECT max(loaded_at) FROM data_loads))"
                " ORDER BY a.sent_at LIMIT :limit"
            ),
            {"limit": limit},
        )
    )
    if not ids:
        return 0
    session.execute(text("DELETE FROM alert_area_wards WHERE alert_id = ANY(:ids)"), {"ids": ids})
    session.execute(text(_AREA_WARDS), {"ids": ids})
    session.execute(
        text(
            "INSERT INTO alert_figures (alert_id, wards_at)"
            " SELECT unnest(CAST(:ids AS integer[])), now()"
            " ON CONFLICT (alert_id) DO UPDATE SET wards_at = excluded.wards_at"
        ),
        {"ids": ids},
    )
    return len(ids)
