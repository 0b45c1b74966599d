"""Load all 1.74 million GB postcodes (OS Code-Point Open, ../shared/data) — target
under 60 seconds on 2 cores — then load them again (nothing changes, nothing rewritten).

    .venv/bin/python bench/bench_load_gb.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import GB_CODEPOINT, bench_app  # noqa: E402


def main() -> None:
    if not GB_CODEPOINT.exists():
        sys.exit(f"{GB_CODEPOINT} is missing: the GB Code-Point files live in ../shared/data.")
    app = bench_app()
    from sqlalchemy import text

    from app.extensions import db
    from geo.postcode_loader import load_codepoint

    with app.app_context():
        db.session.execute(text("TRUNCATE postcodes"))
        db.session.commit()
        for attempt in ("empty table", "same files again"):
            start = time.perf_counter()
            conn = db.session.connection().connection.driver_connection
            summary = load_codepoint(conn, GB_CODEPOINT, source="bench")
            db.session.commit()
            seconds = time.perf_counter() - start
            print(
                f"load GB Code-Point ({attempt}): {seconds:5.1f} s on {os.cpu_count()} cores; "
                + ", ".join(summary.lines())
            )
        count = db.session.scalar(text("SELECT count(*) FROM postcodes"))
        print(f"postcodes in the table: {count:,}")


if __name__ == "__main__":
    main()
