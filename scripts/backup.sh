#!/usr/bin/env bash
# A backup of the database: pg_dump's custom format (compressed, restorable table by
# table), written to FILE, readable by this account only.
#   Usage: scripts/backup.sh FILE             (the database of $DATABASE_URL)
#          scripts/backup.sh DATABASE_URL FILE
# The URL may be SQLAlchemy's (postgresql+psycopg://...) or libpq's (postgresql://...).
# Given on the command line, its password can be read by any account on the host (ps)
# while the backup runs: from a timer, leave it in the environment.
set -euo pipefail
case $# in
  1) url="${DATABASE_URL:?DATABASE_URL is not set: give it in the environment}"; file="$1" ;;
  2) url="$1"; file="$2" ;;
  *) echo "usage: $0 FILE (with DATABASE_URL set) | $0 DATABASE_URL FILE" >&2; exit 2 ;;
esac
url="${url/postgresql+psycopg:/postgresql:}"
umask 077  # residents' personal data: readable by this account only
# The password goes to pg_dump in its environment, not on its command line.
. "$(cd "$(dirname "$0")" && pwd)/pg_url.sh"
split_password "$url"
# Written beside FILE under another name, and put in its place only once pg_dump has
# finished: a dump killed part way (or a full disk) left FILE empty or cut short,
# where a good backup had been (an outside check). A new file, so umask applies.
# A run killed outright (its whole process group) cannot remove its own: one not
# written for an hour is a dead run's, and goes (an outside re-check found them kept).
find "$(dirname -- "$file")" -maxdepth 1 -name ".$(basename -- "$file").partial.*" \
  -mmin +60 -user "$(id -u)" -delete 2>/dev/null || true
partial=$(mktemp "$(dirname -- "$file")/.$(basename -- "$file").partial.XXXXXX")
trap 'rm -f -- "$partial"' EXIT
PGPASSWORD="$pg_password" pg_dump --format=custom --no-owner --file="$partial" --dbname="$pg_url"
mv -f -- "$partial" "$file"
trap - EXIT
echo "backup: $(du -h "$file" | cut -f1) written to $file"
