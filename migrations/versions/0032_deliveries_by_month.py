"""The deliveries ledger partitioned by month (PostgreSQL's native partitioning), so
a force-wide alert's million rows land in a small table of their own month, and the
retention rules drop a whole month at once instead of deleting row by row.

The partition key is the month the alert was created in (alert_created_at, a copy of
alerts.created_at held to it by a foreign key on both columns). All of one alert's
deliveries are therefore in one partition, and the unique key (alert, resident,
channel, alert_created_at) still means what it meant: one delivery per resident and
channel per alert, however often a send is retried. The primary key is (id,
alert_created_at); ids still come from the one sequence, so an id still names one
delivery and the engine still finds it by id alone (each month's own index).

Monthly partitions are made ahead by deliveries_ensure_partitions(ahead), which the
sweeper runs hourly; a row whose month has no partition yet goes to deliveries_default,
and the next ensure moves it into its own month. Foreign keys cannot point at a
partitioned table's id alone, so outbox_messages and replies lose theirs: a statement
trigger does what their ON DELETE did (outbox rows go, replies lose the link), and the
retention job does the same before it drops a month.

The ledger is copied into the new table with its data in place (the test
tests/test_deliveries_partitions.py runs this upgrade and its downgrade over rows).

Revision ID: 0032
Revises: 0031
"""

from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

COLUMNS = (
    "id, alert_id, resident_id, channel, address, status, reason, provider_ref, created_at,"
    " updated_at, attempts, next_attempt_at, sent_at, finished_at, segments,"
    " duration_seconds, attempted_at"
)
# The ledger's columns before this migration, as the CREATE TABLE on either side has them.
COLUMNS_DDL = """id bigint NOT NULL DEFAULT nextval('deliveries_id_seq'),
    alert_id integer NOT NULL,
    resident_id integer,
    channel varchar(10) NOT NULL,
    address varchar(254) NOT NULL,
    status varchar(20) NOT NULL DEFAULT 'queued',
    reason text,
    provider_ref varchar(64),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    sent_at timestamptz,
    finished_at timestamptz,
    segments integer,
    duration_seconds integer,
    attempted_at timestamptz,"""
STATUSES = (
    "'queued', 'sending', 'unknown', 'possibly_sent', 'sent', 'delivered', 'failed', 'cancelled'"
)

COUNTING_TRIGGERS = """
    CREATE TRIGGER deliveries_changed_after_counting AFTER UPDATE ON deliveries
        REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION alert_figures_stale_new();
    CREATE TRIGGER deliveries_added_after_counting AFTER INSERT ON deliveries
        REFERENCING NEW TABLE AS changed
        FOR EACH STATEMENT EXECUTE FUNCTION alert_figures_stale_new();
    CREATE TRIGGER deliveries_removed_after_counting AFTER DELETE ON deliveries
        REFERENCING OLD TABLE AS gone
        FOR EACH STATEMENT EXECUTE FUNCTION alert_figures_stale_old();
"""
DROP_COUNTING_TRIGGERS = """
    DROP TRIGGER deliveries_removed_after_counting ON deliveries;
    DROP TRIGGER deliveries_added_after_counting ON deliveries;
    DROP TRIGGER deliveries_changed_after_counting ON deliveries;
"""


def upgrade() -> None:
    op.execute(
        f"""
        -- Months are UTC months whatever the server's time zone (under Europe/London
        -- the 1st of April 00:00 is still March in UTC).
        SET LOCAL timezone = 'UTC';
        ALTER TABLE alerts ADD CONSTRAINT uq_alerts_id_created_at UNIQUE (id, created_at);
        ALTER TABLE outbox_messages DROP CONSTRAINT fk_outbox_messages_delivery_id_deliveries;
        ALTER TABLE replies DROP CONSTRAINT fk_replies_delivery_id_deliveries;
        {DROP_COUNTING_TRIGGERS}
        ALTER SEQUENCE deliveries_id_seq OWNED BY NONE;
        ALTER TABLE deliveries RENAME TO deliveries_unpartitioned;

        CREATE TABLE deliveries (
            {COLUMNS_DDL}
            alert_created_at timestamptz NOT NULL,
            CONSTRAINT ck_deliveries_status_known CHECK (status IN ({STATUSES}))
        ) PARTITION BY RANGE (alert_created_at);
        ALTER SEQUENCE deliveries_id_seq OWNED BY deliveries.id;
        CREATE TABLE deliveries_default PARTITION OF deliveries DEFAULT;

        -- One month's partition, made once (a second call says false). Rows already
        -- waiting for it in deliveries_default move into it.
        CREATE FUNCTION deliveries_make_partition(month timestamptz) RETURNS boolean
        LANGUAGE plpgsql SET timezone = 'UTC' AS $$
        DECLARE
            first timestamptz := date_trunc('month', month AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
            upper timestamptz := (date_trunc('month', month AT TIME ZONE 'UTC')
                                  + interval '1 month') AT TIME ZONE 'UTC';
            name text := 'deliveries_' || to_char(month AT TIME ZONE 'UTC', 'YYYY_MM');
        BEGIN
            IF to_regclass(name) IS NOT NULL THEN
                RETURN false;
            END IF;
            IF EXISTS (SELECT 1 FROM deliveries_default
                       WHERE alert_created_at >= first AND alert_created_at < upper) THEN
                EXECUTE format('CREATE TABLE %I (LIKE deliveries INCLUDING DEFAULTS'
                               ' INCLUDING CONSTRAINTS)', name);
                EXECUTE format('WITH moved AS (DELETE FROM deliveries_default'
                               ' WHERE alert_created_at >= $1 AND alert_created_at < $2'
                               ' RETURNING *) INSERT INTO %I SELECT * FROM moved', name)
                    USING first, upper;
                EXECUTE format('ALTER TABLE deliveries ATTACH PARTITION %I'
                               ' FOR VALUES FROM (%L) TO (%L)', name, first, upper);
            ELSE
                EXECUTE format('CREATE TABLE %I PARTITION OF deliveries'
                               ' FOR VALUES FROM (%L) TO (%L)', name, first, upper);
            END IF;
            RETURN true;
        END $$;

        -- This month's partition and the next `ahead` months', and one for every month
        -- with rows in deliveries_default. Returns how many it made. One caller at a time.
        CREATE FUNCTION deliveries_ensure_partitions(ahead integer) RETURNS integer
        LANGUAGE plpgsql SET timezone = 'UTC' AS $$
        DECLARE
            made integer := 0;
            month timestamptz;
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('deliveries_ensure_partitions'));
            FOR month IN
                SELECT now() + make_interval(months => n) FROM generate_series(0, ahead) n
                UNION
                SELECT DISTINCT date_trunc('month', alert_created_at AT TIME ZONE 'UTC')
                                AT TIME ZONE 'UTC'
                FROM deliveries_default
            LOOP
                IF deliveries_make_partition(month) THEN
                    made := made + 1;
                END IF;
            END LOOP;
            RETURN made;
        END $$;

        -- What the foreign keys to deliveries did on delete, which a partitioned
        -- table's id alone cannot be the target of.
        CREATE FUNCTION deliveries_unlink_gone() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM outbox_messages WHERE delivery_id IN (SELECT id FROM gone);
            UPDATE replies SET delivery_id = NULL WHERE delivery_id IN (SELECT id FROM gone);
            RETURN NULL;
        END $$;
        CREATE TRIGGER deliveries_unlink_gone AFTER DELETE ON deliveries
            REFERENCING OLD TABLE AS gone
            FOR EACH STATEMENT EXECUTE FUNCTION deliveries_unlink_gone();

        SELECT deliveries_make_partition(m)
        FROM generate_series(
            date_trunc('month', (SELECT min(a.created_at) FROM alerts a
                                 WHERE a.id IN (SELECT alert_id FROM deliveries_unpartitioned))),
            now(), interval '1 month') m;
        SELECT deliveries_ensure_partitions(2);

        INSERT INTO deliveries ({COLUMNS}, alert_created_at)
        SELECT {", ".join("d." + c.strip() for c in COLUMNS.split(","))}, a.created_at
        FROM deliveries_unpartitioned d JOIN alerts a ON a.id = d.alert_id;
        DROP TABLE deliveries_unpartitioned;

        ALTER TABLE deliveries ADD CONSTRAINT pk_deliveries PRIMARY KEY (id, alert_created_at);
        ALTER TABLE deliveries ADD CONSTRAINT uq_deliveries_alert_id_resident_id_channel
            UNIQUE (alert_id, resident_id, channel, alert_created_at);
        ALTER TABLE deliveries ADD CONSTRAINT fk_deliveries_alert_id_alerts
            FOREIGN KEY (alert_id, alert_created_at) REFERENCES alerts (id, created_at)
            ON UPDATE CASCADE;
        ALTER TABLE deliveries ADD CONSTRAINT fk_deliveries_resident_id_residents
            FOREIGN KEY (resident_id) REFERENCES residents (id) ON DELETE SET NULL;
        CREATE INDEX ix_deliveries_alert_id_status ON deliveries (alert_id, status);
        CREATE INDEX ix_deliveries_provider_ref ON deliveries (provider_ref);
        CREATE INDEX ix_deliveries_unfinished ON deliveries (status, updated_at)
            WHERE status IN ('queued', 'sending', 'unknown');
        {COUNTING_TRIGGERS}
        """  # noqa: S608 (constants of this file)
    )


def downgrade() -> None:
    op.execute(
        f"""
        {DROP_COUNTING_TRIGGERS}
        DROP TRIGGER deliveries_unlink_gone ON deliveries;
        ALTER SEQUENCE deliveries_id_seq OWNED BY NONE;
        ALTER TABLE deliveries RENAME TO deliveries_partitioned;
        ALTER INDEX pk_deliveries RENAME TO pk_deliveries_partitioned;
        ALTER INDEX uq_deliveries_alert_id_resident_id_channel
            RENAME TO uq_deliveries_partitioned;
        ALTER INDEX ix_deliveries_alert_id_status RENAME TO ix_deliveries_partitioned_a;
        ALTER INDEX ix_deliveries_provider_ref RENAME TO ix_deliveries_partitioned_p;
        ALTER INDEX ix_deliveries_unfinished RENAME TO ix_deliveries_partitioned_u;

        CREATE TABLE deliveries (
            {COLUMNS_DDL}
            CONSTRAINT pk_deliveries PRIMARY KEY (id),
            CONSTRAINT ck_deliveries_status_known CHECK (status IN ({STATUSES})),
            CONSTRAINT fk_deliveries_alert_id_alerts FOREIGN KEY (alert_id)
                REFERENCES alerts (id),
            CONSTRAINT fk_deliveries_resident_id_residents FOREIGN KEY (resident_id)
                REFERENCES residents (id) ON DELETE SET NULL,
            CONSTRAINT uq_deliveries_alert_id_resident_id_channel
                UNIQUE (alert_id, resident_id, channel)
        );
        INSERT INTO deliveries ({COLUMNS}) SELECT {COLUMNS} FROM deliveries_partitioned;
        ALTER SEQUENCE deliveries_id_seq OWNED BY deliveries.id;
        DROP TABLE deliveries_partitioned;
        DROP FUNCTION deliveries_unlink_gone();
        DROP FUNCTION deliveries_ensure_partitions(integer);
        DROP FUNCTION deliveries_make_partition(timestamptz);
        CREATE INDEX ix_deliveries_alert_id_status ON deliveries (alert_id, status);
        CREATE INDEX ix_deliveries_provider_ref ON deliveries (provider_ref);
        CREATE INDEX ix_deliveries_unfinished ON deliveries (status, updated_at)
            WHERE status IN ('queued', 'sending', 'unknown');
        {COUNTING_TRIGGERS}
        DELETE FROM outbox_messages o WHERE o.delivery_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = o.delivery_id);
        UPDATE replies r SET delivery_id = NULL WHERE r.delivery_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = r.delivery_id);
        ALTER TABLE outbox_messages ADD CONSTRAINT fk_outbox_messages_delivery_id_deliveries
            FOREIGN KEY (delivery_id) REFERENCES deliveries (id) ON DELETE CASCADE;
        ALTER TABLE replies ADD CONSTRAINT fk_replies_delivery_id_deliveries
            FOREIGN KEY (delivery_id) REFERENCES deliveries (id) ON DELETE SET NULL;
        ALTER TABLE alerts DROP CONSTRAINT uq_alerts_id_created_at;
        """  # noqa: S608 (constants of this file)
    )
