#!/usr/bin/env bash
# The backup works only if it restores. This dumps SOURCE (as scripts/backup.sh
# does), restores the dump into TARGET, an empty database kept for this (its name must
# contain "restore": everything this account owns there is dropped first), and
# checks that every table holds the same number of rows and the schema is at the same
# migration. Exit 0 and a summary when they match; 1 and the tables that differ when not.
#   Usage: scripts/restore_check.sh SOURCE_URL TARGET_URL
#          scripts/restore_check.sh --backup FILE TARGET_URL [SOURCE_URL]
#              restores a backup you have (the file is only read), and checks it restores
#              without an error, records its migration, and holds every table SOURCE
#              has; rows are counted, not compared (SOURCE has moved on since)
#          scripts/restore_check.sh --compare SOURCE_URL TARGET_URL  (only the counts)
# PostGIS stays as the superuser made it in TARGET (scripts/services.sh): the dump's
# extension entries (and its reference table of coordinate systems) are left out of
# the restore, so no superuser is needed.
set -euo pipefail
mode=fresh
case "${1:-}" in
  --compare) mode=compare; shift ;;
  --backup) mode=backup; shift ;;
esac
if [ $# -lt 2 ]; then
  echo "usage: $0 SOURCE_URL TARGET_URL | --backup FILE TARGET_URL [SOURCE_URL]" >&2
  exit 2
fi
# The dump is the whole database, residents' contacts included. A run killed with -9
# (or by the OOM killer) cannot run its trap, and its dump stayed in /tmp for good (an
# outside check): each run's folder records its process, and the next run removes
# any folder whose process is gone.
work_root="${RESTORE_CHECK_TMP:-${TMPDIR:-/tmp}}"
for left in "$work_root"/restore-check.*; do
  [ -d "$left" ] && [ -O "$left" ] || continue
  pid="$(cat "$left/pid" 2>/dev/null || true)"
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
    rm -rf -- "$left"
  elif [ -z "$pid" ] && [ -n "$(find "$left" -maxdepth 0 -mmin +60)" ]; then
    rm -rf -- "$left"  # killed before it wrote its process (one just begun has not yet)
  fi
done
work="$(mktemp -d "$work_root/restore-check.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo $$ > "$work/pid"
if [ "$mode" = backup ]; then
  dump="$1"
  if [ ! -r "$dump" ]; then
    echo "restore check FAILED: cannot read the backup $dump" >&2
    exit 1
  fi
  source_url="${3:+${3/postgresql+psycopg:/postgresql:}}"
else
  source_url="${1/postgresql+psycopg:/postgresql:}"
  dump="$work/backup.dump"  # never a file of yours: a given one was overwritten
fi
target_url="${2/postgresql+psycopg:/postgresql:}"
target_db="${target_url##*/}"
target_db="${target_db%%\?*}"
case "$target_db" in
  *restore*) ;;
  *) echo "refusing: the target database ($target_db) must be one kept for restore checks" >&2
     exit 2 ;;
esac

here="$(cd "$(dirname "$0")" && pwd)"
# Each command is given its database by URL without the password, which goes in its
# environment: on a command line, any account on the host could read it (ps).
. "$here/pg_url.sh"
on() {
  local url="$1"
  shift
  split_password "$url"
  if [ "$1" = pg_restore ]; then
    PGPASSWORD="$pg_password" "$@" --dbname="$pg_url"
  else
    PGPASSWORD="$pg_password" "$@" -d "$pg_url"
  fi
}
if [ "$mode" = fresh ]; then
  DATABASE_URL="$source_url" "$here/backup.sh" "$dump" >/dev/null
fi
if [ "$mode" != compare ]; then
  on "$target_url" psql -q -X -v ON_ERROR_STOP=1 -c "DROP OWNED BY CURRENT_USER" >/dev/null
  if ! pg_restore --list "$dump" > "$work/toc" 2> "$work/err"; then
    echo "restore check FAILED: $dump is not a backup pg_restore can read:" >&2
    cat "$work/err" >&2
    exit 1
  fi
  grep -v -E ' EXTENSION | COMMENT - EXTENSION |TABLE DATA public spatial_ref_sys ' \
    "$work/toc" > "$work/list"
  if ! on "$target_url" pg_restore --exit-on-error --no-owner --no-privileges --use-list="$work/list" \
    "$dump"; then
    echo "restore check FAILED: $dump did not restore (above)" >&2
    exit 1
  fi
fi

count_rows() {
  on "$1" psql -X -At -v ON_ERROR_STOP=1 <<'SQL'
SELECT format('SELECT %L || '' '' || count(*) FROM %I.%I;', c.relname, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname = 'public'
  AND c.relname <> 'spatial_ref_sys' AND NOT c.relispartition
ORDER BY c.relname
\gexec
SELECT 'alembic_version=' || version_num FROM alembic_version;
SQL
}
if [ "$mode" = backup ]; then
  if ! count_rows "$target_url" > "$work/target" 2> "$work/err"; then
    echo "restore check FAILED: the restored backup has no migration recorded:" >&2
    cat "$work/err" >&2
    exit 1
  fi
  # An empty alembic_version passed (an outside re-check).
  if ! grep -q '^alembic_version=.' "$work/target"; then
    echo "restore check FAILED: the restored backup has no migration recorded" >&2
    exit 1
  fi
  if [ -n "$source_url" ]; then
    count_rows "$source_url" | cut -d' ' -f1 | grep -v '^alembic_version=' > "$work/want"
    cut -d' ' -f1 "$work/target" | grep -v '^alembic_version=' > "$work/have"
    if missing=$(comm -23 "$work/want" "$work/have") && [ -n "$missing" ]; then
      echo "restore check FAILED: the backup lacks tables the source has:" $missing >&2
      exit 1
    fi
  fi
  tables=$(grep -vc '^alembic_version=' "$work/target")
  rows=$(grep -v '^alembic_version=' "$work/target" | awk '{n += $2} END {print n + 0}')
  echo "restore check: $dump restored: $tables tables, $rows rows;" \
    "$(grep '^alembic_version=' "$work/target" | tr = ' ')"
  if [ -z "$source_url" ]; then
    echo "  (no SOURCE_URL given: its tables were not compared with the database's)"
  fi
  exit 0
fi
count_rows "$source_url" > "$work/source"
count_rows "$target_url" > "$work/target"
if ! diff -u "$work/source" "$work/target" > "$work/diff"; then
  echo "restore check FAILED: the restored database differs (source -, restored +):" >&2
  cat "$work/diff" >&2
  exit 1
fi
tables=$(grep -vc '^alembic_version=' "$work/source")
rows=$(grep -v '^alembic_version=' "$work/source" | awk '{n += $2} END {print n + 0}')
echo "restore check: $tables tables and $rows rows restored, every count equal;" \
  "$(grep '^alembic_version=' "$work/source" | tr = ' ')"
