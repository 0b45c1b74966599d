"""A force added to an installation of 1,000,000 synthetic residents (the targeting
benchmark's database): every place given its force again (reassign_location_forces,
migration 0040), with its targets and the squares counted ahead. Run in a transaction
that is rolled back, so the database is as it was.

    .venv/bin/python bench/bench_reassign.py [--residents 1000000] [--compare]

--compare also times what migration 0034's function spent deciding alone: asking
location_force() of every place, one by one; and checks each place's new force is
the one location_force() gives it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_targeting import seeded_app  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--compare", action="store_true")
    args = parser.parse_args()
    app = seeded_app(args.residents)
    from sqlalchemy import text

    from app.cli.demo import SECOND_FORCE
    from app.extensions import db

    with app.app_context():
        places = db.session.scalar(text("SELECT count(*) FROM resident_locations"))
        targets = db.session.scalar(text("SELECT count(*) FROM targets"))
        print(f"{places:,} places, {targets:,} targets")

        if db.session.scalar(
            text("SELECT EXISTS (SELECT 1 FROM forces WHERE code = :code)"),
            {"code": SECOND_FORCE["code"]},
        ):
            sys.exit(f"{SECOND_FORCE['name']} is already a force in this database.")
        db.session.execute(
            text("INSERT INTO forces (code, slug, name, contact) VALUES (:c, :s, :n, :t)"),
            {
                "c": SECOND_FORCE["code"],
                "s": "wiltshire",
                "n": SECOND_FORCE["name"],
                "t": SECOND_FORCE["contact"],
            },
        )
        start = time.perf_counter()
        moved = db.session.scalar(text("SELECT reassign_location_forces()"))
        took = time.perf_counter() - start
        print(
            f"reassign_location_forces(): {moved:,} of {places:,} places moved"
            f" in {took:.1f} s ({os.cpu_count()} cores)"
        )
        if args.compare:
            start = time.perf_counter()
            wrong = db.session.scalar(
                text(
                    "SELECT count(*) FROM resident_locations"
                    " WHERE force_id IS DISTINCT FROM location_force(postcode, location)"
                )
            )
            took = time.perf_counter() - start
            print(
                f"location_force() asked of every place, one by one (migration 0034's"
                f" deciding alone): {took:.1f} s; places whose force differs: {wrong:,}"
            )
            start = time.perf_counter()
            db.session.execute(text("SELECT recount_target_squares()"))
            print(f"the squares counted again from scratch: {time.perf_counter() - start:.1f} s")
        db.session.rollback()


if __name__ == "__main__":
    main()
