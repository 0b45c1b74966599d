"""The ledger's references checked once a statement instead of once a row, so a
force-wide alert's 1.5 million deliveries are written in seconds: PostgreSQL checks a
foreign key row by row (an index probe and a row lock on the alert or resident for
each delivery), which took 21 of the 42 seconds of writing 1,475,000 deliveries.

What the two foreign keys on deliveries did, each now done by triggers:

- fk_deliveries_alert_id_alerts (alert_id, alert_created_at) -> alerts (id,
  created_at): every statement that adds deliveries checks, in one join over what it
  added, that each names an alert and that alert's own created_at (so the unique key
  of migration 0032 still means one delivery per resident and channel per alert); a
  change to either column is checked row by row (only the engine's updates happen,
  and they touch neither); an alert's created_at that changes carries its deliveries
  with it (was ON UPDATE CASCADE); an alert with deliveries cannot be deleted.
- fk_deliveries_resident_id_residents (ON DELETE SET NULL): residents deleted by a
  statement lose their link from the ledger by one update (the foreign key had no
  index to find them by: each deleted resident read the whole ledger); what was not
  yet sent to them is cancelled and loses the address. An alert being written holds an
  advisory lock shared, which a deletion takes exclusively, so a resident leaving
  while a large alert is written waits for it and then sees its deliveries. The unique key now leads with resident_id, and serves that; the
  provider's id is indexed only where there is one. A statement that adds deliveries for a resident deleted meanwhile
  (a resident leaving while a large alert is written) writes them cancelled, without
  the link and without the address, rather than failing the officer's send.

Revision ID: 0033
Revises: 0032
"""

from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE deliveries DROP CONSTRAINT fk_deliveries_alert_id_alerts;
        ALTER TABLE deliveries DROP CONSTRAINT fk_deliveries_resident_id_residents;
        -- A resident's deliveries are found by the unique key, which now leads with
        -- resident_id (one index fewer to write per delivery than a new index of its own).
        ALTER TABLE deliveries DROP CONSTRAINT uq_deliveries_alert_id_resident_id_channel;
        ALTER TABLE deliveries ADD CONSTRAINT uq_deliveries_resident_id_alert_id_channel
            UNIQUE (resident_id, alert_id, channel, alert_created_at);
        -- Only a sent message has a provider's id: the rows being written have none.
        DROP INDEX ix_deliveries_provider_ref;
        CREATE INDEX ix_deliveries_provider_ref ON deliveries (provider_ref)
            WHERE provider_ref IS NOT NULL;

        CREATE FUNCTION deliveries_check_added() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            gone bigint[];
        BEGIN
            IF EXISTS (
                SELECT 1 FROM (SELECT DISTINCT alert_id, alert_created_at FROM added) n
                WHERE NOT EXISTS (SELECT 1 FROM alerts a
                                  WHERE a.id = n.alert_id AND a.created_at = n.alert_created_at)
            ) THEN
                RAISE EXCEPTION 'a delivery must name an alert and its created_at'
                    USING ERRCODE = 'foreign_key_violation',
                          CONSTRAINT = 'fk_deliveries_alert_id_alerts', TABLE = 'deliveries';
            END IF;
            -- (The planner knows a transition table's size: a few rows are looked up,
            -- a force-wide alert's are hash-joined.)
            SELECT array_agg(n.id) INTO gone FROM added n
            WHERE n.resident_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM residents r WHERE r.id = n.resident_id);
            IF gone IS NOT NULL THEN
                UPDATE deliveries
                SET resident_id = NULL, address = 'removed:left', status = 'cancelled',
                    reason = 'resident removed', updated_at = now()
                WHERE id = ANY(gone);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER deliveries_check_added AFTER INSERT ON deliveries
            REFERENCING NEW TABLE AS added
            FOR EACH STATEMENT EXECUTE FUNCTION deliveries_check_added();

        CREATE FUNCTION deliveries_check_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM alerts a
                           WHERE a.id = NEW.alert_id AND a.created_at = NEW.alert_created_at)
            THEN
                RAISE EXCEPTION 'a delivery must name an alert and its created_at'
                    USING ERRCODE = 'foreign_key_violation',
                          CONSTRAINT = 'fk_deliveries_alert_id_alerts', TABLE = 'deliveries';
            END IF;
            IF NEW.resident_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM residents r WHERE r.id = NEW.resident_id) THEN
                RAISE EXCEPTION 'a delivery must name a resident who exists'
                    USING ERRCODE = 'foreign_key_violation',
                          CONSTRAINT = 'fk_deliveries_resident_id_residents',
                          TABLE = 'deliveries';
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER deliveries_check_changed AFTER UPDATE ON deliveries
            FOR EACH ROW
            WHEN (OLD.alert_id IS DISTINCT FROM NEW.alert_id
                  OR OLD.alert_created_at IS DISTINCT FROM NEW.alert_created_at
                  OR (NEW.resident_id IS NOT NULL
                      AND OLD.resident_id IS DISTINCT FROM NEW.resident_id))
            EXECUTE FUNCTION deliveries_check_changed();

        CREATE FUNCTION alerts_carry_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                IF EXISTS (SELECT 1 FROM deliveries WHERE alert_id = OLD.id) THEN
                    RAISE EXCEPTION 'an alert with deliveries cannot be deleted'
                        USING ERRCODE = 'foreign_key_violation',
                              CONSTRAINT = 'fk_deliveries_alert_id_alerts', TABLE = 'alerts';
                END IF;
                RETURN OLD;
            END IF;
            UPDATE deliveries SET alert_id = NEW.id, alert_created_at = NEW.created_at
            WHERE alert_id = OLD.id AND alert_created_at = OLD.created_at;
            RETURN NEW;
        END $$;
        CREATE TRIGGER alerts_carry_deliveries AFTER UPDATE OF id, created_at ON alerts
            FOR EACH ROW
            WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.created_at IS DISTINCT FROM NEW.created_at)
            EXECUTE FUNCTION alerts_carry_deliveries();
        CREATE TRIGGER alerts_keep_deliveries BEFORE DELETE ON alerts
            FOR EACH ROW EXECUTE FUNCTION alerts_carry_deliveries();

        -- An alert being written holds this lock shared (app/dao/outbound.py): a
        -- resident leaving waits for it, and then sees its deliveries to them, which
        -- lose the link and, not yet sent, go cancelled without the address.
        CREATE FUNCTION residents_unlink_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_advisory_xact_lock(hashtext('deliveries_written'));
            UPDATE deliveries
            SET resident_id = NULL,
                address = CASE WHEN status = 'queued' THEN 'removed:left' ELSE address END,
                reason = CASE WHEN status = 'queued' THEN 'resident removed' ELSE reason END,
                status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
                updated_at = now()
            WHERE resident_id IN (SELECT id FROM gone);
            RETURN NULL;
        END $$;
        CREATE TRIGGER residents_unlink_deliveries AFTER DELETE ON residents
            REFERENCING OLD TABLE AS gone
            FOR EACH STATEMENT EXECUTE FUNCTION residents_unlink_deliveries();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER residents_unlink_deliveries ON residents;
        DROP FUNCTION residents_unlink_deliveries();
        DROP TRIGGER alerts_keep_deliveries ON alerts;
        DROP TRIGGER alerts_carry_deliveries ON alerts;
        DROP FUNCTION alerts_carry_deliveries();
        DROP TRIGGER deliveries_check_changed ON deliveries;
        DROP FUNCTION deliveries_check_changed();
        DROP TRIGGER deliveries_check_added ON deliveries;
        DROP FUNCTION deliveries_check_added();
        ALTER TABLE deliveries DROP CONSTRAINT uq_deliveries_resident_id_alert_id_channel;
        ALTER TABLE deliveries ADD CONSTRAINT uq_deliveries_alert_id_resident_id_channel
            UNIQUE (alert_id, resident_id, channel, alert_created_at);
        DROP INDEX ix_deliveries_provider_ref;
        CREATE INDEX ix_deliveries_provider_ref ON deliveries (provider_ref);
        UPDATE deliveries d SET resident_id = NULL WHERE resident_id IS NOT NULL
            AND NOT EXISTS (SELECT 1 FROM residents r WHERE r.id = d.resident_id);
        ALTER TABLE deliveries ADD CONSTRAINT fk_deliveries_alert_id_alerts
            FOREIGN KEY (alert_id, alert_created_at) REFERENCES alerts (id, created_at)
            ON UPDATE CASCADE;
        ALTER TABLE deliveries ADD CONSTRAINT fk_deliveries_resident_id_residents
            FOREIGN KEY (resident_id) REFERENCES residents (id) ON DELETE SET NULL;
        """
    )
