"""Target squares: residents counted ahead per 500 m square of the national grid, so
the officer's preview of a large area reads a few thousand counts instead of every
resident inside it, and counts residents one by one only near the area's edge.

A resident is counted ahead ("simple") when they have one place and none of their
addresses is anyone else's: then a square's count is exact, whatever the area, since
nobody can be counted twice. Everyone else (a farm and a home; a household sharing a
number) is counted one by one wherever they are, from the targets table (a partial
spatial index finds them).

target_squares holds, per square, per set of groups and per set of channels, how many
simple residents there are. refresh_targets (migration 0022), which PostgreSQL runs for
the residents any statement touches, now also keeps these in step: it takes away what
the residents it touches, and those who share an address with them, counted, rebuilds
their targets, decides again who is simple, and adds them back. Addresses are locked in
64 buckets (advisory locks) so two transactions adding the same number to two residents
at once cannot both believe it is theirs alone. For that it must see the targets of a
resident or place being deleted, so they are no longer deleted by a cascade first: the
foreign keys are checked at commit instead, by when refresh_targets has removed them.

Revision ID: 0031
Revises: 0030
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

SQUARE_M = 500


def _one_each(which: str) -> str:
    # Each simple resident's square, groups and channels, of the targets `which` picks.
    return f"""
        SELECT floor(ST_X(location) / {SQUARE_M})::integer AS i,
               floor(ST_Y(location) / {SQUARE_M})::integer AS j,
               group_ids,
               array_agg(channel::text ORDER BY channel) AS channels
        FROM targets
        WHERE {which}
        GROUP BY resident_id, location_id, 1, 2, group_ids
    """  # noqa: S608 (constants only, no input)


# What a set of residents counts in target_squares (simple ones only), times `sign`. A
# square's count that falls to 0 is kept: deleting it each time left dead rows for every
# later statement to step over until a vacuum (5 ms a statement after a large import);
# a recount drops them.
ADD = f"""
CREATE FUNCTION target_squares_add(ids integer[], sign integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO target_squares AS s (i, j, group_ids, channels, n)
    SELECT i, j, group_ids, channels, sign * count(*)
    FROM ({_one_each("resident_id = ANY(ids) AND simple")}) AS one_each
    GROUP BY i, j, group_ids, channels
    -- In the key's order, so two transactions lock the squares they share in one order.
    ORDER BY j, i, group_ids, channels
    ON CONFLICT (j, i, group_ids, channels) DO UPDATE SET n = s.n + excluded.n;
END $$;
"""  # noqa: S608 (constants only, no input)


# Whether each of these residents is simple: one place, and no address of theirs held by
# another targets row (another resident's, or theirs at another place).
DECIDE = """
CREATE FUNCTION targets_decide_simple(ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE targets t SET simple = v.simple
    FROM (
        SELECT m.resident_id,
               count(DISTINCT m.location_id) = 1 AND NOT bool_or(EXISTS (
                   SELECT 1 FROM targets o
                   WHERE o.channel = m.channel AND o.address = m.address AND o.id <> m.id
               )) AS simple
        FROM targets m
        WHERE m.resident_id = ANY(ids)
        GROUP BY m.resident_id
    ) AS v
    WHERE t.resident_id = ANY(ids) AND t.resident_id = v.resident_id
      AND t.simple <> v.simple;
END $$;
"""

# A set of residents' targets built again (as migration 0022 does).
REBUILD = """
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
"""

REFRESH = f"""
CREATE OR REPLACE FUNCTION refresh_targets(ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    affected integer[];
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    -- One transaction at a time per resident, in id order (no deadlock between two).
    PERFORM 1 FROM residents WHERE id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;
    -- And per address bucket: whether an address is shared is decided by one at a time.
    PERFORM pg_advisory_xact_lock(1716, bucket) FROM (
        SELECT DISTINCT hashtext(channel || ' ' || address) & 63 AS bucket FROM (
            SELECT channel, address FROM targets WHERE resident_id = ANY(ids)
            UNION
            SELECT channel, address FROM resident_channels WHERE resident_id = ANY(ids)
        ) AS addresses
        ORDER BY 1
    ) AS buckets;
    -- These residents, and whoever shares an address with them before or after.
    -- (Address by address through the index: as a join, the planner read every target.)
    affected := ids || ARRAY(
        SELECT DISTINCT o.resident_id
        FROM (
            SELECT channel, address FROM targets WHERE resident_id = ANY(ids)
            UNION
            SELECT channel, address FROM resident_channels WHERE resident_id = ANY(ids)
        ) AS a
        CROSS JOIN LATERAL (
            SELECT t.resident_id FROM targets t
            WHERE t.channel = a.channel AND t.address = a.address
            OFFSET 0  -- kept apart, so the planner cannot turn it back into a join
        ) AS o
        WHERE o.resident_id <> ALL(ids)
    );
    PERFORM target_squares_add(affected, -1);{REBUILD}    PERFORM targets_decide_simple(affected);
    PERFORM target_squares_add(affected, 1);
END $$;
"""  # noqa: S608 (constants only, no input)

# Everything counted again from the targets table: the migration's first count, and a
# repair `flask residents reorder-targets` runs.
RECOUNT = f"""
CREATE FUNCTION recount_target_squares() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE targets IN SHARE ROW EXCLUSIVE MODE;
    LOCK TABLE target_squares IN EXCLUSIVE MODE;
    -- Everyone at once: which addresses are shared, and who has several places, found
    -- by grouping the whole table (a lookup per row, as for a few residents, is slow).
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
    INSERT INTO target_squares (i, j, group_ids, channels, n)
    SELECT i, j, group_ids, channels, count(*)
    FROM ({_one_each("simple")}) AS one_each
    GROUP BY i, j, group_ids, channels;
END $$;
"""  # noqa: S608 (constants only, no input)

# The refresh_targets of migration 0022, to go back to.
OLD_REFRESH = f"""
CREATE OR REPLACE FUNCTION refresh_targets(ids integer[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF ids IS NULL OR cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM 1 FROM residents WHERE id = ANY(ids) ORDER BY id FOR NO KEY UPDATE;{REBUILD}END $$;
"""  # noqa: S608 (constants only, no input)


FOREIGN_KEYS = (
    ("fk_targets_resident_id_residents", "resident_id", "residents"),
    ("fk_targets_location_id_resident_locations", "location_id", "resident_locations"),
)


def _foreign_keys(rule: str) -> None:
    for name, column, table in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE targets DROP CONSTRAINT {name}")
        op.execute(
            f"ALTER TABLE targets ADD CONSTRAINT {name} FOREIGN KEY ({column})"
            f" REFERENCES {table} (id) {rule}"
        )


def upgrade() -> None:
    # refresh_targets must see a resident's old targets to take away what they counted:
    # a deleted resident's or place's targets are no longer deleted by the cascade
    # before it runs, but by refresh_targets itself, and checked at commit.
    _foreign_keys("DEFERRABLE INITIALLY DEFERRED")
    op.add_column(
        "targets", sa.Column("simple", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.create_index("ix_targets_channel_address", "targets", ["channel", "address"])
    op.execute(
        "CREATE INDEX ix_targets_location_not_simple ON targets USING gist (location)"
        " WHERE NOT simple"
    )
    op.create_table(
        "target_squares",
        sa.Column("i", sa.Integer, nullable=False),
        sa.Column("j", sa.Integer, nullable=False),
        sa.Column("group_ids", ARRAY(sa.Integer), nullable=False),
        sa.Column("channels", ARRAY(sa.Text), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("j", "i", "group_ids", "channels", name="pk_target_squares"),
    )
    op.execute(ADD)
    op.execute(DECIDE)
    op.execute(REFRESH)
    op.execute(RECOUNT)
    op.execute("SELECT recount_target_squares()")
    op.execute("ANALYZE targets")
    op.execute("ANALYZE target_squares")


def downgrade() -> None:
    _foreign_keys("ON DELETE CASCADE")
    op.execute(OLD_REFRESH)
    op.execute("DROP FUNCTION recount_target_squares()")
    op.execute("DROP FUNCTION targets_decide_simple(integer[])")
    op.execute("DROP FUNCTION target_squares_add(integer[], integer)")
    op.drop_table("target_squares")
    op.execute("DROP INDEX ix_targets_location_not_simple")
    op.drop_index("ix_targets_channel_address", "targets")
    op.drop_column("targets", "simple")
