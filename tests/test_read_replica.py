"""The read replica (DATABASE_REPLICA_URL): officers' previews and analysts' pages
read there, everything that writes goes to the primary, and a page whose figures were
just recounted on the primary reads them there until the replica has caught up.

The replica here is the database kept for restore checks, made a copy of the test
database by the deployment guide's restore (scripts/restore_check.sh), as a replica
starts from a base backup; it is then left behind on purpose, to see who reads it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import InternalError

from app.extensions import db, replica_engine
from app.services.transaction import replica_reads
from tests.factories import kept_database

ROOT = Path(__file__).resolve().parents[1]
BS1_6AD = [-2.588230, 51.451967]
AROUND = {"kind": "circle", "center": BS1_6AD, "radius_m": 2000}


@pytest.fixture
def replica(app, app_ctx, monkeypatch):
    """The database kept for restore checks as the read replica, and how to make it a
    copy of the test database as it is now (each copy takes seconds: only when needed)."""
    replica_url = kept_database("TEST_RESTORE_DATABASE_URL")

    def copy() -> None:
        db.session.commit()
        done = subprocess.run(
            [
                str(ROOT / "scripts/restore_check.sh"),
                app.config["SQLALCHEMY_DATABASE_URI"],
                replica_url,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr

    monkeypatch.setitem(app.config, "DATABASE_REPLICA_URL", replica_url)
    direct = create_engine(replica_url.replace("postgresql:", "postgresql+psycopg:", 1))
    yield copy, direct
    direct.dispose()
    for engine in app.extensions.pop("replica_engines", {}).values():
        engine.dispose()


def test_a_preview_reads_the_replica_and_the_send_writes_the_primary(
    app, replica, officer_client, make_resident
):
    for n in range(6):
        make_resident(postcode="BS1 6AD", sms=f"+44770090080{n}")
    db.session.commit()
    copy, _ = replica
    copy()
    for n in range(3):  # the replica has not seen these yet
        make_resident(postcode="BS1 6AD", sms=f"+44770090081{n}")
    db.session.commit()

    preview = officer_client.post("/officers/preview", json={"shapes": [AROUND]})
    assert preview.status_code == 200, preview.json
    assert preview.json["residents"] == 6

    sent = officer_client.post(
        "/officers/alerts", json={"shapes": [AROUND], "title": "T", "body": "B"}
    )
    assert sent.status_code == 201, sent.json
    reached = db.session.execute(text("SELECT count(DISTINCT resident_id) FROM deliveries"))
    assert reached.scalar() == 9  # the send counts on the primary, where it writes

    # A follow-up to the same people is previewed on the primary (it gathers them in a
    # temporary table, which the replica's read-only session cannot make).
    follow_up = officer_client.post(
        "/officers/preview",
        json={"shapes": [], "audience": "parent", "parent_id": sent.json["alert_id"]},
    )
    assert follow_up.status_code == 200, follow_up.json
    assert follow_up.json["residents"] == 9


def test_the_replica_is_read_only(app, replica):
    with app.app_context():
        with replica_reads():
            assert db.session.get_bind() is replica_engine()
            # A statement that needs no table: the replica may not have been copied to
            # yet (a fresh machine's first run had no audit_events there).
            with pytest.raises(InternalError, match="read-only transaction"):
                db.session.execute(text("CREATE TABLE written_on_the_replica (id int)"))
        # Back on the primary afterwards.
        assert db.session.get_bind() is not replica_engine()


def residents_shown(page: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\b([\d,]+) residents", page)]


def test_an_analyst_page_reads_the_replica_once_it_has_the_latest_count(
    app, replica, client, sign_in, make_resident, monkeypatch
):
    copy, direct = replica
    copy()  # before anything is counted
    for n in range(6):
        make_resident(postcode="BS1 6AD", sms=f"+44770090082{n}")
    monkeypatch.setitem(app.config, "ANALYST_MAX_AGE_SECONDS", 3600)
    sign_in("analyst")
    # Counted on the primary (the replica is read-only, a recount there would fail);
    # the replica has not caught up, so the page reads the primary's count.
    shown = residents_shown(client.get("/analysts/density").text)
    assert 6 in shown and 106 not in shown

    copy()  # the replica catches up, recount and all
    with direct.begin() as conn:  # ...and, to tell it apart, differs
        conn.execute(text("UPDATE density_squares SET residents = residents + 100"))
    assert 106 in residents_shown(client.get("/analysts/density").text)

    # A recount on the primary: the replica, behind, is not read until it has it.
    monkeypatch.setitem(app.config, "ANALYST_MAX_AGE_SECONDS", 0)
    shown = residents_shown(client.get("/analysts/density").text)
    assert 6 in shown and 106 not in shown


def test_with_the_replica_down_the_primary_answers(
    app, app_ctx, officer_client, make_resident, monkeypatch, caplog
):
    for n in range(6):
        make_resident(postcode="BS1 6AD", sms=f"+44770090083{n}")
    db.session.commit()
    # Nothing listens on port 9 of loopback.
    down = "postgresql+psycopg://community_alerts:x@127.0.0.1:9/none?connect_timeout=2"
    monkeypatch.setitem(app.config, "DATABASE_REPLICA_URL", down)
    try:
        preview = officer_client.post("/officers/preview", json={"shapes": [AROUND]})
        assert preview.status_code == 200, preview.json
        assert preview.json["residents"] == 6
        assert "read replica unavailable" in caplog.text
        # For a while the replica is not even tried (nobody waits on it each time).
        caplog.clear()
        again = officer_client.post("/officers/preview", json={"shapes": [AROUND]})
        assert again.json["residents"] == 6
        assert "read replica unavailable" not in caplog.text
        assert replica_engine() is None
    finally:
        app.extensions.pop("replica_down_until", None)
        for engine in app.extensions.pop("replica_engines", {}).values():
            engine.dispose()
