"""Every place given its force again in a few statements, not resident by resident.

reassign_location_forces() (migration 0034) runs when a force is added or its area is
reloaded. It asked location_force() of every place (for 5,100,000 places, a quarter of
an hour), and its update woke the places' statement trigger, which rebuilt the targets
of every moved resident through one array (still running after 30 minutes).

Now the same rules are applied to every place at once: a place whose postcode's
district exactly one force names is that force's (a join); a place whose district no
force names is the first force's whose area covers its point, else the nearest force's,
each found through the spatial index of the force areas cut into small pieces; only a
place in a district two forces name asks location_force() itself. The answer is the
one location_force() gives (tests/test_forces.py checks every place).

The moved places are kept in a temporary table; the places and their targets are
updated in one statement each, with the trigger told to stand aside (a setting local to
the transaction), and the squares counted ahead lose the moved places' old squares and
gain the new. Residents who
stopped hearing from a force (migration 0036) have their targets rebuilt as any change
would, since a moved place may now be, or no longer be, in a force they stopped.

It holds the places and targets tables against writes meanwhile (registrations wait),
taking them only when no resident's change is under way (without waiting while holding
one, so never deadlocked with one): an administrator's action at a quiet hour, as
reordering the targets is.

Revision ID: 0040
Revises: 0039
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None

SETTING = "community_alerts.reassigning_forces"


def _migration(name: str):
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _squares(sign: str) -> str:
    # The moved places' simple targets, counted out of (or into) their squares.
    one_each = _migration("0034_forces.py")._one_each(
        "simple AND location_id IN (SELECT id FROM moved_places)"
    )
    return f"""
    INSERT INTO target_squares AS s (force_id, i, j, group_ids, channels, n)
    SELECT force_id, i, j, group_ids, channels, {sign} count(*)
    FROM ({one_each}) AS one_each
    GROUP BY force_id, i, j, group_ids, channels
    ORDER BY force_id, j, i, group_ids, channels
    ON CONFLICT (force_id, j, i, group_ids, channels) DO UPDATE SET n = s.n + excluded.n;"""  # noqa: S608 (constants only, no input)


REASSIGN = f"""
CREATE FUNCTION reassign_location_forces(wait_seconds integer DEFAULT 300) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    moved integer;
    started timestamptz := clock_timestamp();
    bucket integer;
    busy text;
BEGIN
    -- The places, targets and squares held against writes, all three or none: a
    -- resident's change takes them in either order (a sign-up writes targets before
    -- places, a moved place the places first), so waiting for one while holding
    -- another could deadlock with it. Try for all of them without waiting; between
    -- tries, wait for each table alone, holding nothing (no change can be waiting for
    -- us then, and a vacuum in the way is cancelled for us, as for any waiter).
    LOOP
        BEGIN
            LOCK TABLE resident_locations, targets IN SHARE ROW EXCLUSIVE MODE NOWAIT;
            LOCK TABLE target_squares IN EXCLUSIVE MODE NOWAIT;
            -- And the address buckets refresh_targets takes (migration 0031), which the
            -- residents rebuilt at the end need.
            FOR bucket IN 0..63 LOOP
                IF NOT pg_try_advisory_xact_lock(1716, bucket) THEN
                    RAISE lock_not_available;
                END IF;
            END LOOP;
            EXIT;
        EXCEPTION WHEN lock_not_available THEN
            IF clock_timestamp() - started > make_interval(secs => wait_seconds) THEN
                RAISE EXCEPTION 'Residents changed without a pause for % s: reassign places '
                    'to forces at a quieter time.', wait_seconds
                    USING ERRCODE = 'lock_not_available';
            END IF;
        END;
        FOREACH busy IN ARRAY ARRAY['resident_locations', 'targets', 'target_squares'] LOOP
            BEGIN
                -- Local to this block: undone with it.
                PERFORM set_config('lock_timeout', '2s', true);
                EXECUTE format('LOCK TABLE %I IN SHARE ROW EXCLUSIVE MODE', busy);
                RAISE SQLSTATE 'CA001';  -- got it: give it back with the block
            EXCEPTION WHEN lock_not_available OR SQLSTATE 'CA001' THEN
                NULL;
            END;
        END LOOP;
        PERFORM pg_sleep(0.05);
    END LOOP;
    DROP TABLE IF EXISTS pg_temp.force_areas, pg_temp.force_pieces, pg_temp.moved_places;
    CREATE TEMP TABLE force_areas ON COMMIT DROP AS
    SELECT f.id AS force_id, area.properties, area.boundary
    FROM forces f
    CROSS JOIN LATERAL (
        SELECT p.properties, p.boundary FROM places p
        WHERE p.kind = 'force' AND p.code = f.code
        ORDER BY p.release DESC LIMIT 1
    ) AS area;
    -- The areas cut small, so a point's covering or nearest force is an index lookup.
    CREATE TEMP TABLE force_pieces ON COMMIT DROP AS
    SELECT force_id, ST_Subdivide(boundary, 128) AS piece FROM force_areas;
    CREATE INDEX ON force_pieces USING gist (piece);
    ANALYZE force_pieces;
    CREATE TEMP TABLE moved_places ON COMMIT DROP AS
    WITH districts AS (
        -- Each district, how many forces name it, and the first (as location_force()
        -- reads them).
        SELECT d.code, min(a.force_id) AS force_id, count(*) AS forces
        FROM (SELECT DISTINCT admin_district_code AS code FROM postcodes
              WHERE admin_district_code IS NOT NULL) AS d
        JOIN force_areas a ON coalesce(a.properties -> 'constituent_lad23cd' ? d.code, false)
        GROUP BY d.code
    ),
    placed AS (
        SELECT l.id, l.resident_id, l.force_id AS was, l.postcode, l.location,
               coalesce(d.forces, 0) AS forces, d.force_id AS by_district
        FROM resident_locations l
        LEFT JOIN postcodes pc ON pc.postcode = l.postcode
        LEFT JOIN districts d ON d.code = pc.admin_district_code
    ),
    decided AS (
        SELECT p.id, p.resident_id, p.was,
               CASE
                   -- The one force naming the district.
                   WHEN p.forces = 1 THEN p.by_district
                   -- Named by none: the first force whose area covers the point, else
                   -- the nearest.
                   WHEN p.forces = 0 AND p.location IS NOT NULL THEN coalesce(
                       (SELECT min(c.force_id) FROM force_pieces c
                        WHERE ST_Covers(c.piece, p.location)),
                       (SELECT c.force_id FROM force_pieces c
                        ORDER BY c.piece <-> p.location, c.force_id LIMIT 1))
                   -- Named by several (two forces claiming one district): one by one.
                   ELSE location_force(p.postcode, p.location)
               END AS force_id
        FROM placed p
    )
    SELECT id, resident_id, force_id FROM decided WHERE was IS DISTINCT FROM force_id;
    SELECT count(*) INTO moved FROM moved_places;
    IF moved = 0 THEN
        RETURN 0;
    END IF;
    ANALYZE moved_places;
    {_squares("-")}
    PERFORM set_config('{SETTING}', 'on', true);
    UPDATE resident_locations l SET force_id = m.force_id
    FROM moved_places m WHERE l.id = m.id;
    PERFORM set_config('{SETTING}', '', true);
    UPDATE targets t SET force_id = m.force_id
    FROM moved_places m WHERE t.location_id = m.id;
    {_squares("")}
    PERFORM refresh_targets(ARRAY(
        SELECT DISTINCT m.resident_id FROM moved_places m
        JOIN resident_force_stops s ON s.resident_id = m.resident_id));
    RETURN moved;
END $$;
"""  # noqa: S608 (constants only, no input)

# Migration 0034's trigger function on places, standing aside while the function above
# keeps the targets itself.
_LOCATIONS_UPDATED = _migration("0034_forces.py").LOCATIONS_UPDATED.format(
    columns="location, force_id"
)
LOCATIONS_UPDATED = _LOCATIONS_UPDATED.replace(
    "LANGUAGE plpgsql AS $$ BEGIN\n",
    "LANGUAGE plpgsql AS $$ BEGIN\n"
    f"    IF current_setting('{SETTING}', true) = 'on' THEN\n"
    "        RETURN NULL;\n"
    "    END IF;\n",
)
assert LOCATIONS_UPDATED != _LOCATIONS_UPDATED


def upgrade() -> None:
    op.execute(LOCATIONS_UPDATED)
    op.execute("DROP FUNCTION reassign_location_forces()")
    op.execute(REASSIGN)


def downgrade() -> None:
    old = _migration("0034_forces.py")
    op.execute(_LOCATIONS_UPDATED)
    op.execute("DROP FUNCTION IF EXISTS reassign_location_forces(integer)")
    op.execute("DROP FUNCTION IF EXISTS reassign_location_forces()")
    op.execute(old.REASSIGN)
