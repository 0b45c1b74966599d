-- An audit log the application's own login cannot wipe or rewrite (docs/deploy.md).
--
-- Run as a superuser, after `flask db upgrade` on a new installation and again after
-- every restore (pg_restore --no-owner gives every table back to the login that
-- restored it), in the application's database:
--
--   psql -v app=community_alerts -v audit=community_alerts_audit -v admin=postgres \
--        -d community_alerts -f scripts/harden_audit.sql
--
-- app:   the login in DATABASE_URL; audit: a role of its own that owns the log (made
-- here when missing, with no login); admin: your administrators' role, which then owns
-- the database. Running it twice changes nothing.
\set ON_ERROR_STOP on
BEGIN;
SELECT format('CREATE ROLE %I NOLOGIN', :'audit')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'audit') \gexec
-- A role that owns the database or the schema can drop the log: neither is the app's.
SELECT format('ALTER DATABASE %I OWNER TO %I', current_database(), :'admin') \gexec
ALTER SCHEMA public OWNER TO :"audit";
GRANT USAGE, CREATE ON SCHEMA public TO :"app";  -- it makes and drops ledger months
-- The owner of the table can disable its triggers.
ALTER TABLE audit_events OWNER TO :"audit";
GRANT SELECT, INSERT ON audit_events TO :"app";
GRANT UPDATE (ip_address) ON audit_events TO :"app";  -- forgetting old addresses
-- USAGE to add events; SELECT for pg_dump (scripts/backup.sh), which reads the
-- sequence: without it every nightly backup failed (an outside check).
GRANT USAGE, SELECT ON SEQUENCE audit_events_id_seq TO :"app";
-- The owner of a trigger's function can replace it: the app's login replaced the
-- append-only guard and rewrote every event's address (an outside check).
SELECT format('ALTER FUNCTION %s OWNER TO %I', t.tgfoid::regprocedure, :'audit')
  FROM pg_trigger t
 WHERE t.tgrelid = 'audit_events'::regclass AND NOT t.tgisinternal
 GROUP BY t.tgfoid \gexec
-- And they read PostgreSQL's own functions first: the app's login made a public.now()
-- of its own, put public first in its search_path, and the guard took an event a
-- minute old for one of 31 days and let its address be wiped (an outside re-check).
SELECT format('ALTER FUNCTION %s SET search_path = pg_catalog, public', t.tgfoid::regprocedure)
  FROM pg_trigger t
 WHERE t.tgrelid = 'audit_events'::regclass AND NOT t.tgisinternal
 GROUP BY t.tgfoid \gexec
COMMIT;
-- What it left: every line should read as the roles given.
SELECT 'database' AS what, pg_get_userbyid(datdba)::text AS owner
  FROM pg_database WHERE datname = current_database()
UNION ALL SELECT 'schema public', pg_get_userbyid(nspowner)::text
  FROM pg_namespace WHERE nspname = 'public'
UNION ALL SELECT 'table audit_events', tableowner::text
  FROM pg_tables WHERE schemaname = 'public' AND tablename = 'audit_events'
UNION ALL SELECT DISTINCT 'function ' || t.tgfoid::regprocedure::text, pg_get_userbyid(p.proowner)::text
  FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
 WHERE t.tgrelid = 'audit_events'::regclass AND NOT t.tgisinternal;
