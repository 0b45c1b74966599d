"""Shared by the benchmarks: a database of their own, figures printed the same way."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
GB_CODEPOINT = SHARED_DATA / "postcodes" / "codepoint_open_gb"
DEFAULT_BENCH_DB = (
    "postgresql+psycopg://community_alerts:community_alerts@127.0.0.1:5432/community_alerts_bench"
)


def bench_app():
    """The application on the benchmark database (BENCH_DATABASE_URL), migrated."""
    os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", DEFAULT_BENCH_DB)
    os.environ.setdefault("APP_ENV", "development")
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/2")
    from flask_migrate import upgrade

    from app import create_app

    app = create_app("development")
    with app.app_context():
        upgrade()
    return app


def bench_database(name: str) -> str:
    """The URL of a database `name` beside the benchmarks' own (DEFAULT_BENCH_DB), made
    by scripts/services.sh (as `make` makes its databases) the first time; the caller
    loads what it needs (gb_postcodes_loaded)."""
    subprocess.run(
        [str(ROOT / "scripts/services.sh"), "up"],
        env=dict(os.environ, CA_DB_NAMES=name),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return DEFAULT_BENCH_DB.rsplit("/", 1)[0] + f"/{name}"


def demo_force_app(name: str, residents: int):
    """The application on a benchmark database of its own (`name`, bench_database)
    holding the demo force: the shipped places and `residents` synthetic residents
    (`flask demo seed`). No alert waits for a supervisor: the machine is measured."""
    os.environ["BENCH_DATABASE_URL"] = bench_database(name)
    app = bench_app()
    app.config["APPROVAL_THRESHOLD"] = 10**9
    env = dict(os.environ, DATABASE_URL=os.environ["BENCH_DATABASE_URL"])
    flask = str(ROOT / ".venv/bin/flask")
    for command in (["geo", "load-shipped"], ["demo", "seed", "--residents", str(residents)]):
        subprocess.run([flask, *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return app


def gb_postcodes_loaded(db, text) -> None:
    """Every GB postcode in the app's database, loaded once (about 20 s)."""
    if db.session.scalar(text("SELECT count(*) FROM postcodes")) > 1_000_000:
        return
    from geo.postcode_loader import load_codepoint

    print("loading the GB postcodes…", flush=True)
    load_codepoint(
        db.session.connection().connection.driver_connection, GB_CODEPOINT, source="bench"
    )
    db.session.commit()


def boundaries_loaded(db, text) -> None:
    """The shipped boundaries (the force's area and its districts) in the app's
    database: a resident's place belongs to the force they say it is in (migration
    0034), and without them no place has a force and an officer's preview reaches
    nobody."""
    if db.session.scalar(text("SELECT count(*) FROM places WHERE kind = 'force'")):
        return
    from app.cli.data import DATA_DIR, SHIPPED_PLACES, run_places_load

    print("loading the shipped boundaries…", flush=True)
    for spec in SHIPPED_PLACES:
        run_places_load(DATA_DIR / spec.path, spec)
    db.session.commit()


def places_given_forces(db, text) -> None:
    """Places seeded before their boundaries were loaded get their force, with their
    targets and the squares counted ahead, as adding a force gives them theirs
    (reassign_location_forces, migration 0040)."""
    if not db.session.scalar(
        text("SELECT EXISTS (SELECT 1 FROM resident_locations WHERE force_id IS NULL)")
    ):
        return
    print("giving every place its force…", flush=True)
    started = time.perf_counter()
    moved = db.session.scalar(text("SELECT reassign_location_forces()"))
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE resident_locations, targets, target_squares"))
    print(f"  {moved:,} places took {time.perf_counter() - started:.1f} s", flush=True)


def quantiles(millis: list[float]) -> tuple[float, float]:
    """(median, p95) of timings, p95 as figures() takes it."""
    ordered = sorted(millis)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def figures(label: str, millis: list[float]) -> str:
    ordered = sorted(millis)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"{label:<44} median {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms   "
        f"(n={len(ordered)}, {os.cpu_count()} cores)"
    )


def web_env(app, **more: str) -> dict:
    """The environment a benchmark's gunicorn (or worker) runs with: the benchmark
    database and Redis of `app`, development settings, and `more`."""
    return (
        dict(
            os.environ,
            DATABASE_URL=os.environ["DATABASE_URL"],
            REDIS_URL=app.config["REDIS_URL"],
            APP_ENV="development",
            SECRET_KEY="bench",  # noqa: S106
        )
        | more
    )


@contextlib.contextmanager
def web_app(env: dict, log: str) -> Iterator[str]:
    """The app under gunicorn as `make run` serves it (2 workers x 4 threads) on a free
    loopback port, with PUBLIC_BASE_URL set to it; yields its base URL once it accepts
    connections, and stops it afterwards. Its log goes to `log`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    command = [
        str(ROOT / ".venv/bin/gunicorn"), "-c", "python:app.gunicorn_conf",
        "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "app:create_app()",
    ]  # fmt: skip
    with open(log, "w") as errors:
        web = subprocess.Popen(
            command,
            cwd=ROOT,
            # The benchmarks time pages, not signing in: their officer signs in by
            # password alone (development honours this; production never does).
            env=env
            | {"PUBLIC_BASE_URL": base, "CA_RUN_ID": f"bench-{port}", "STAFF_TOTP_REQUIRED": "0"},
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or web.poll() is not None:
                        raise
                    time.sleep(0.2)
            yield base
        finally:
            web.terminate()
            web.wait(10)
