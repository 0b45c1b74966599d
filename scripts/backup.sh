#!/usr/bin/env bash
# A backup of the database: pg_dump's custom format (compressed, restorable table by
# table), written to FILE. Usage: scripts/backup.sh DATABASE_URL FILE
# The URL may be SQLAlchemy's (postgresql+psycopg://...) or libpq's (postgresql://...).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 DATABASE_URL FILE" >&2
  exit 2
fi
url="${1/postgresql+psycopg:/postgresql:}"
umask 077  # residents' personal data: readable by this account only
pg_dump --format=custom --no-owner --file="$2" --dbname="$url"
echo "backup: $(du -h "$2" | cut -f1) written to $2"
