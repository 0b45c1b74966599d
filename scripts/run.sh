#!/usr/bin/env bash
# Runs the web app, two RQ workers and the sweeper in the foreground; Ctrl-C stops them, and stops the
# PostgreSQL and Redis that this `make run` started (scripts/services.sh records them).
# Called by `make run` after set-up, migrations, data and demo accounts.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
bin="$here/.venv/bin"
port="${PORT:-5000}"
# The links in texts and e-mails (the demo's Outbox) point at this app on this port,
# unless you give PUBLIC_BASE_URL yourself.
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://127.0.0.1:$port}"
mkdir -p .run

# The Makefile exports APP_ENV, SECRET_KEY, DATABASE_URL and REDIS_URL.
: "${SECRET_KEY:?run this through make run}"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "Stopping the web app and the workers..."
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/services.sh down
}
trap stop INT TERM EXIT

# Before the app starts (the services this make started are stopped again): a port
# another program holds, or a Redis that does not answer, read as "is running" and
# then everything stopped (an outside check).
if ! "$bin/python" - "$port" <<'PY'
import socket, sys
port = int(sys.argv[1])
with socket.socket() as s:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn: not TIME_WAIT
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        sys.exit(f"Port {port} is in use by another program: run `make run PORT={port + 1}`"
                 " (or stop that program).")
PY
then
  exit 1
fi
"$bin/python" - <<'PY' || exit 1
import os, sys
from urllib.parse import urlsplit
import redis
url = os.environ["REDIS_URL"]
try:
    redis.Redis.from_url(url, socket_connect_timeout=3).ping()
except redis.RedisError as error:
    where = urlsplit(url)
    sys.exit(f"Redis at {where.hostname}:{where.port or 6379} is not answering ({error}):"
             " start it, or set REDIS_URL to one that is.")
PY

"$bin/gunicorn" -c python:app.gunicorn_conf --bind "127.0.0.1:$port" --workers 2 --threads 4 \
  'app:create_app()' &
pids+=($!)
# Two workers: one for alerts only, so that a long import never holds one up.
"$bin/flask" worker --alerts-only &
pids+=($!)
"$bin/flask" worker &
pids+=($!)
"$bin/flask" sweeper &
pids+=($!)

# Wait until the app answers (python, not curl: a fresh machine may have no curl).
if ! "$bin/python" - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1)
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PY
then
  echo "The web app did not start: see the messages above." >&2
  exit 1
fi
cat <<MSG

  Community Alerts is running at http://127.0.0.1:$port/

    Residents sign up at   http://127.0.0.1:$port/register
    Officers sign in at    http://127.0.0.1:$port/sign-in
MSG
"$bin/flask" demo accounts | sed "s/^/  /"
echo
echo "  Ctrl-C stops everything."
echo
wait -n "${pids[@]}"
