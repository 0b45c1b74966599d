#!/bin/sh
# Nightly upkeep (docs/deploy.md, community-alerts-nightly.timer): the officer's
# preview kept fast, then a backup into BACKUP_DIR (/var/backups/community-alerts).
# DATABASE_URL and the rest come from the environment (the unit's EnvironmentFile):
# on a command line, the database's password would show in ps.
set -eu
cd "$(dirname "$0")/.."
.venv/bin/flask residents reorder-targets
scripts/backup.sh "${BACKUP_DIR:-/var/backups/community-alerts}/$(date +%F).dump"
