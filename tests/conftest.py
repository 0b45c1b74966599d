"""Fixtures on real services: PostgreSQL + PostGIS and Redis, started by `make test`
(scripts/services.sh) or given as TEST_DATABASE_URL / TEST_REDIS_URL.

The schema is built from the migrations (downgrade to nothing, upgrade to head) once
per run, the shipped postcodes and boundaries are loaded once, and every test starts
from empty resident, officer and alert tables and an empty Redis database.
"""

from __future__ import annotations

import os
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

# Testing, whatever the shell says: `make` exports APP_ENV=development (and the
# development DATABASE_URL), and a process a test starts (gunicorn, a worker) inherits
# this environment. Under development settings it used the development database: on
# a new machine, where `make run` had not built it, a 500 (a clean-clone check).
os.environ["APP_ENV"] = "testing"
if not os.environ.get("TEST_DATABASE_URL") or not os.environ.get("TEST_REDIS_URL"):
    sys.exit("Run the tests with `make test`: it starts the services and sets TEST_DATABASE_URL.")


def _worker_urls(environ) -> None:
    """`make test` runs the tests in TEST_WORKERS processes (pytest-xdist). The first
    uses the databases the environment names; worker n, each database named with
    `_gw<n>` after it (scripts/services.sh makes them) and the Redis database n after
    TEST_REDIS_URL's, since each worker empties its own. Set before the app and the
    processes the tests start read them."""
    n = int(environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
    if n == 0:
        return
    for variable in (
        "TEST_DATABASE_URL",
        "TEST_RESTORE_DATABASE_URL",
        "TEST_MIGRATION_DATABASE_URL",
    ):
        if environ.get(variable):
            url = make_url(environ[variable])
            url = url.set(database=f"{url.database}_gw{n}")
            environ[variable] = url.render_as_string(hide_password=False)
    redis = urlsplit(environ["TEST_REDIS_URL"])
    index = int(redis.path.strip("/") or 0) + n
    environ["TEST_REDIS_URL"] = urlunsplit(redis._replace(path=f"/{index}"))


_worker_urls(os.environ)

from flask.testing import FlaskClient  # noqa: E402
from flask_migrate import downgrade, upgrade  # noqa: E402
from sqlalchemy import text  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db, redis_store  # noqa: E402
from app.services.forces import DETAIL_COLUMNS  # noqa: E402

# Everything a test can write. Reference data (postcodes, places, data_loads) stays.
MUTABLE_TABLES = (
    "teams",
    "named_places",
    "replies",
    "stopped_numbers",
    "outbox_messages",
    "deliveries",
    "alerts",
    "alert_recordings",
    "alert_templates",
    "resident_imports",
    "resident_notices",
    "audit_events",
    "resident_groups",
    "resident_channels",
    "resident_locations",
    "resident_events",
    "residents",
    "interest_groups",
    "staff_sessions",
    "provider_events",
    "officers",
    "figure_refreshes",
    "density_squares",
    "target_squares",
    "ward_residents",
    "resident_days",
    "alert_delivery_totals",
    "alert_area_wards",
    "alert_figures",
)

pytest_plugins = ["tests.factories", "tests.browser_fixtures", "tests.provider_fixtures"]


class FreshContextClient(FlaskClient):
    """Each request gets its own application context, as in production.

    Without this, a request made while a test holds an app context reuses it, and with
    it `g` and the database session: state leaks from one request to the next.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def app():
    app = create_app("testing")
    app.test_client_class = FreshContextClient
    with app.app_context():
        downgrade(revision="base")
        upgrade()
        from app.cli.data import (
            DATA_DIR,
            SHIPPED_CODEPOINT,
            SHIPPED_PLACES,
            fit_places,
            run_codepoint_load,
            run_places_load,
        )

        for spec in SHIPPED_PLACES:
            run_places_load(DATA_DIR / spec.path, spec)
        run_codepoint_load(DATA_DIR / SHIPPED_CODEPOINT, dataset="codepoint:shipped")
        fit_places()
        from app.cli.data import SHIPPED_POPULATION, load_population

        load_population(SHIPPED_POPULATION)
        db.session.remove()
    return app


_DIRTY_SQL: list[str] = []


def _dirty_tables_sql(conn) -> str:
    """A query naming the mutable tables a test wrote to: rows in them, or an id
    drawn from their sequences. Truncating only those (and what cascades from them)
    costs a fraction of truncating all of them: TRUNCATE makes new files for every
    table and index it names."""
    if not _DIRTY_SQL:
        sequences: dict[str, list[str]] = {}
        for table, sequence in conn.execute(
            text(
                "SELECT c.relname, s.relname FROM pg_class c"
                " JOIN pg_depend d ON d.refobjid = c.oid AND d.deptype IN ('a', 'i')"
                " JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'"
                " WHERE c.relname = ANY(:tables)"
            ),
            {"tables": list(MUTABLE_TABLES)},
        ):
            sequences.setdefault(table, []).append(sequence)
        parts = []
        for table in MUTABLE_TABLES:
            # Names from MUTABLE_TABLES and the catalogue only.
            used = [f"(SELECT is_called FROM {seq})" for seq in sequences.get(table, [])]  # noqa: S608
            dirty = " OR ".join([f"EXISTS (SELECT 1 FROM {table})", *used])  # noqa: S608
            parts.append(f"SELECT '{table}' AS name WHERE {dirty}")
        _DIRTY_SQL.append(" UNION ALL ".join(parts))
    return _DIRTY_SQL[0]


_DEFAULT_FORCE: list[dict] = []
# What an administrator may change of a force.
_FORCE_DETAILS = DETAIL_COLUMNS


def _remember_default_force(app) -> None:
    """The default force's details before any test ran, once."""
    if _DEFAULT_FORCE:
        return
    columns = ", ".join(_FORCE_DETAILS)
    with app.app_context(), db.engine.connect() as conn:
        row = conn.execute(text(f"SELECT {columns} FROM forces WHERE is_default")).one()  # noqa: S608
        _DEFAULT_FORCE.append(dict(row._mapping))


def _restore_default_force(conn) -> None:
    """The default force's details as the migrations made them, whatever a test set."""
    values = ", ".join(f"{column} = :{column}" for column in _FORCE_DETAILS)
    differs = " OR ".join(f"{column} IS DISTINCT FROM :{column}" for column in _FORCE_DETAILS)
    conn.execute(
        text(f"UPDATE forces SET {values} WHERE is_default AND ({differs})"),  # noqa: S608
        _DEFAULT_FORCE[0],
    )


_NO_TRUNCATE = "ALTER TABLE audit_events {} TRIGGER audit_events_no_truncate"


@pytest.fixture(autouse=True)
def _isolated(request):
    """Empty tables and Redis after each test that used the app."""
    if "app" in request.fixturenames:
        _remember_default_force(request.getfixturevalue("app"))
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.remove()
        # A request the test left in flight (a page's last count, a worker's last batch)
        # can still hold a table: PostgreSQL then breaks the deadlock by failing one
        # side. The wipe tries again rather than fail the next test.
        for attempt in range(5):
            try:
                with db.engine.begin() as conn:
                    dirty = conn.execute(text(_dirty_tables_sql(conn))).scalars().all()
                    if dirty:
                        # The audit log refuses TRUNCATE (migration 0061), also by
                        # cascade: its owner sets that aside for the clean-up alone.
                        conn.execute(text(_NO_TRUNCATE.format("DISABLE")))
                        conn.execute(text(f"TRUNCATE {', '.join(dirty)} RESTART IDENTITY CASCADE"))
                        conn.execute(text(_NO_TRUNCATE.format("ENABLE")))
                    # Forces a test added (tests/test_forces.py); the default one stays,
                    # as it was (tests/test_force_details.py changes its details).
                    conn.execute(text("DELETE FROM forces WHERE NOT is_default"))
                    _restore_default_force(conn)
                break
            except OperationalError:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
        redis_store.client.flushdb()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()
