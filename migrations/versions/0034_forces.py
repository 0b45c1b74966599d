"""Forces as data: one installation serves several police forces.

A force is a row of `forces` (its name, contact details, consent wording, prices); its
area is the newest `places` row of kind "force" with its ONS code. The installation's
first force is made from its FORCE_* settings, and marked the default: what a
single-force installation was before, and what a new officer, team or alert belongs
to unless a service says otherwise (default_force_id()).

Staff, teams, templates and alerts belong to one force. A resident belongs to no force:
each of their places does, decided by PostgreSQL when the place is saved
(location_force): the force whose districts hold the postcode, as the law draws force
areas; or, for a postcode no district names, the force whose boundary covers its point;
or else the nearest force, so a coastal postcode just outside a generalised boundary is
still its force's. The targets and the squares counted ahead carry the place's force,
so an officer's preview and send reach only their own force's residents, found by the
same index as before.

Revision ID: 0034
Revises: 0033
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None

SQUARE_M = 500


def _migration_0031():
    path = Path(__file__).with_name("0031_target_squares.py")
    spec = importlib.util.spec_from_file_location("migration_0031", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LOCATION_FORCE = """
CREATE FUNCTION location_force(text, geometry) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT f.id
    FROM forces f
    CROSS JOIN LATERAL (
        SELECT p.boundary, p.properties FROM places p
        WHERE p.kind = 'force' AND p.code = f.code
        ORDER BY p.release DESC LIMIT 1
    ) AS area
    LEFT JOIN postcodes pc ON pc.postcode = $1
    ORDER BY
        coalesce(area.properties -> 'constituent_lad23cd' ? pc.admin_district_code, false) DESC,
        ST_Covers(area.boundary, $2) DESC,
        ST_Distance(area.boundary, $2),
        f.id
    LIMIT 1
$$;
"""

# A place's force, decided whenever its postcode or point is written.
LOCATION_FORCE_TRIGGER = """
CREATE FUNCTION resident_locations_set_force() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.force_id := location_force(NEW.postcode, NEW.location);
    RETURN NEW;
END $$;
CREATE TRIGGER resident_locations_set_force
    BEFORE INSERT OR UPDATE OF postcode, location ON resident_locations
    FOR EACH ROW EXECUTE FUNCTION resident_locations_set_force();
"""

# Every place's force decided again: after a force is added or its area reloaded.
REASSIGN = """
CREATE FUNCTION reassign_location_forces() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    moved integer;
BEGIN
    UPDATE resident_locations l SET force_id = v.force_id
    FROM (SELECT id, location_force(postcode, location) AS force_id
          FROM resident_locations) AS v
    WHERE l.id = v.id AND l.force_id IS DISTINCT FROM v.force_id;
    GET DIAGNOSTICS moved = ROW_COUNT;
    RETURN moved;
END $$;
"""


def _one_each(which: str) -> str:
    # As migration 0031's, by force too.
    return f"""
        SELECT coalesce(force_id, 0) AS force_id,
               floor(ST_X(location) / {SQUARE_M})::integer AS i,
               floor(ST_Y(location) / {SQUARE_M})::integer AS j,
               group_ids,
               array_agg(channel::text ORDER BY channel) AS channels
        FROM targets
        WHERE {which}
        GROUP BY resident_id, location_id, 1, 2, 3, group_ids
    """  # noqa: S608 (constants only, no input)


ADD = f"""
CREATE FUNCTION target_squares_add(ids integer[], sign integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO target_squares AS s (force_id, i, j, group_ids, channels, n)
    SELECT force_id, i, j, group_ids, channels, sign * count(*)
    FROM ({_one_each("resident_id = ANY(ids) AND simple")}) AS one_each
    GROUP BY force_id, i, j, group_ids, channels
    -- In the key's order, so two transactions lock the squares they share in one order.
    ORDER BY force_id, j, i, group_ids, channels
    ON CONFLICT (force_id, j, i, group_ids, channels) DO UPDATE SET n = s.n + excluded.n;
END $$;
"""  # noqa: S608 (constants only, no input)

REBUILD = """
    DELETE FROM targets WHERE resident_id = ANY(ids);
    INSERT INTO targets (resident_id, location_id, channel, address, group_ids, location,
                         force_id)
    SELECT c.resident_id, l.id, c.channel, c.address,
           coalesce((SELECT array_agg(g.group_id ORDER BY g.group_id)
                     FROM resident_groups g WHERE g.resident_id = c.resident_id), '{}'),
           l.location, l.force_id
    FROM resident_channels c
    JOIN residents r ON r.id = c.resident_id AND r.paused_at IS NULL
    JOIN resident_locations l ON l.resident_id = c.resident_id
    WHERE c.resident_id = ANY(ids)
      AND c.unsubscribed_at IS NULL
      AND c.verified_at IS NOT NULL;
"""

RECOUNT = f"""
CREATE FUNCTION recount_target_squares() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE targets IN SHARE ROW EXCLUSIVE MODE;
    LOCK TABLE target_squares IN EXCLUSIVE MODE;
    UPDATE targets t SET simple = v.simple
    FROM (
        SELECT resident_id, bool_and(alone) AND count(DISTINCT location_id) = 1 AS simple
        FROM (
            SELECT resident_id, location_id,
                   count(*) OVER (PARTITION BY channel, address) = 1 AS alone
            FROM targets
        ) AS each_row
        GROUP BY resident_id
    ) AS v
    WHERE t.resident_id = v.resident_id AND t.simple <> v.simple;
    DELETE FROM target_squares;
    INSERT INTO target_squares (force_id, i, j, group_ids, channels, n)
    SELECT force_id, i, j, group_ids, channels, count(*)
    FROM ({_one_each("simple")}) AS one_each
    GROUP BY force_id, i, j, group_ids, channels;
END $$;
"""  # noqa: S608 (constants only, no input)

# A place's force is watched as its point is: a change rebuilds its resident's targets.
LOCATIONS_UPDATED = """
CREATE OR REPLACE FUNCTION targets_after_update_resident_locations() RETURNS trigger
LANGUAGE plpgsql AS $$ BEGIN
    PERFORM refresh_targets(ARRAY(
        SELECT DISTINCT changed.resident_id FROM (
            (SELECT resident_id, md5(ROW({columns})::text) FROM new_rows
             EXCEPT SELECT resident_id, md5(ROW({columns})::text) FROM old_rows)
            UNION ALL
            (SELECT resident_id, md5(ROW({columns})::text) FROM old_rows
             EXCEPT SELECT resident_id, md5(ROW({columns})::text) FROM new_rows)
        ) AS changed));
    RETURN NULL;
END $$;
"""

OWNED = ("officers", "teams", "alerts", "alert_templates", "resident_imports", "audit_events")

# An audit event is its actor's force's; with no actor, its subject's (an account's
# force, a resident's first place's force); else the default force's, as its column
# says. Each force's administrators read their own force's log.
AUDIT_FORCE = """
CREATE FUNCTION audit_events_set_force() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.actor_id IS NOT NULL THEN
        NEW.force_id := coalesce(
            (SELECT force_id FROM officers WHERE id = NEW.actor_id), NEW.force_id);
    ELSIF NEW.subject_type = 'officer' AND NEW.subject_id ~ '^[0-9]{1,9}$' THEN
        NEW.force_id := coalesce(
            (SELECT force_id FROM officers WHERE id = NEW.subject_id::integer), NEW.force_id);
    ELSIF NEW.subject_type = 'resident'
          AND NEW.subject_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        NEW.force_id := coalesce(
            (SELECT l.force_id FROM residents r
             JOIN resident_locations l ON l.resident_id = r.id
             WHERE r.reference = NEW.subject_id::uuid AND l.force_id IS NOT NULL
             ORDER BY l.id LIMIT 1),
            NEW.force_id);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_events_set_force BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_set_force();
"""


def _default_force() -> dict:
    try:
        from flask import current_app

        config = current_app.config
    except RuntimeError:  # outside the app: the settings' own defaults
        config = {}
    name = config.get("FORCE_NAME") or "Avon and Somerset"
    return {
        "code": config.get("FORCE_CODE") or "E23000036",
        "slug": "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split()),
        "name": name,
        "name_cy": config.get("FORCE_NAME_CY"),
        "contact": config.get("FORCE_CONTACT") or "Call 101, or 999 in an emergency",
        "website": config.get("FORCE_WEBSITE"),
        "cap_sender": config.get("CAP_SENDER"),
    }


def upgrade() -> None:
    forces = op.create_table(
        "forces",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(9), nullable=False, unique=True),
        sa.Column("slug", sa.String(60), nullable=False, unique=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("name_cy", sa.Text),
        sa.Column("contact", sa.Text, nullable=False, server_default=""),
        sa.Column("website", sa.Text),
        sa.Column("cap_sender", sa.Text),
        sa.Column("consent_text", sa.Text),
        sa.Column("sms_price_per_segment", sa.Numeric(8, 4)),
        sa.Column("voice_price_per_minute", sa.Numeric(8, 4)),
        sa.Column("is_default", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'", name="slug_plain"),
    )
    op.create_index(
        "uq_forces_default", "forces", ["is_default"], unique=True, postgresql_where="is_default"
    )
    op.bulk_insert(forces, [{**_default_force(), "is_default": True}])
    op.execute(
        "CREATE FUNCTION default_force_id() RETURNS integer LANGUAGE sql STABLE AS"
        " $$ SELECT id FROM forces WHERE is_default $$"
    )
    for table in OWNED:
        op.add_column(
            table,
            sa.Column(
                "force_id",
                sa.Integer,
                sa.ForeignKey("forces.id", name=f"fk_{table}_force_id_forces"),
                nullable=False,
                server_default=sa.text("default_force_id()"),
            ),
        )
        op.create_index(f"ix_{table}_force_id", table, ["force_id"])
    op.execute(AUDIT_FORCE)
    # Names are one force's own: two forces may each have a "Central" team.
    op.drop_index("uq_teams_name", "teams")
    op.create_index("uq_teams_name", "teams", ["force_id", sa.text("lower(name)")], unique=True)
    op.drop_constraint("uq_alert_templates_name", "alert_templates")
    op.create_unique_constraint(
        "uq_alert_templates_force_id_name", "alert_templates", ["force_id", "name"]
    )

    op.add_column(
        "resident_locations",
        sa.Column(
            "force_id",
            sa.Integer,
            sa.ForeignKey(
                "forces.id", name="fk_resident_locations_force_id_forces", ondelete="SET NULL"
            ),
        ),
    )
    op.create_index("ix_resident_locations_force_id", "resident_locations", ["force_id"])
    op.add_column("targets", sa.Column("force_id", sa.Integer))
    op.add_column(
        "target_squares", sa.Column("force_id", sa.Integer, nullable=False, server_default="0")
    )
    op.drop_constraint("pk_target_squares", "target_squares")
    op.create_primary_key(
        "pk_target_squares", "target_squares", ["force_id", "j", "i", "group_ids", "channels"]
    )
    op.execute(LOCATION_FORCE)
    op.execute(LOCATION_FORCE_TRIGGER)
    op.execute(REASSIGN)
    op.execute(LOCATIONS_UPDATED.format(columns="location, force_id"))
    op.execute("DROP FUNCTION recount_target_squares()")
    op.execute("DROP FUNCTION target_squares_add(integer[], integer)")
    op.execute(ADD)
    op.execute(RECOUNT)
    op.execute(_migration_0031().REFRESH.replace(_migration_0031().REBUILD, REBUILD))
    # Existing places get their force, as do their targets (in one statement each: the
    # trigger would rebuild every resident's targets one set at a time), and the squares
    # are counted again by force.
    op.execute("ALTER TABLE resident_locations DISABLE TRIGGER targets_after_update")
    op.execute("UPDATE resident_locations SET force_id = location_force(postcode, location)")
    op.execute("ALTER TABLE resident_locations ENABLE TRIGGER targets_after_update")
    op.execute(
        "UPDATE targets t SET force_id = l.force_id FROM resident_locations l"
        " WHERE l.id = t.location_id"
    )
    op.execute("SELECT recount_target_squares()")
    op.execute("ANALYZE targets")
    op.execute("ANALYZE target_squares")


def downgrade() -> None:
    # Going back merges every force into one: their staff would see each other's rows.
    forces = op.get_bind().execute(sa.text("SELECT count(*) FROM forces")).scalar()
    if forces > 1:
        raise RuntimeError(
            f"This installation serves {forces} forces; before migration 0034 there was "
            "one. Remove the others first, or restore a backup taken before the upgrade."
        )
    old = _migration_0031()
    op.execute("DROP FUNCTION recount_target_squares()")
    op.execute("DROP FUNCTION target_squares_add(integer[], integer)")
    op.execute(old.ADD)
    op.execute(old.RECOUNT)
    op.execute(old.REFRESH)
    op.execute(LOCATIONS_UPDATED.format(columns="location"))
    op.execute("DROP TRIGGER resident_locations_set_force ON resident_locations")
    op.execute("DROP FUNCTION resident_locations_set_force()")
    op.execute("DROP FUNCTION reassign_location_forces()")
    op.execute("DROP FUNCTION location_force(text, geometry)")
    op.drop_constraint("pk_target_squares", "target_squares")
    op.drop_column("target_squares", "force_id")
    op.execute("DELETE FROM target_squares")
    op.create_primary_key(
        "pk_target_squares", "target_squares", ["j", "i", "group_ids", "channels"]
    )
    op.drop_column("targets", "force_id")
    op.drop_column("resident_locations", "force_id")
    op.drop_constraint("uq_alert_templates_force_id_name", "alert_templates")
    op.create_unique_constraint("uq_alert_templates_name", "alert_templates", ["name"])
    op.drop_index("uq_teams_name", "teams")
    op.create_index("uq_teams_name", "teams", [sa.text("lower(name)")], unique=True)
    op.execute("DROP TRIGGER audit_events_set_force ON audit_events")
    op.execute("DROP FUNCTION audit_events_set_force()")
    for table in OWNED:
        op.drop_column(table, "force_id")
    op.execute("DROP FUNCTION default_force_id()")
    op.drop_table("forces")
    op.execute("SELECT recount_target_squares()")
