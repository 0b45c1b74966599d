"""Single-postcode lookups through the HTTP API, against the full GB postcode table —
target p95 under 10 ms. Runs the real app under gunicorn on loopback (2 workers) and
times 2,000 sequential requests for random postcodes over a kept-alive connection.

    .venv/bin/python bench/bench_lookup_http.py      (after bench_load_gb.py)
"""

from __future__ import annotations

import http.client
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, bench_app, figures  # noqa: E402

REQUESTS = 2_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    app = bench_app()
    from sqlalchemy import text

    from app.extensions import db

    with app.app_context():
        keys = (
            db.session.execute(
                text("SELECT display FROM postcodes TABLESAMPLE SYSTEM (1) LIMIT 20000")
            )
            .scalars()
            .all()
        )
    if len(keys) < 1000:
        sys.exit("Load the GB postcodes first: .venv/bin/python bench/bench_load_gb.py")
    port = free_port()
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "2",
            "app:create_app()",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        rng = random.Random(1)
        conn = http.client.HTTPConnection("127.0.0.1", port)
        millis, statuses = [], {}
        for i in range(REQUESTS + 100):
            postcode = rng.choice(keys).replace(" ", "%20")
            start = time.perf_counter()
            conn.request("GET", f"/api/postcodes/{postcode}")
            response = conn.getresponse()
            response.read()
            if i >= 100:  # the first hundred warm the workers and connections
                millis.append((time.perf_counter() - start) * 1000)
                statuses[response.status] = statuses.get(response.status, 0) + 1
        print(figures("GET /api/postcodes/<postcode> (HTTP, GB table)", millis))
        print(f"  statuses: {statuses}")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
