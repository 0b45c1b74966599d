"""Targets: one row for every way an alert can reach a resident at one of their places
(a verified, not stopped channel of a resident who has not paused alerts), with the
place's point and the resident's groups. The officer's preview and the send find who
an area reaches in this one table by its spatial index, instead of joining residents,
their channels, places and groups for every resident inside.

PostgreSQL keeps it in step (statement triggers on residents, resident_channels,
resident_locations and resident_groups call refresh_targets for the residents a
statement touched), so no code path (a sign-up, an import, a STOP, a pause, raw SQL)
can leave it behind. refresh_targets locks the residents' rows first, so two
transactions refreshing one resident never both insert; (location_id, channel) is
unique besides.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

REFRESH = """
CREATE FUNCTION refresh_targets(ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    -- One transaction at a time per resident, in id order (no deadlock between two).
    PERFORM 1 FROM residents WHERE id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;
    DELETE FROM targets WHERE resident_id = ANY(ids);
    INSERT INTO targets (resident_id, location_id, channel, address, group_ids, location)
    SELECT c.resident_id, l.id, c.channel, c.address,
           coalesce((SELECT array_agg(g.group_id ORDER BY g.group_id)
                     FROM resident_groups g WHERE g.resident_id = c.resident_id), '{}'),
           l.location
    FROM resident_channels c
    JOIN residents r ON r.id = c.resident_id AND r.paused_at IS NULL
    JOIN resident_locations l ON l.resident_id = c.resident_id
    WHERE c.resident_id = ANY(ids)
      AND c.unsubscribed_at IS NULL
      AND c.verified_at IS NOT NULL;
END $$;
"""

# (table, the column naming the resident, for updates: the columns that matter)
WATCHED = (
    ("resident_channels", "resident_id", ("channel", "address", "verified_at", "unsubscribed_at")),
    ("resident_locations", "resident_id", ("location",)),
    ("resident_groups", "resident_id", ("group_id",)),
    ("residents", "id", ("paused_at",)),
)


def _functions(table: str, key: str, columns: tuple[str, ...]) -> list[str]:
    # An update matters when a resident's watched values changed (or a row moved to
    # another resident): compare each side's (resident, values) with the other's.
    values = f"{key}, md5(ROW({', '.join(columns)})::text)"
    return [
        f"""CREATE FUNCTION targets_after_insert_{table}() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            PERFORM refresh_targets(ARRAY(SELECT DISTINCT {key} FROM new_rows));
            RETURN NULL;
        END $$;""",  # noqa: S608 (table and column names from WATCHED, never input)
        f"""CREATE FUNCTION targets_after_update_{table}() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            PERFORM refresh_targets(ARRAY(
                SELECT DISTINCT changed.{key} FROM (
                    (SELECT {values} FROM new_rows EXCEPT SELECT {values} FROM old_rows)
                    UNION ALL
                    (SELECT {values} FROM old_rows EXCEPT SELECT {values} FROM new_rows)
                ) AS changed));
            RETURN NULL;
        END $$;""",  # noqa: S608 (table and column names from WATCHED, never input)
        f"""CREATE FUNCTION targets_after_delete_{table}() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            PERFORM refresh_targets(ARRAY(SELECT DISTINCT {key} FROM old_rows));
            RETURN NULL;
        END $$;""",  # noqa: S608 (table and column names from WATCHED, never input)
        f"""CREATE TRIGGER targets_after_insert AFTER INSERT ON {table}
            REFERENCING NEW TABLE AS new_rows
            FOR EACH STATEMENT EXECUTE FUNCTION targets_after_insert_{table}();""",
        f"""CREATE TRIGGER targets_after_update AFTER UPDATE ON {table}
            REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION targets_after_update_{table}();""",
        f"""CREATE TRIGGER targets_after_delete AFTER DELETE ON {table}
            REFERENCING OLD TABLE AS old_rows
            FOR EACH STATEMENT EXECUTE FUNCTION targets_after_delete_{table}();""",
    ]


def upgrade() -> None:
    op.create_table(
        "targets",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column(
            "resident_id",
            sa.Integer,
            sa.ForeignKey("residents.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "location_id",
            sa.Integer,
            sa.ForeignKey("resident_locations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("address", sa.String(254), nullable=False),
        sa.Column("group_ids", ARRAY(sa.Integer), nullable=False, server_default="{}"),
        sa.Column(
            "location",
            Geometry("POINT", srid=27700, spatial_index=False),
            nullable=False,
        ),
        sa.UniqueConstraint("location_id", "channel", name="uq_targets_location_id_channel"),
    )
    op.create_index("ix_targets_resident_id", "targets", ["resident_id"])
    op.execute("CREATE INDEX ix_targets_location ON targets USING gist (location)")
    op.execute(REFRESH)
    for table, key, columns in WATCHED:
        for statement in _functions(table, key, columns):
            op.execute(statement)
    op.execute("SELECT refresh_targets(ARRAY(SELECT id FROM residents))")
    op.execute("ANALYZE targets")


def downgrade() -> None:
    for table, _key, _columns in WATCHED:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER targets_after_{event} ON {table}")
            op.execute(f"DROP FUNCTION targets_after_{event}_{table}()")
    op.execute("DROP FUNCTION refresh_targets(integer[])")
    op.drop_table("targets")
