"""Importing a force's subscriber list: 50,000 rows, about 2% of them bad.

Prints how long the dry run (every row checked: postcode in the force, numbers,
addresses, duplicates) and the import (all accepted rows in one transaction) take.
Runs on the benchmark database and removes what it imported afterwards.

    .venv/bin/python bench/bench_import.py [--rows 50000]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bench_app  # noqa: E402

FILENAME = "bench_import.csv"


def synthetic_csv(postcodes: list[str], rows: int, rng: random.Random) -> str:
    lines = ["name,postcode,mobile,landline,email,groups"]
    for n in range(rows):
        postcode = rng.choice(postcodes)
        mobile = "07" + rng.choice("45789") + f"{rng.randrange(10**8):08d}"
        email = f"import.{n}@example.invalid" if rng.random() < 0.5 else ""
        groups = "Neighbourhood Watch" if rng.random() < 0.3 else ""
        fault = rng.random()
        if fault < 0.005:
            postcode = "BA12 9AA"  # outside the force
        elif fault < 0.01:
            mobile = "09011 234567"  # premium rate
        elif fault < 0.015:
            email, mobile = "not-an-address", ""
        elif fault < 0.02:
            postcode = "ZZ9 9ZZ"  # no such postcode
        lines.append(f"Resident {n},{postcode},{mobile},,{email},{groups}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    app = bench_app()
    from sqlalchemy import select, text

    from app.cli.data import DATA_DIR, SHIPPED_PLACES, run_places_load
    from app.cli.demo import ensure_interest_groups
    from app.extensions import db
    from app.models import Place, Postcode
    from app.services.resident_import import import_residents, reason_in_english

    with app.app_context():
        if db.session.scalar(select(Place.id).where(Place.kind == "force")) is None:
            print("loading the shipped boundaries…", flush=True)
            for spec in SHIPPED_PLACES:
                run_places_load(DATA_DIR / spec.path, spec)
        ensure_interest_groups()
        force = db.session.scalars(select(Place).where(Place.kind == "force")).first()
        districts = force.properties.get("constituent_lad23cd") or []
        postcodes = list(
            db.session.scalars(
                select(Postcode.display).where(
                    Postcode.admin_district_code.in_(districts),
                    Postcode.terminated_on.is_(None),
                    Postcode.location.is_not(None),
                )
            )
        )
        db.session.rollback()
        content = synthetic_csv(postcodes, args.rows, random.Random(11))
        print(f"{args.rows:,} rows over {len(postcodes):,} postcodes, {os.cpu_count()} cores")
        try:
            start = time.perf_counter()
            dry = import_residents(content, filename=FILENAME, dry_run=True)
            checked = time.perf_counter() - start
            print(
                f"dry run: {checked:.1f} s ({args.rows / checked:,.0f} rows a second): "
                f"{dry.accepted:,} accepted, {len(dry.rejected):,} rejected"
            )
            reasons: dict[str, int] = {}
            for rejected in dry.rejected:
                for reason in map(reason_in_english, rejected["reasons"]):
                    if "same as on row" in reason:
                        key = "twice in the file"
                    elif "already registered" in reason:
                        key = "already registered"
                    else:
                        key = reason.split(":")[0]
                    reasons[key] = reasons.get(key, 0) + 1
            print(f"  rejected by: {reasons}")
            start = time.perf_counter()
            done = import_residents(content, filename=FILENAME, dry_run=False)
            took = time.perf_counter() - start
            print(
                f"import (check again + write, one transaction): {took:.1f} s, "
                f"{done.imported:,} residents written"
            )
        finally:
            db.session.rollback()
            db.session.execute(
                text("DELETE FROM residents WHERE source = :source"),
                {"source": f"import:{FILENAME}"},
            )
            db.session.commit()


if __name__ == "__main__":
    main()
