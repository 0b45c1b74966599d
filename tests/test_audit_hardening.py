"""The deployment guide's hardening of the audit log (scripts/harden_audit.sql), run by
a superuser on a database of its own, then tried as the application's login: every way
to wipe or rewrite the log refused, events still added, the nightly backup still made,
and a restore hardened again. Done by hand before, the guide's steps left the triggers'
functions to the application's login (it replaced the guard and rewrote every event's
address) and broke every backup (an outside check of the install)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from app.dao.audit import LOG_OWNED_BY_THIS_LOGIN
from tests.factories import own_server_setting

ROOT = Path(__file__).resolve().parents[1]


def superuser_psql() -> list[str]:
    """The command that runs psql as the server's superuser: make test sets it on the
    PostgreSQL it runs itself (scripts/services.sh psql)."""
    words = shlex.split(own_server_setting("TEST_SUPERUSER_PSQL"))
    if not os.path.isabs(words[0]) and (ROOT / words[0]).exists():
        words[0] = str(ROOT / words[0])
    return words


def as_superuser(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [*superuser_psql(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def fresh(name: str) -> None:
    as_superuser("-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    as_superuser("-c", f'CREATE DATABASE "{name}" OWNER community_alerts')
    as_superuser("-d", name, "-c", "CREATE EXTENSION postgis")


@pytest.fixture
def databases():
    """(the hardened database's URL, the restored one's), each new, dropped after."""
    superuser_psql()  # skips first when there is no superuser to ask
    test_url = make_url(os.environ["TEST_DATABASE_URL"])
    name = f"{test_url.database}_hardening"
    names = (name, f"{name}_restored")
    for each in names:
        fresh(each)
    urls = tuple(
        test_url.set(drivername="postgresql", database=each).render_as_string(hide_password=False)
        for each in names
    )
    yield urls
    for each in names:
        as_superuser("-c", f'DROP DATABASE IF EXISTS "{each}" WITH (FORCE)')
    as_superuser("-c", f'DROP ROLE IF EXISTS "{name}_audit"')


def harden(database: str) -> str:
    return as_superuser(
        "-v",
        "app=community_alerts",
        "-v",
        f"audit={database.split('_restored')[0]}_audit",
        "-v",
        "admin=postgres",
        "-d",
        database,
        stdin=(ROOT / "scripts" / "harden_audit.sql").read_text(),
    )


def refused(url: str, statement: str) -> str | None:
    """The error the application's login gets, or None when it was done."""
    with psycopg.connect(url, autocommit=True) as connection:
        try:
            connection.execute(statement)
        except psycopg.Error as error:
            return str(error).splitlines()[0]
    return None


def test_the_audit_log_cannot_be_wiped_or_rewritten_by_the_apps_login(databases, tmp_path):
    url, restored_url = databases
    name = make_url(url).database
    environ = dict(
        os.environ,
        DATABASE_URL=url,
        REDIS_URL=os.environ["TEST_REDIS_URL"],
        APP_ENV="development",
        SECRET_KEY="x" * 40,
    )
    upgraded = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "flask"), "db", "upgrade"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    add = "INSERT INTO audit_events (action, details) VALUES ('test.event', '{}')"
    assert refused(url, add) is None
    # The admin's audit page says whether the app's login could still wipe the log.
    with psycopg.connect(url) as connection:
        assert connection.execute(LOG_OWNED_BY_THIS_LOGIN).fetchone() == (True,)

    said = harden(name)
    again = harden(name)  # twice changes nothing
    assert said == again
    owners = [row.split("|")[-1].strip() for row in said.splitlines() if "|" in row][1:]
    assert owners == ["postgres"] + [f"{name}_audit"] * (len(owners) - 1)
    assert len(owners) == 6  # the database, the schema, the log and its 3 functions

    assert refused(url, add) is None  # events are still added
    with psycopg.connect(url) as connection:
        assert connection.execute(LOG_OWNED_BY_THIS_LOGIN).fetchone() == (False,)
    for statement, error in (
        ("UPDATE audit_events SET ip_address = '203.0.113.9'", "append-only"),
        ("DELETE FROM audit_events", "permission denied"),
        ("TRUNCATE audit_events", "permission denied"),
        ("ALTER TABLE audit_events DISABLE TRIGGER USER", "must be owner"),
        (
            "CREATE OR REPLACE FUNCTION public.audit_events_append_only() RETURNS trigger"
            " LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
            "must be owner of function",
        ),
        ("ALTER FUNCTION audit_events_set_force() OWNER TO community_alerts", "must be owner"),
        ("DROP FUNCTION audit_events_no_truncate() CASCADE", "must be owner"),
        ("DROP TABLE audit_events", "must be owner"),
        ("DROP SCHEMA public CASCADE", "must be owner"),
    ):
        answer = refused(url, statement)
        assert answer is not None and error in answer, (statement, answer)

    # Its own now() first in its search path does not fool the guard into taking a
    # new event for an old one (a re-check: it wiped a minute-old event's address).
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql"
            " AS $$ SELECT pg_catalog.now() + interval '400 days' $$"
        )
        connection.execute("SET search_path = public, pg_catalog")
        with pytest.raises(psycopg.Error, match="append-only"):
            connection.execute("UPDATE audit_events SET ip_address = NULL")

    # The nightly backup, as the application's login: pg_dump reads the log's sequence.
    backup = tmp_path / "backup.dump"
    made = subprocess.run(
        [str(ROOT / "scripts" / "backup.sh"), url, str(backup)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert made.returncode == 0, made.stderr

    # Restored as the guide says, the log is the application's login's again; the
    # script run again makes it the audit role's.
    listing = subprocess.run(
        ["pg_restore", "--list", str(backup)], capture_output=True, text=True, check=True
    ).stdout
    kept = tmp_path / "list"
    kept.write_text(
        "".join(
            line + "\n"
            for line in listing.splitlines()
            if not any(
                part in line
                for part in (
                    " EXTENSION ",
                    " COMMENT - EXTENSION ",
                    "TABLE DATA public spatial_ref_sys ",
                )
            )
        )
    )
    subprocess.run(
        [
            "pg_restore",
            "--exit-on-error",
            "--no-owner",
            f"--use-list={kept}",
            f"--dbname={restored_url}",
            str(backup),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    with psycopg.connect(restored_url) as connection:
        assert connection.execute("SELECT count(*) FROM audit_events").fetchone()[0] == 2
        owner = connection.execute(
            "SELECT tableowner FROM pg_tables WHERE tablename = 'audit_events'"
        ).fetchone()[0]
    assert owner == "community_alerts"
    harden(make_url(restored_url).database)
    answer = refused(restored_url, "ALTER TABLE audit_events DISABLE TRIGGER USER")
    assert answer is not None and "must be owner" in answer
