"""Why residents' locations are geometry(Point, 27700) and not geography(Point, 4326).

Builds two copies of the same synthetic residents (several per shipped postcode,
jittered by up to 100 m) in temporary tables, one in British National Grid metres and
one as WGS84 geography, each with a GiST index, and times the queries targeting runs:
residents within 1 km and 5 km of a postcode, and inside a drawn polygon. Prints median
and p95 in milliseconds, the counts (planar BNG metres and spheroidal metres differ by
the grid's scale factor, < 0.05 % in GB) and the query plans.

    make bench                      # all benchmarks
    .venv/bin/python bench/bench_location_storage.py --copies 5 --queries 200
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import psycopg

RADII_M = (1000, 5000)


def connect():
    url = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True)


def timed(cur, sql, params) -> tuple[float, int]:
    start = time.perf_counter()
    cur.execute(sql, params)
    count = cur.fetchone()[0]
    return (time.perf_counter() - start) * 1000, count


def summary(times: list[float]) -> str:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return f"median {statistics.median(times):6.2f} ms  p95 {p95:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=5, help="residents per postcode")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(7)

    with connect() as conn, conn.cursor() as cur:
        cur.execute("SET max_parallel_workers_per_gather = 0")
        print(f"cores: {os.cpu_count()}; building {args.copies} residents per shipped postcode…")
        cur.execute(
            """
            CREATE TEMP TABLE bench_bng AS
            SELECT ST_Translate(location, (random() - 0.5) * 200, (random() - 0.5) * 200)
                   AS location
            FROM postcodes, generate_series(1, %s)
            WHERE location IS NOT NULL
              -- the postcode areas the product ships, whichever database this runs on
              AND substring(postcode from '^[A-Z]+') IN ('BS', 'BA', 'TA', 'GL', 'DT', 'SN', 'EX')
            """,
            (args.copies,),
        )
        cur.execute(
            "CREATE TEMP TABLE bench_geog AS "
            "SELECT ST_Transform(location, 4326)::geography AS location FROM bench_bng"
        )
        cur.execute("CREATE INDEX ON bench_bng USING gist (location)")
        cur.execute("CREATE INDEX ON bench_geog USING gist (location)")
        cur.execute("ANALYZE bench_bng")
        cur.execute("ANALYZE bench_geog")
        cur.execute("SELECT count(*) FROM bench_bng")
        print(f"residents: {cur.fetchone()[0]:,}")
        cur.execute(
            "SELECT ST_X(location), ST_Y(location), ST_X(location_wgs84), ST_Y(location_wgs84) "
            "FROM postcodes WHERE postcode LIKE 'BS%%' OR postcode LIKE 'BA%%' "
            "OR postcode LIKE 'TA%%'"
        )
        centres = rng.sample(cur.fetchall(), args.queries)

        bng_radius = (
            "SELECT count(*) FROM bench_bng "
            "WHERE ST_DWithin(location, ST_SetSRID(ST_MakePoint(%s, %s), 27700), %s)"
        )
        geog_radius = (
            "SELECT count(*) FROM bench_geog "
            "WHERE ST_DWithin(location, ST_MakePoint(%s, %s)::geography, %s)"
        )
        for radius in RADII_M:
            bng, geog, diffs = [], [], []
            for e, n, lon, lat in centres:
                t1, c1 = timed(cur, bng_radius, (e, n, radius))
                t2, c2 = timed(cur, geog_radius, (lon, lat, radius))
                bng.append(t1)
                geog.append(t2)
                diffs.append(abs(c1 - c2))
            print(f"within {radius / 1000:g} km  geometry/BNG  {summary(bng)}")
            print(f"within {radius / 1000:g} km  geography     {summary(geog)}")
            print(f"  counts differ by at most {max(diffs)} residents between the two")

        # A drawn 20-vertex polygon around each centre, about 2 km across.
        bng_poly = (
            "SELECT count(*) FROM bench_bng WHERE ST_Intersects(location, "
            "ST_Buffer(ST_SetSRID(ST_MakePoint(%s, %s), 27700), 1000, 5))"
        )
        geog_poly = (
            "SELECT count(*) FROM bench_geog WHERE ST_Intersects(location, "
            "ST_Transform(ST_Buffer(ST_SetSRID(ST_MakePoint(%s, %s), 27700), 1000, 5), 4326)"
            "::geography)"
        )
        bng, geog = [], []
        for e, n, _, _ in centres:
            bng.append(timed(cur, bng_poly, (e, n))[0])
            geog.append(timed(cur, geog_poly, (e, n))[0])
        print(f"20-vertex polygon geometry/BNG  {summary(bng)}")
        print(f"20-vertex polygon geography     {summary(geog)}")

        e, n, lon, lat = centres[0]
        for label, sql, params in (
            ("geometry/BNG 5 km", bng_radius, (e, n, 5000)),
            ("geography 5 km", geog_radius, (lon, lat, 5000)),
        ):
            cur.execute("EXPLAIN " + sql, params)
            plan = " / ".join(row[0].strip() for row in cur.fetchall())
            print(f"plan, {label}: {plan}")


if __name__ == "__main__":
    main()
