"""The deployment guide's backup is restored and checked: scripts/backup.sh and
scripts/restore_check.sh against the test database, restored into a database kept
for it (TEST_RESTORE_DATABASE_URL, made by scripts/services.sh)."""

import os
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.extensions import db
from tests.factories import kept_database

ROOT = Path(__file__).resolve().parents[1]


RESTORE = "TEST_RESTORE_DATABASE_URL"


@pytest.fixture
def target():
    url = kept_database(RESTORE)
    engine = create_engine(url.replace("postgresql:", "postgresql+psycopg:", 1))
    yield engine
    engine.dispose()


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "scripts" / "restore_check.sh"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_backup_restores_with_every_row_and_the_check_sees_a_difference(
    app, target, make_resident, make_officer
):
    for n in range(3):
        make_resident(postcode="BS1 6AD", sms=f"+44770090090{n}", groups=("farm-watch",))
    make_officer()
    db.session.commit()
    source = app.config["SQLALCHEMY_DATABASE_URI"]
    kept = os.environ[RESTORE]  # set: the fixture skipped otherwise

    done = run(source, kept)
    assert done.returncode == 0, done.stderr
    assert "every count equal" in done.stdout
    with target.connect() as restored:
        assert restored.execute(text("SELECT count(*) FROM residents")).scalar() == 3
        assert restored.execute(text("SELECT count(*) FROM resident_locations")).scalar() == 3
        # PostGIS works on the restored rows.
        assert (
            restored.execute(
                text("SELECT count(*) FROM resident_locations WHERE ST_SRID(location) = 27700")
            ).scalar()
            == 3
        )

    # A restore missing a row is caught, and the table named.
    with target.begin() as restored:
        restored.execute(text("DELETE FROM resident_groups"))
    differs = run("--compare", source, kept)
    assert differs.returncode == 1
    assert "resident_groups" in differs.stderr

    # Run again, it empties the target first and restores cleanly.
    again = run(source, kept)
    assert again.returncode == 0, again.stderr


def test_it_refuses_a_target_not_kept_for_restores(app):
    refused = run(app.config["SQLALCHEMY_DATABASE_URI"], "postgresql://u:p@127.0.0.1:5432/live")
    assert refused.returncode == 2
    assert "must be one kept for restore checks" in refused.stderr


def test_a_dump_a_killed_check_left_behind_is_removed_by_the_next(app, tmp_path):
    """Killed with -9, the check could not run its trap, and its dump of the whole
    database (residents' contacts included) stayed in /tmp for good (an outside
    check). The next run removes the folder of a run that is gone, not of one running."""
    dead = subprocess.Popen(["true"])  # a process that has ended
    dead.wait()
    left = tmp_path / "restore-check.killed"
    running = tmp_path / "restore-check.running"
    for folder, pid in ((left, dead.pid), (running, os.getpid())):
        folder.mkdir()
        (folder / "pid").write_text(f"{pid}\n")
        (folder / "backup.dump").write_bytes(b"PGDMP everyone's numbers")
    refused = subprocess.run(
        [
            str(ROOT / "scripts" / "restore_check.sh"),
            app.config["SQLALCHEMY_DATABASE_URI"],
            "postgresql://u:p@127.0.0.1:5432/live",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ, RESTORE_CHECK_TMP=str(tmp_path)),
    )
    assert refused.returncode == 2  # refused after the tidy, and its own folder gone too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["restore-check.running"]


def test_a_backup_you_have_is_restored_as_it_is_and_a_bad_one_fails(
    app, target, make_resident, tmp_path
):
    """The check always took a fresh dump, so a corrupt nightly backup passed, and a
    backup given to it was overwritten, left readable by anyone (an outside check).
    Given with --backup, the file is only read and restored."""
    import hashlib

    make_resident(postcode="BS1 6AD", sms="+447700900910")
    db.session.commit()
    source = app.config["SQLALCHEMY_DATABASE_URI"]
    kept = os.environ[RESTORE]
    backup = tmp_path / "nightly.dump"
    made = subprocess.run(
        [str(ROOT / "scripts" / "backup.sh"), source, str(backup)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    assert backup.stat().st_mode & 0o077 == 0  # the owner's alone
    before = hashlib.sha256(backup.read_bytes()).hexdigest()
    done = run("--backup", str(backup), kept, source)
    assert done.returncode == 0, done.stderr
    assert f"{backup} restored: " in done.stdout and "alembic_version" in done.stdout
    assert hashlib.sha256(backup.read_bytes()).hexdigest() == before
    with target.connect() as restored:
        assert restored.execute(text("SELECT count(*) FROM residents")).scalar() == 1

    # A backup whose migration record is empty fails (it passed: an outside re-check).
    with target.begin() as restored:
        restored.execute(text("DELETE FROM alembic_version"))
    emptied = tmp_path / "no-migration.dump"
    subprocess.run(
        [str(ROOT / "scripts" / "backup.sh"), kept, str(emptied)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    unrecorded = run("--backup", str(emptied), kept)
    assert unrecorded.returncode == 1
    assert "has no migration recorded" in unrecorded.stderr

    corrupt = tmp_path / "corrupt.dump"
    corrupt.write_text("not a dump\n")
    bad = run("--backup", str(corrupt), kept, source)
    assert bad.returncode == 1
    assert "is not a backup pg_restore can read" in bad.stderr
    assert corrupt.read_text() == "not a dump\n"


def test_a_backup_that_fails_leaves_the_last_good_one_in_place(app, tmp_path):
    """backup.sh emptied FILE, then pg_dump wrote into it: killed part way, or failing,
    it left an empty or cut-short file where a good backup had been (an outside
    check). It now writes beside FILE and puts the dump in its place when done."""
    from sqlalchemy.engine import make_url

    backup = tmp_path / "nightly.dump"
    # A run killed outright left its partial dump; one written to now is another run's.
    dead, running = (
        tmp_path / ".nightly.dump.partial.dead01",
        tmp_path / ".nightly.dump.partial.live01",
    )
    for partial in (dead, running):
        partial.write_bytes(b"PGDMP half of everyone's numbers")
    two_hours_ago = time.time() - 7200
    os.utime(dead, (two_hours_ago, two_hours_ago))
    good = subprocess.run(
        [str(ROOT / "scripts" / "backup.sh"), app.config["SQLALCHEMY_DATABASE_URI"], str(backup)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert good.returncode == 0 and backup.read_bytes().startswith(b"PGDMP")
    assert not dead.exists() and running.exists()
    running.unlink()
    kept = backup.read_bytes()
    gone = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(database="no_such_database_here")
    failed = subprocess.run(
        [
            str(ROOT / "scripts" / "backup.sh"),
            gone.render_as_string(hide_password=False),
            str(backup),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert failed.returncode != 0 and "no_such_database_here" in failed.stderr
    assert backup.read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nightly.dump"]  # nothing half-made


def test_a_backup_from_a_timer_takes_its_url_from_the_environment_not_its_arguments(app, tmp_path):
    """The nightly backup was given DATABASE_URL on its command line, and pg_dump the
    same: its password could be read by any account on the host while it ran (ps). Now
    the URL comes from the environment, and libpq gets the password in PGPASSWORD. An
    existing file is written anew, readable by its owner only (it kept 0644)."""
    backup = tmp_path / "nightly.dump"
    backup.write_text("yesterday's")
    backup.chmod(0o644)
    environ = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"])
    made = subprocess.run(
        [str(ROOT / "scripts" / "backup.sh"), str(backup)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=environ,
    )
    assert made.returncode == 0, made.stderr
    assert backup.stat().st_mode & 0o077 == 0
    assert backup.read_bytes().startswith(b"PGDMP")
    split = subprocess.run(
        [
            "bash",
            "-c",
            f'. {ROOT / "scripts" / "pg_url.sh"}; split_password "$1"; '
            'printf "%s|%s" "$pg_url" "$pg_password"',
            "-",
            "postgresql://alerts:p%40ss%3Aword@db.internal:5432/alerts?sslmode=require",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert split.stdout == "postgresql://alerts@db.internal:5432/alerts?sslmode=require|p@ss:word"
