"""Every analyst page and download at force scale: 1,000,000 residents on the shipped
Avon and Somerset postcodes and 10,000,000 deliveries of 5,000 alerts over a year.
Target (issue 14): each page's data back in under 300 ms p95 on this 2-core machine.

For each page: the service call that makes its data (warm, --runs times: p50, p95),
the page or download through gunicorn (2 workers x 4 threads, as `make run`, signed in
as an analyst), and the bare SQL aggregate for the same figures in the same run; the
ratio is service p95 / bare SQL p95.

The seed is set-based SQL (INSERT ... SELECT generate_series) and is skipped when the
database already holds the requested numbers. It uses a database of its own,
community_alerts_bench_analysts (BENCH_ANALYSTS_DATABASE_URL to choose another; create
it with `CA_DB_NAMES="community_alerts_bench_analysts" scripts/services.sh up`):

    .venv/bin/python bench/bench_analysts.py [--residents 1000000] \\
        [--deliveries 10000000] [--alerts 5000] [--runs 20] [--http-runs 10] [--no-http]
        [--slow-ms 1000 --slow-runs 5 --http-slow-runs 3] [--only NAME] [--seed-only]

A call whose warm-up takes longer than --slow-ms is run --slow-runs times instead
(--http-slow-runs through HTTP): those miss the target by a wide margin, and 20 runs
of each would take the better part of an hour.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import bench_app, figures, web_app, web_env  # noqa: E402

# The bare SQL is put together from this module's constants; values are bound.
# ruff: noqa: S608

TARGET_MS = 300
# A database of its own: the seed replaces every resident, alert and delivery, and
# the shared benchmark database holds bench_targeting's residents all over GB.
ANALYSTS_DB = (
    "postgresql+psycopg://community_alerts:community_alerts@127.0.0.1:5432/"
    "community_alerts_bench_analysts"
)
SEED_NOTE = "bench_analysts"  # alerts.title prefix and officer e-mail of this seed
ANALYST_EMAIL = "bench-analyst@police.example"
ANALYST_PASSWORD = "bench-analyst-password-42"  # noqa: S105 (a benchmark account)
GROUPS = (
    ("neighbourhood-watch", "Neighbourhood Watch"),
    ("farm-watch", "Farm Watch"),
    ("business-watch", "Business Watch"),
    ("horse-watch", "Horse Watch"),
    ("schools", "Schools"),
    ("rural-crime", "Rural crime"),
)


# ------------------------------------------------------------------ the seed ---------


def _autocommit(db, text, *statements: str) -> None:
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for statement in statements:
            conn.execute(text(statement))


def seed_geography(app) -> None:
    """The shipped postcodes, wards, districts, force and ward population (each load
    is skipped when its file was loaded before)."""
    runner = app.test_cli_runner()
    for args in (["geo", "load-shipped"], ["geo", "load-population"]):
        result = runner.invoke(args=args)
        if result.exit_code != 0:
            sys.exit(f"flask {' '.join(args)} failed: {result.output}")


def _force_postcodes(db, text) -> int:
    """A numbered temporary table of the live postcodes in the force's districts, to
    place residents and alerts on; returns how many."""
    db.session.execute(text("DROP TABLE IF EXISTS bench_postcodes"))
    db.session.execute(
        text(
            """
            CREATE TEMP TABLE bench_postcodes ON COMMIT DROP AS
            SELECT row_number() OVER (ORDER BY p.postcode) AS n, p.postcode, p.location
            FROM postcodes p JOIN places f ON f.kind = 'force'
            WHERE p.location IS NOT NULL AND p.terminated_on IS NULL
              AND p.admin_district_code IN (
                  SELECT jsonb_array_elements_text(f.properties -> 'constituent_lad23cd'))
            """
        )
    )
    db.session.execute(text("CREATE UNIQUE INDEX ON bench_postcodes (n)"))
    return db.session.scalar(text("SELECT count(*) FROM bench_postcodes"))


def seed_residents(db, text, count: int) -> bool:
    """Residents on random force postcodes with channels, groups and leaving events.
    Returns True when it (re)seeded."""
    have = db.session.scalar(text("SELECT count(*) FROM residents"))
    if have == count:
        print(f"{count:,} residents already in place")
        return False
    print(f"seeding {count:,} residents on the force's postcodes…", flush=True)
    start = time.perf_counter()
    db.session.execute(text("SELECT setseed(0.14)"))
    db.session.execute(
        text(
            "TRUNCATE residents, resident_locations, resident_channels, resident_groups,"
            " resident_events, targets, alerts, deliveries, outbox_messages, replies"
            " RESTART IDENTITY CASCADE"
        )
    )
    for slug, name in GROUPS:
        db.session.execute(
            text(
                "INSERT INTO interest_groups (slug, name) VALUES (:s, :n)"
                " ON CONFLICT (slug) DO NOTHING"
            ),
            {"s": slug, "n": name},
        )
    postcodes = _force_postcodes(db, text)
    # Registrations over two years, more of them lately; 93% confirmed within the
    # hour; one in eight imported.
    db.session.execute(
        text(
            """
            INSERT INTO residents (id, reference, created_at, confirmed_at, source,
                                   consent_version, consent_given_at)
            SELECT g, gen_random_uuid(), c.at,
                   CASE WHEN random() < 0.93 THEN c.at + random() * interval '50 minutes' END,
                   CASE WHEN random() < 0.125 THEN 'import:bench' ELSE 'web' END,
                   'v1', c.at
            FROM generate_series(1, :n) g,
                 LATERAL (SELECT now() - interval '730 days' * power(random(), 1.6)
                                 + g * interval '0 s' AS at) c
            """
        ),
        {"n": count},
    )
    # A home for everyone, a second place (work) for one in twelve.
    db.session.execute(
        text(
            """
            INSERT INTO resident_locations (resident_id, label, postcode, location)
            SELECT r.id, r.label, p.postcode, p.location
            FROM (SELECT id, 'Home' AS label, 1 + floor(random() * :p)::int AS n
                  FROM residents
                  UNION ALL
                  SELECT id, 'Work', 1 + floor(random() * :p)::int FROM residents
                  WHERE random() < 0.083) r
            JOIN bench_postcodes p ON p.n = r.n
            """
        ),
        {"p": postcodes},
    )
    # Texts for 80%, e-mail for 55%, calls for 8%; verified for the confirmed; 4%
    # of the channels since stopped or unsubscribed.
    db.session.execute(
        text(
            """
            INSERT INTO resident_channels (resident_id, channel, address, created_at,
                                           verified_at, unsubscribed_at)
            SELECT c.id, c.channel, c.address, c.created_at,
                   CASE WHEN c.confirmed_at IS NOT NULL THEN c.confirmed_at END,
                   CASE WHEN c.confirmed_at IS NOT NULL AND random() < 0.04
                        THEN c.confirmed_at + (now() - c.confirmed_at) * random() END
            FROM (SELECT r.id, r.created_at, r.confirmed_at, 'sms' AS channel,
                         '+447700' || lpad((r.id % 1000000)::text, 6, '0') AS address,
                         random() AS u
                  FROM residents r
                  UNION ALL
                  SELECT r.id, r.created_at, r.confirmed_at, 'email',
                         'r' || r.id || '@example.invalid', random() + 0.25 FROM residents r
                  UNION ALL
                  SELECT r.id, r.created_at, r.confirmed_at, 'voice',
                         '+441179' || lpad((r.id % 1000000)::text, 6, '0'), random() + 0.72
                  FROM residents r) c
            WHERE c.u < 0.8
            """
        )
    )
    db.session.execute(
        text(
            """
            INSERT INTO resident_groups (resident_id, group_id)
            SELECT DISTINCT r.id, g.id
            FROM (SELECT id, 1 + floor(random() * 6)::int AS pick FROM residents
                  WHERE random() < 0.35
                  UNION ALL
                  SELECT id, 1 + floor(random() * 6)::int FROM residents
                  WHERE random() < 0.10) r
            JOIN (SELECT id, row_number() OVER (ORDER BY id) AS pick FROM interest_groups) g
              ON g.pick = r.pick
            """
        )
    )
    # Unsubscribes, STOPs, deletions and expiries over two years, with what the
    # time line breaks them down by.
    db.session.execute(
        text(
            """
            INSERT INTO resident_events (kind, at, channels, groups, source,
                                         registered_on, confirmed_on)
            SELECT e.kind, e.at, e.channels, e.groups,
                   CASE WHEN random() < 0.125 THEN 'import' ELSE 'self' END,
                   CASE WHEN e.kind IN ('deleted', 'expired')
                        THEN (e.at - random() * interval '300 days')::date END,
                   CASE WHEN e.kind = 'deleted'
                        THEN (e.at - random() * interval '200 days')::date END
            FROM (SELECT k.kind, now() - interval '730 days' * random() AS at,
                         CASE k.kind WHEN 'stopped' THEN ARRAY['sms']
                              WHEN 'unsubscribed' THEN ARRAY[(ARRAY['email', 'sms',
                                  'voice'])[1 + floor(random() * 3)::int]]
                              ELSE ARRAY['sms', 'email'] END::varchar[] AS channels,
                         CASE WHEN random() < 0.6 THEN ARRAY[]::varchar[]
                              ELSE ARRAY[(ARRAY['neighbourhood-watch', 'farm-watch',
                                   'business-watch', 'horse-watch', 'schools',
                                   'rural-crime'])[1 + floor(random() * 6)::int]]::varchar[]
                         END AS groups
                  FROM (VALUES ('unsubscribed', 0.03), ('stopped', 0.02),
                               ('deleted', 0.015), ('expired', 0.005)) k(kind, share),
                       LATERAL generate_series(1, (:n * k.share)::int) g) e
            """
        ),
        {"n": count},
    )
    db.session.execute(text("SELECT setval('residents_id_seq', :n)"), {"n": count})
    db.session.commit()
    print(f"  residents seeded in {time.perf_counter() - start:.1f} s", flush=True)
    return True


def _deliveries_constraints(db, text) -> tuple[list[str], list[str]]:
    """(drop, create) statements for the deliveries' indexes and constraints other
    than its primary key, exactly as the migrations made them (read back from the
    catalogue): bulk loading without them and building them after is much faster."""
    drop, create = [], []
    for name, definition in db.session.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'deliveries'::regclass AND contype IN ('f', 'u')"
            " ORDER BY contype DESC"
        )
    ):
        drop.append(f'ALTER TABLE deliveries DROP CONSTRAINT "{name}"')
        create.append(f'ALTER TABLE deliveries ADD CONSTRAINT "{name}" {definition}')
    for name, definition in db.session.execute(
        text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i"
            " WHERE i.tablename = 'deliveries' AND NOT EXISTS ("
            "   SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        )
    ):
        drop.append(f'DROP INDEX "{name}"')
        create.insert(0, definition)
    return drop, create


def seed_deliveries(db, text, alerts: int, deliveries: int, residents: int, force: bool) -> None:
    """Alerts over the last year (live, exercises, an officer's tests) and their
    deliveries: sizes long-tailed, channels, statuses, failure reasons, text parts,
    call minutes and timings as a real ledger has them."""
    have = db.session.scalar(text("SELECT count(*) FROM deliveries"))
    have_alerts = db.session.scalar(text("SELECT count(*) FROM alerts"))
    if not force and have == deliveries and have_alerts == alerts:
        print(f"{alerts:,} alerts and {deliveries:,} deliveries already in place")
        return
    print(f"seeding {alerts:,} alerts and {deliveries:,} deliveries…", flush=True)
    start = time.perf_counter()
    db.session.execute(text("TRUNCATE alerts, deliveries, outbox_messages, replies CASCADE"))
    officer = db.session.scalar(
        text(
            "INSERT INTO officers (email, name, role) VALUES ('bench-sender@police.example',"
            " 'Bench sender', 'officer') ON CONFLICT (email) DO UPDATE SET name = EXCLUDED.name"
            " RETURNING id"
        )
    )
    db.session.execute(text("SELECT setseed(0.41)"))
    db.session.execute(
        text(
            """
            INSERT INTO alerts (id, created_by_id, title, body, shapes, area, status,
                                recipient_count, created_at, sent_at, category, mode,
                                audience, reference)
            SELECT g, :officer, 'bench_analysts alert ' || g, 'Body', '[]'::jsonb,
                   ST_Multi(ST_Buffer(p.location, 400 + 4600 * random(), 8)), 'sent',
                   NULL, s.at - interval '3 minutes', s.at,
                   (ARRAY['incident', 'incident', 'incident', 'missing_person',
                          'crime_prevention', 'crime_prevention', 'appeal', 'update',
                          'all_clear'])[1 + floor(random() * 9)::int],
                   m.mode, CASE WHEN m.mode = 'test' THEN 'self' ELSE 'area' END,
                   'BA' || lpad(g::text, 6, '0')
            FROM generate_series(1, :n) g,
                 LATERAL (SELECT now() - interval '365 days' * (1 - g::float / :n)
                                 - random() * interval '90 minutes' + g * interval '0 s'
                                 AS at) s,
                 LATERAL (SELECT CASE WHEN r < 0.90 THEN 'live' WHEN r < 0.98 THEN 'exercise'
                                      ELSE 'test' END AS mode
                          FROM (SELECT random() + g * 0 AS r) x) m,
                 LATERAL (SELECT 1 + floor(random() * :p)::int + g * 0 AS pick) k
                 JOIN bench_postcodes p ON p.n = k.pick
            """
        ),
        {"n": alerts, "officer": officer, "p": _force_postcodes(db, text)},
    )
    db.session.execute(text("SELECT setval('alerts_id_seq', :n)"), {"n": alerts})
    # Sizes: long-tailed (a few force-wide alerts, many local ones), summing to
    # exactly `deliveries`; an officer's test reaches only a handful.
    db.session.execute(
        text(
            """
            CREATE TEMP TABLE bench_sizes ON COMMIT DROP AS
            WITH w AS (
                SELECT id, sent_at, created_at,
                       CASE WHEN mode = 'test' THEN 0.0005
                            ELSE power(-ln(1 - random()), 2.2) END AS weight
                FROM alerts
            ), c AS (
                SELECT id, sent_at, created_at, weight, sum(weight) OVER (ORDER BY id) AS upto,
                       sum(weight) OVER () AS whole FROM w
            )
            SELECT id, sent_at, created_at, floor((upto - weight) / whole * :d)::bigint AS first,
                   floor(upto / whole * :d)::bigint AS last
            FROM c
            """
        ),
        {"d": deliveries},
    )
    largest = db.session.scalar(text("SELECT max(last - first) FROM bench_sizes"))
    if largest > residents:
        sys.exit(f"an alert would reach {largest:,} of {residents:,} residents: seed more")
    db.session.execute(
        text(
            "UPDATE alerts a SET recipient_count = ((s.last - s.first) * 0.78)::int"
            " FROM bench_sizes s WHERE s.id = a.id"
        )
    )
    # A partition for each month of the alerts (the ledger is partitioned by month).
    db.session.execute(
        text(
            "SELECT deliveries_make_partition(m) FROM generate_series("
            "date_trunc('month', (SELECT min(created_at) FROM alerts)), now(), '1 month') m"
        )
    )
    drop, create = _deliveries_constraints(db, text)
    # One transaction from here to the end (DDL included): a failure leaves the
    # ledger as it was, indexes and constraints and all.
    for statement in drop:
        db.session.execute(text(statement))
    # Deliveries, one per (alert, resident, channel): resident i of an alert is a
    # permutation of the residents (7919 is prime to their count), so none repeats.
    # Sending at ~400 a second per alert; a text's receipt 2-12 s after it was sent;
    # "unknown" (being checked) only in the last day: the sweeper settles it after.
    db.session.execute(text("SELECT setseed(0.77)"))
    db.session.execute(
        text(
            """
            INSERT INTO deliveries (alert_id, alert_created_at, resident_id, channel, address,
                                    status, reason, provider_ref, created_at, updated_at,
                                    attempts, sent_at, finished_at, segments,
                                    duration_seconds, attempted_at)
            SELECT x.alert_id, x.alert_created_at, x.rid, c.channel,
                   CASE c.channel WHEN 'email' THEN 'r' || x.rid || '@example.invalid'
                        ELSE '+447700' || lpad((x.rid % 1000000)::text, 6, '0') END,
                   s.status,
                   CASE WHEN s.status = 'failed' THEN CASE c.channel
                        WHEN 'sms' THEN (ARRAY['Unreachable destination handset (30003)',
                             'Unknown destination handset (30005)',
                             'Carrier violation (30007)', 'Message blocked (30004)',
                             'Unknown error (30008)'])[1 + floor(x.w * 5)::int]
                        WHEN 'email' THEN (ARRAY['550 5.1.1 Mailbox unavailable',
                             '552 5.2.2 Mailbox full'])[1 + floor(x.w * 2)::int]
                        ELSE (ARRAY['no-answer', 'busy', 'failed'])[1 + floor(x.w * 3)::int]
                        END END,
                   CASE WHEN c.channel <> 'email' AND s.status <> 'cancelled'
                        THEN 'SM' || lpad(to_hex(x.g), 32, '0') END,
                   x.released, x.released + t.send + interval '12 s', 1,
                   CASE WHEN s.status <> 'cancelled' THEN x.released + t.send END,
                   CASE WHEN s.status IN ('delivered', 'failed')
                        THEN x.released + t.send + interval '2 s' + x.w * interval '10 s' END,
                   CASE WHEN c.channel = 'sms' AND s.status IN ('delivered', 'sent', 'failed')
                        THEN 1 + (x.w < 0.55)::int + (x.w < 0.08)::int END,
                   CASE WHEN c.channel = 'voice' AND s.status = 'delivered'
                        THEN 15 + floor(x.w * 100)::int END,
                   CASE WHEN s.status <> 'cancelled' THEN x.released + t.send END
            FROM (
                SELECT b.id AS alert_id, b.created_at AS alert_created_at,
                       b.sent_at AS released, g,
                       (((g - b.first) * 7919 + b.id * 104729) % :r) + 1 AS rid,
                       g - b.first AS i, random() AS u, random() AS v, random() AS w
                FROM bench_sizes b, generate_series(b.first, b.last - 1) g
            ) x,
            LATERAL (SELECT CASE WHEN x.u < 0.62 THEN 'sms' WHEN x.u < 0.92 THEN 'email'
                                 ELSE 'voice' END AS channel) c,
            LATERAL (SELECT CASE c.channel
                 WHEN 'sms' THEN CASE WHEN x.v < 0.905 THEN 'delivered'
                      WHEN x.v < 0.945 THEN 'sent' WHEN x.v < 0.975 THEN 'failed'
                      WHEN x.v < 0.992 THEN 'cancelled' WHEN x.v < 0.997 THEN 'possibly_sent'
                      WHEN x.released > now() - interval '1 day' THEN 'unknown'
                      ELSE 'possibly_sent' END
                 WHEN 'email' THEN CASE WHEN x.v < 0.955 THEN 'sent'
                      WHEN x.v < 0.985 THEN 'failed' ELSE 'cancelled' END
                 ELSE CASE WHEN x.v < 0.78 THEN 'delivered' WHEN x.v < 0.95 THEN 'failed'
                      ELSE 'cancelled' END END AS status) s,
            LATERAL (SELECT x.i * interval '2.5 ms' AS send) t
            """
        ),
        {"r": residents},
    )
    loaded = time.perf_counter() - start
    print(f"  rows written in {loaded:.1f} s; building indexes and constraints…", flush=True)
    db.session.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
    for statement in create:
        db.session.execute(text(statement))
    db.session.commit()
    _autocommit(db, text, "VACUUM ANALYZE alerts, deliveries")
    print(f"  deliveries seeded in {time.perf_counter() - start:.1f} s", flush=True)


def seed(app, args) -> None:
    from sqlalchemy import text

    from app.extensions import db

    start = time.perf_counter()
    seed_geography(app)
    with app.app_context():
        fresh = seed_residents(db, text, args.residents)
        if fresh:
            _autocommit(
                db,
                text,
                "VACUUM ANALYZE residents, resident_locations, resident_channels,"
                " resident_groups, resident_events, targets",
            )
        seed_deliveries(db, text, args.alerts, args.deliveries, args.residents, fresh)
        db.session.commit()
    print(f"seed: {time.perf_counter() - start:.1f} s in all", flush=True)


# ------------------------------------------------------------------ measuring ---------


class Timer:
    """Warm runs of a callable: p50 and p95 in milliseconds. A call slower than
    `slow_ms` on its warm-up is run `slow_runs` times only, to keep the whole
    benchmark within minutes (the table says n)."""

    def __init__(self, runs: int, slow_ms: float, slow_runs: int, after: Callable[[], None]):
        self.runs, self.slow_ms, self.slow_runs, self.after = runs, slow_ms, slow_runs, after

    def __call__(self, fn: Callable[[], object]) -> list[float]:
        start = time.perf_counter()
        fn()
        self.after()
        first = (time.perf_counter() - start) * 1000
        runs = self.runs if first < self.slow_ms else self.slow_runs
        if first < self.slow_ms:
            fn()  # a second warm-up for the quick ones (plans, caches)
            self.after()
        millis = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            self.after()
            millis.append((time.perf_counter() - start) * 1000)
        return millis


def p95(millis: list[float]) -> float:
    ordered = sorted(millis)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def p50(millis: list[float]) -> float:
    ordered = sorted(millis)
    return ordered[len(ordered) // 2]


def analyst_account(app) -> None:
    from sqlalchemy import text

    from app.extensions import db
    from app.services.accounts import create_officer

    with app.app_context():
        found = db.session.scalar(
            text("SELECT id FROM officers WHERE email = :e"), {"e": ANALYST_EMAIL}
        )
        if found is None:
            create_officer(
                email=ANALYST_EMAIL, name="Bench analyst", role="analyst", password=ANALYST_PASSWORD
            )


def signed_in(base: str):
    import requests

    web = requests.Session()
    page = web.get(base + "/sign-in", timeout=30)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = web.post(
        base + "/sign-in",
        data={"email": ANALYST_EMAIL, "password": ANALYST_PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    if answer.status_code != 302:
        sys.exit(f"could not sign in as the bench analyst: {answer.status_code}")
    return web


def analysts_app():
    """bench_app() on BENCH_ANALYSTS_DATABASE_URL (default: its own database), leaving
    BENCH_DATABASE_URL as it was for the benchmarks `make bench` runs after this one."""
    import sqlalchemy

    url = os.environ.get("BENCH_ANALYSTS_DATABASE_URL", ANALYSTS_DB)
    try:
        sqlalchemy.create_engine(url).connect().close()
    except sqlalchemy.exc.OperationalError as error:
        name = url.rsplit("/", 1)[-1]
        sys.exit(
            f"cannot open the analysts' benchmark database ({type(error.orig).__name__}); "
            f'create it with: CA_DB_NAMES="{name}" scripts/services.sh up'
        )
    before = os.environ.get("BENCH_DATABASE_URL")
    os.environ["BENCH_DATABASE_URL"] = url
    try:
        return bench_app()
    finally:
        if before is None:
            del os.environ["BENCH_DATABASE_URL"]
        else:
            os.environ["BENCH_DATABASE_URL"] = before


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--deliveries", type=int, default=10_000_000)
    parser.add_argument("--alerts", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--http-runs", type=int, default=10)
    parser.add_argument("--slow-ms", type=float, default=1000)
    parser.add_argument("--slow-runs", type=int, default=5)
    parser.add_argument("--http-slow-runs", type=int, default=3)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--only", help="measure only pages whose name contains this")
    args = parser.parse_args()
    app = analysts_app()
    seed(app, args)
    if args.seed_only:
        return

    from sqlalchemy import text

    from app.extensions import db
    from app.services import reports, timeline
    from app.services.briefing import build_briefing_map
    from app.services.density import density_features, density_map
    from app.services.penetration import penetration_geojson, penetration_report, sorted_report

    config = app.config
    force, cell, k = config["FORCE_CODE"], config["DENSITY_CELL_M"], config["DENSITY_MIN_COUNT"]
    today = date.today()
    quarter = reports.period_from(None, None)
    year = reports.period_from((today - timedelta(days=364)).isoformat(), today.isoformat())
    weeks = timeline.default_period()
    weeks_year = timeline.parse_period((today - timedelta(weeks=51)).isoformat(), None)
    uk_week = "date_trunc('week', {c} AT TIME ZONE 'Europe/London')"
    in_weeks = (
        "{c} >= (CAST(:start AS date)::timestamp AT TIME ZONE 'Europe/London')"
        " AND {c} < (CAST(:end AS date)::timestamp AT TIME ZONE 'Europe/London')"
    )

    # The bare SQL: the same figures, counted as plainly as SQL can.
    squares = (
        "SELECT floor(ST_X(l.location) / :cell)::int, floor(ST_Y(l.location) / :cell)::int,"
        " count(*) FROM resident_locations l {join} GROUP BY 1, 2"
    )
    by_ward = (
        "SELECT p.admin_ward_code, count(*) FROM resident_locations l"
        " JOIN postcodes p ON p.postcode = l.postcode GROUP BY 1"
    )
    sent = (
        "SELECT d.channel, d.status, count(*) FROM alerts a JOIN deliveries d"
        " ON d.alert_id = a.id WHERE a.sent_at >= :start AND a.sent_at < :end GROUP BY 1, 2"
    )
    registered = (
        f"SELECT {uk_week.format(c='r.created_at')}, count(*) FROM residents r"
        f" WHERE {in_weeks.format(c='r.created_at')} GROUP BY 1"
    )
    registered_by_channel = (
        f"SELECT {uk_week.format(c='r.created_at')}, c.channel, count(*) FROM residents r"
        f" JOIN resident_channels c ON c.resident_id = r.id"
        f" WHERE {in_weeks.format(c='r.created_at')} GROUP BY 1, 2"
    )
    registered_by_group = (
        f"SELECT {uk_week.format(c='r.created_at')}, rg.group_id, count(*) FROM residents r"
        f" JOIN resident_groups rg ON rg.resident_id = r.id"
        f" WHERE {in_weeks.format(c='r.created_at')} GROUP BY 1, 2"
    )
    registered_by_source = (
        f"SELECT {uk_week.format(c='r.created_at')}, r.source, count(*) FROM residents r"
        f" WHERE {in_weeks.format(c='r.created_at')} GROUP BY 1, 2"
    )
    week_params = {"start": weeks.start, "end": weeks.end}

    def timeline_page(period, kind=None, by=""):
        return lambda: timeline.build_timeline(period, kind, by)

    # (name, service call, bare SQL and its parameters, HTTP path)
    pages = [
        (
            "density",
            lambda: density_map(cell, k),
            (squares.format(join=""), {"cell": cell}),
            "/analysts/density",
        ),
        (
            "density.geojson",
            lambda: density_features(density_map(cell, k)),
            (squares.format(join=""), {"cell": cell}),
            "/analysts/density.geojson",
        ),
        (
            "density.geojson?channel=sms",
            lambda: density_features(density_map(cell, k, channel="sms")),
            (
                squares.format(
                    join="JOIN resident_channels c ON c.resident_id = l.resident_id"
                    " AND c.channel = 'sms'"
                ),
                {"cell": cell},
            ),
            "/analysts/density.geojson?channel=sms",
        ),
        (
            "density.geojson?group=farm-watch",
            lambda: density_features(density_map(cell, k, group="farm-watch")),
            (
                squares.format(
                    join="JOIN resident_groups rg ON rg.resident_id = l.resident_id"
                    " JOIN interest_groups g ON g.id = rg.group_id AND g.slug = 'farm-watch'"
                ),
                {"cell": cell},
            ),
            "/analysts/density.geojson?group=farm-watch",
        ),
        (
            "penetration",
            lambda: sorted_report(penetration_report(force), "rate", "asc"),
            (by_ward, {}),
            "/analysts/penetration",
        ),
        (
            "penetration.geojson",
            lambda: penetration_geojson(force),
            (by_ward, {}),
            "/analysts/penetration.geojson",
        ),
        (
            "briefing-map.html",
            lambda: build_briefing_map(force),
            (by_ward, {}),
            "/analysts/briefing-map.html",
        ),
        (
            "sent (last quarter)",
            lambda: reports.sent_report(quarter, alerts_page=1),
            (sent, {"start": quarter.start, "end": quarter.end}),
            "/analysts/sent",
        ),
        (
            "sent.csv (last quarter)",
            lambda: reports.sent_report_csv(reports.sent_report(quarter)),
            (sent, {"start": quarter.start, "end": quarter.end}),
            "/analysts/sent.csv",
        ),
        (
            "sent (last 365 days)",
            lambda: reports.sent_report(year, alerts_page=1),
            (sent, {"start": year.start, "end": year.end}),
            f"/analysts/sent?from={year.first.isoformat()}&to={year.last.isoformat()}",
        ),
        (
            "timeline (26 weeks, all kinds)",
            timeline_page(weeks),
            (registered, week_params),
            "/analysts/timeline",
        ),
        (
            "timeline.csv (26 weeks)",
            lambda: timeline.timeline_csv(timeline.build_timeline(weeks)),
            (registered, week_params),
            "/analysts/timeline.csv",
        ),
        (
            "timeline.svg (26 weeks)",
            lambda: timeline.timeline_svg(timeline.build_timeline(weeks)),
            (registered, week_params),
            "/analysts/timeline.svg",
        ),
        (
            "timeline (52 weeks, all kinds)",
            timeline_page(weeks_year),
            (registered, {"start": weeks_year.start, "end": weeks_year.end}),
            f"/analysts/timeline?from={weeks_year.start.isoformat()}",
        ),
        (
            "timeline registered by channel",
            timeline_page(weeks, "registered", "channel"),
            (registered_by_channel, week_params),
            "/analysts/timeline?kind=registered&by=channel",
        ),
        (
            "timeline registered by group",
            timeline_page(weeks, "registered", "group"),
            (registered_by_group, week_params),
            "/analysts/timeline?kind=registered&by=group",
        ),
        (
            "timeline registered by source",
            timeline_page(weeks, "registered", "source"),
            (registered_by_source, week_params),
            "/analysts/timeline?kind=registered&by=source",
        ),
        (
            "timeline unsubscribed by channel",
            timeline_page(weeks, "unsubscribed", "channel"),
            (
                "SELECT date_trunc('week', e.at), unnest(e.channels), count(*)"
                " FROM resident_events e WHERE e.kind = 'unsubscribed'"
                " AND e.at >= :start AND e.at < :end GROUP BY 1, 2",
                week_params,
            ),
            "/analysts/timeline?kind=unsubscribed&by=channel",
        ),
    ]
    if args.only:
        pages = [p for p in pages if args.only in p[0]]

    results: dict[str, dict] = {}
    # As each gunicorn worker does once the app is loaded (app/gunicorn_conf.py).
    import gc

    gc.freeze()
    with app.app_context():
        from app.services import figures as precomputed

        print(
            "\nrecounting the precomputed figures (the sweeper does each every "
            f"{config['ANALYST_REFRESH_SECONDS']} s; pages read the last count):",
            flush=True,
        )
        # The whole backlog of settled alerts at once (the sweeper takes a batch a round).
        # Nothing else writes here, so no wait between noticing and counting.
        batch = config["ANALYST_SETTLED_BATCH"]
        config["ANALYST_SETTLED_BATCH"] = 1_000_000
        config["ANALYST_NOTICE_SECONDS"] = 0
        for name in precomputed.RECOUNTS:
            started = time.perf_counter()
            precomputed.refresh(name)
            print(f"  {name}: {time.perf_counter() - started:.1f} s", flush=True)
        config["ANALYST_SETTLED_BATCH"] = batch
        _autocommit(
            db,
            text,
            "VACUUM ANALYZE figure_refreshes, density_squares, ward_residents, resident_days,"
            " alert_figures, alert_delivery_totals, alert_area_wards",
        )
        timer = Timer(args.runs, args.slow_ms, args.slow_runs, db.session.remove)
        print(
            f"\nservice calls and bare SQL, warm ({args.runs} runs; {args.slow_runs} where one "
            f"takes over {args.slow_ms / 1000:g} s), {os.cpu_count()} cores:",
            flush=True,
        )
        for name, service, (sql, params), _ in pages:
            service_ms = timer(service)
            print(figures(f"{name}: service", service_ms), flush=True)

            def bare(sql=sql, params=params):
                db.session.execute(text(sql), params).all()

            bare_ms = timer(bare)
            print(figures(f"{name}: bare SQL", bare_ms), flush=True)
            results[name] = {"service": service_ms, "bare": bare_ms}

    if not args.no_http:
        analyst_account(app)
        env = web_env(app, STAFF_TOTP_REQUIRED="0")
        print(
            f"\npages and downloads through gunicorn (2 workers x 4 threads), one at a "
            f"time ({args.http_runs} runs):",
            flush=True,
        )
        with web_app(env, "/tmp/bench-analysts-web.log") as base:  # noqa: S108
            web = signed_in(base)
            for name, _, _, path in pages:
                refused = []

                def get(path=path, refused=refused):
                    answer = web.get(base + path, timeout=300)
                    if answer.status_code != 200:
                        refused.append(answer.status_code)
                    return answer.content

                timer = Timer(args.http_runs, args.slow_ms, args.http_slow_runs, lambda: None)
                http_ms = timer(get)
                note = f"   answered {sorted(set(refused))}!" if refused else ""
                print(figures(f"{name}: HTTP", http_ms) + note, flush=True)
                results[name]["http"] = http_ms

    print(f"\ntarget: the page's data in under {TARGET_MS} ms p95 ({os.cpu_count()} cores)")
    header = (
        f"{'page':<34} {'service p50':>11} {'p95':>8} {'HTTP p50':>9} {'p95':>8} "
        f"{'bare SQL p95':>12} {'ratio':>6}  meets"
    )
    print(header)
    print("-" * len(header))
    for name, found in results.items():
        service, bare = found["service"], found["bare"]
        http = found.get("http")
        web_p50, web_p95 = (p50(http), p95(http)) if http else (float("nan"), float("nan"))
        print(
            f"{name:<34} {p50(service):11.1f} {p95(service):8.1f} {web_p50:9.1f} {web_p95:8.1f} "
            f"{p95(bare):12.1f} {p95(service) / max(p95(bare), 0.01):6.1f}  "
            f"{'yes' if p95(service) < TARGET_MS else 'NO'}"
        )


if __name__ == "__main__":
    main()
