#!/usr/bin/env bash
# Makes sure PostgreSQL + PostGIS and Redis are installed and running for development
# and tests, without systemd. Idempotent: a second run finds everything up and returns
# at once.
#
#   scripts/services.sh up      install if missing, start, create roles and databases
#   scripts/services.sh down    stop the services this run started (.run/started.$CA_RUN_ID)
#   scripts/services.sh down-all  stop every service any run of this script started
#   scripts/services.sh apt P.. install Debian/Ubuntu packages (as root or through sudo)
#
# When DATABASE_URL_GIVEN / REDIS_URL_GIVEN are 1 (the Makefile sets them when you
# exported DATABASE_URL / REDIS_URL yourself) the matching service is left alone: you
# run it, we only use it.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
run_dir="$here/.run"
# What this run started, so that `down` stops exactly that (CA_RUN_ID from the Makefile).
started="$run_dir/started.${CA_RUN_ID:-manual}"
mkdir -p "$run_dir"

DB_USER="${CA_DB_USER:-community_alerts}"
DB_PASSWORD="${CA_DB_PASSWORD:-community_alerts}"
DB_NAMES="${CA_DB_NAMES:-community_alerts community_alerts_test community_alerts_restore_check community_alerts_migration_check community_alerts_bench community_alerts_bench_analysts}"
# make test's second and later test processes each get their own test databases.
if [ -z "${CA_DB_NAMES:-}" ]; then
  for n in $(seq 1 $((${TEST_WORKERS:-2} - 1))); do
    for db in community_alerts_test community_alerts_restore_check community_alerts_migration_check; do
      DB_NAMES="$DB_NAMES ${db}_gw$n"
    done
  done
fi
PG_PORT="${CA_PG_PORT:-5432}"
REDIS_PORT="${CA_REDIS_PORT:-6379}"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@";
  elif command -v sudo >/dev/null; then sudo "$@";
  else echo "Need root (or sudo) to run: $*" >&2; exit 1; fi
}

as_postgres() {
  # Postgres refuses to run as root, so everything private to it runs as `postgres`.
  if [ "$(id -un)" = postgres ]; then "$@";
  elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@";
  else sudo -u postgres "$@"; fi
}

apt_install() {
  say "Installing $* from the distribution's packages"
  export DEBIAN_FRONTEND=noninteractive
  # apt-cache knows nothing until the lists exist; refresh them once per machine.
  if [ ! -e /var/lib/apt/lists/lock ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]; then
    as_root apt-get update -qq
  fi
  as_root apt-get install -y -qq "$@" >/dev/null || { as_root apt-get update -qq; as_root apt-get install -y -qq "$@" >/dev/null; }
}

pg_version() { ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1; }

postgis_installed() {
  local v; v="$(pg_version)"
  [ -n "$v" ] && ls /usr/share/postgresql/"$v"/extension/postgis.control >/dev/null 2>&1
}

pg_up() {
  if ! command -v pg_ctlcluster >/dev/null || ! postgis_installed; then
    apt_install postgresql postgresql-postgis
  fi
  local v; v="$(pg_version)"
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $1"/"$2}' | grep -qx "$v/main"; then
    say "Creating PostgreSQL $v cluster 'main'"
    as_root pg_createcluster "$v" main --port "$PG_PORT" >/dev/null
  fi
  # Postgres ships with 128 MB of shared buffers; targeting a million residents wants
  # their locations in memory. A force-wide alert writes 1.5 million deliveries in one
  # statement (about 1 GB of WAL): with the default max_wal_size of 1 GB a checkpoint
  # falls in the middle of it. A refused statement is logged with its DETAIL, which
  # holds the values ("Key (address)=(+447…) already exists"), and the statement:
  # neither goes in the server's log. Only set on the cluster this script manages.
  local conf="/etc/postgresql/$v/main/conf.d/community-alerts.conf"
  local settings
  settings="$(printf '%s\n' "# Set by Community Alerts' scripts/services.sh" \
    "shared_buffers = '1GB'" "max_wal_size = '4GB'" \
    "log_error_verbosity = 'terse'" "log_min_error_statement = 'panic'")"
  if [ -d "$(dirname "$conf")" ] && [ "$(cat "$conf" 2>/dev/null)" != "$settings" ]; then
    printf '%s\n' "$settings" | as_root tee "$conf" >/dev/null
    pg_lsclusters -h | awk -v v="$v" '$1==v && $2=="main" {print $4}' | grep -q online \
      && as_root pg_ctlcluster "$v" main restart
  fi
  if ! pg_lsclusters -h | awk -v v="$v" '$1==v && $2=="main" {print $4}' | grep -q online; then
    say "Starting PostgreSQL $v"
    # After a crash (or the machine's power) PostgreSQL first syncs its whole data
    # directory: that took over pg_ctl's minute on this machine and make test gave up
    # ("server did not start in time") while it came up. Ten minutes.
    as_root pg_ctlcluster "$v" main start -- -t 600
    echo "postgres $v" >> "$started"
  fi
  for _ in $(seq 1 50); do
    as_postgres pg_isready -q -p "$PG_PORT" && break
    sleep 0.2
  done
  as_postgres psql -q -p "$PG_PORT" -v ON_ERROR_STOP=1 -tAc "SELECT 1" >/dev/null

  if [ "$(as_postgres psql -p "$PG_PORT" -tAc "SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'")" != 1 ]; then
    say "Creating database role $DB_USER"
    as_postgres psql -q -p "$PG_PORT" -v ON_ERROR_STOP=1 \
      -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASSWORD'"
  fi
  for db in $DB_NAMES; do
    if [ "$(as_postgres psql -p "$PG_PORT" -tAc "SELECT 1 FROM pg_database WHERE datname='$db'")" != 1 ]; then
      say "Creating database $db"
      as_postgres createdb -p "$PG_PORT" -O "$DB_USER" "$db"
    fi
    # PostGIS is not a trusted extension, so the superuser creates it once; the
    # migrations then only check that it is there.
    PGOPTIONS="-c client_min_messages=warning" as_postgres psql -q -p "$PG_PORT" -d "$db" \
      -v ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS postgis"
  done
}

redis_up() {
  if ! command -v redis-server >/dev/null; then
    apt_install redis-server
  fi
  if redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
    return
  fi
  say "Starting Redis on port $REDIS_PORT"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
    --dir "$run_dir" --pidfile "$run_dir/redis.pid" --logfile "$run_dir/redis.log" \
    --save "" --appendonly no >/dev/null
  for _ in $(seq 1 50); do
    redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
  echo "redis $REDIS_PORT" >> "$started"
}

down() {
  local record="$1"
  [ -f "$record" ] || return 0
  while read -r what arg; do
    case "$what" in
      postgres) say "Stopping PostgreSQL $arg"; as_root pg_ctlcluster "$arg" main stop || true ;;
      redis) say "Stopping Redis"; redis-cli -p "$arg" shutdown nosave >/dev/null 2>&1 || true ;;
    esac
  done < "$record"
  rm -f "$record"
}

case "${1:-up}" in
  up)
    [ "${DATABASE_URL_GIVEN:-0}" = 1 ] || pg_up
    [ "${REDIS_URL_GIVEN:-0}" = 1 ] || redis_up
    ;;
  down) down "$started" ;;
  down-all) for record in "$run_dir"/started.*; do down "$record"; done ;;
  apt) shift; apt_install "$@" ;;
  # psql as the superuser of the PostgreSQL this script runs (make test's test of
  # scripts/harden_audit.sql, which only a superuser can run).
  psql) shift; as_postgres psql -X -q -p "$PG_PORT" -v ON_ERROR_STOP=1 "$@" ;;
  *) echo "usage: $0 up|down|down-all|apt PACKAGE...|psql ARGS..." >&2; exit 2 ;;
esac
