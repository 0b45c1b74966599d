"""The delivery ledger by month (migration 0032): an alert's deliveries all in its
month's partition, one delivery per resident and channel still, a month without a
partition caught and moved into its own, whole months dropped by the retention rules
once counted; its references checked a statement at a time (0033); a fan-out queued
as ranges of ids; and the migrations over rows already there, both ways."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import AuditEvent, Delivery, OutboxMessage
from app.services import figures
from app.services.alerts import submit_alert
from app.services.residents import keep_ledger_months, purge_expired
from tests.factories import kept_database

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = os.environ.get("TEST_MIGRATION_DATABASE_URL")
AROUND_BS1 = [{"kind": "circle", "center": [-2.588230, 51.451967], "radius_m": 2000}]


def sql(statement: str, **params):
    return db.session.execute(text(statement), params)


def send(officer, title: str = "T"):
    return submit_alert(officer, shapes=AROUND_BS1, title=title, body="B").alert


def add_delivery(conn, alert_id, at, resident_id, channel: str, address: str) -> None:
    """A delivery written straight into the ledger, as a fan-out's statement writes it
    (`at`: the alert_created_at it is given, which need not be the alert's)."""
    conn.execute(
        text(
            "INSERT INTO deliveries (alert_id, alert_created_at, resident_id, channel, address)"
            " VALUES (:a, :at, :r, :c, :address)"
        ),
        {"a": alert_id, "at": at, "r": resident_id, "c": channel, "address": address},
    )


def partitions_of(alert_id: int) -> set[str]:
    return set(
        sql(
            "SELECT DISTINCT tableoid::regclass::text FROM deliveries WHERE alert_id = :a",
            a=alert_id,
        ).scalars()
    )


def test_an_alerts_deliveries_are_all_in_its_months_partition(app_ctx, make_resident, officer):
    for n in range(3):
        make_resident(sms=f"+44770090070{n}", email=f"p{n}@example.org")
    alert = send(officer)
    month = alert.created_at.astimezone(UTC).strftime("deliveries_%Y_%m")
    assert partitions_of(alert.id) == {month}
    assert db.session.scalar(select(func.count()).where(Delivery.alert_id == alert.id)) == 6
    # The coming months are ready, and nothing waits in the default partition.
    assert sql("SELECT count(*) FROM deliveries_default").scalar() == 0
    assert sql("SELECT to_regclass(:n) IS NOT NULL", n=month).scalar()


def test_one_delivery_per_resident_and_channel_and_the_key_held_to_the_alerts(
    app_ctx, make_resident, officer
):
    make_resident(sms="+447700900710")
    alert = send(officer)
    row = sql(
        "SELECT resident_id, channel, alert_created_at FROM deliveries WHERE alert_id = :a",
        a=alert.id,
    ).one()
    db.session.commit()
    again = (row.resident_id, row.channel, "+447700900710")
    with pytest.raises(IntegrityError, match="resident_id_alert_id_channel"):
        add_delivery(db.session, alert.id, row.alert_created_at, *again)
    db.session.rollback()
    # Another month's key for the same alert (which would dodge the unique key) is
    # refused by the foreign key to the alert's own created_at.
    with pytest.raises(IntegrityError, match="must name an alert and its created_at"):
        add_delivery(db.session, alert.id, row.alert_created_at - timedelta(days=40), *again)
    db.session.rollback()


def test_a_month_without_a_partition_is_caught_and_moved_and_still_sent(
    app_ctx, make_resident, officer, run_worker
):
    make_resident(sms="+447700900720")
    make_resident(sms="+447700900721")
    alert = send(officer)
    # The alert (and, by the foreign key, its deliveries) moved to a month long past,
    # which has no partition: its rows wait in the default one.
    sql("UPDATE alerts SET created_at = '2019-03-15 10:00+00' WHERE id = :a", a=alert.id)
    db.session.commit()
    assert partitions_of(alert.id) == {"deliveries_default"}

    assert keep_ledger_months()["ledger_months_made"] == 1
    assert partitions_of(alert.id) == {"deliveries_2019_03"}
    assert sql("SELECT count(*) FROM deliveries_default").scalar() == 0
    assert keep_ledger_months()["ledger_months_made"] == 0  # once is enough

    # The engine finds them by id alone, wherever they are.
    run_worker()
    statuses = sql("SELECT status FROM deliveries WHERE alert_id = :a", a=alert.id).scalars()
    assert set(statuses) == {"delivered"}
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2


def test_a_deleted_delivery_takes_its_outbox_row_and_leaves_its_reply(
    app_ctx, make_resident, officer, run_worker
):
    make_resident(sms="+447700900730")
    alert = send(officer)
    run_worker()
    delivery_id = sql("SELECT id FROM deliveries WHERE alert_id = :a", a=alert.id).scalar()
    sql(
        "INSERT INTO replies (provider_ref, channel, address, kind, alert_id, delivery_id)"
        " VALUES ('SMx1', 'sms', '+447700900730', 'message', :a, :d)",
        a=alert.id,
        d=delivery_id,
    )
    sql("DELETE FROM deliveries WHERE id = :d", d=delivery_id)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert sql("SELECT delivery_id FROM replies").one() == (None,)


def _old_month_sent(officer, run_worker, when: str) -> int:
    alert = send(officer, title=f"Old {when}")
    run_worker()
    sql(
        "UPDATE deliveries SET status = 'delivered', finished_at = now() WHERE alert_id = :a",
        a=alert.id,
    )
    sql(
        "UPDATE alerts SET created_at = :when, sent_at = :when WHERE id = :a",
        a=alert.id,
        when=when,
    )
    db.session.commit()
    return alert.id


def test_retention_drops_a_whole_month_only_once_every_alert_in_it_is_counted(
    app, app_ctx, make_resident, officer, run_worker, monkeypatch
):
    make_resident(sms="+447700900740", email="old@example.org")
    old = _old_month_sent(officer, run_worker, "2019-03-15 10:00+00")
    delivery_ids = list(sql("SELECT id FROM deliveries WHERE alert_id = :a", a=old).scalars())
    sql(
        "INSERT INTO replies (provider_ref, channel, address, kind, alert_id, delivery_id)"
        " VALUES ('SMx2', 'sms', '+447700900740', 'message', :a, :d)",
        a=old,
        d=delivery_ids[0],
    )
    recent = send(officer, title="Recent")
    db.session.commit()
    monkeypatch.setitem(app.config, "LEDGER_DAYS", 365)

    # Not yet counted into the sent report: the month stays.
    found = keep_ledger_months()
    assert found["ledger_months_dropped"] == 0
    assert partitions_of(old) == {"deliveries_2019_03"}

    monkeypatch.setitem(app.config, "ANALYST_SETTLED_SECONDS", 0)
    monkeypatch.setitem(app.config, "ANALYST_NOTICE_SECONDS", 0)
    figures.refresh("sent")
    figures.refresh("sent")  # noticed, then counted
    counted = sql("SELECT sum(messages) FROM alert_delivery_totals WHERE alert_id = :a", a=old)
    assert counted.scalar() == 2

    # Counted, but its deliveries were written lately (an alert drafted in that month,
    # sent this year): the month stays.
    assert keep_ledger_months()["ledger_months_dropped"] == 0
    sql("UPDATE deliveries SET created_at = :when WHERE alert_id = :a", a=old, when="2019-03-16")
    db.session.commit()
    # The retention rules pseudonymise them first (which puts the alert back on the
    # ledger until counted again) ...
    assert purge_expired()["deliveries_pseudonymised"] == 2
    figures.refresh("sent")
    figures.refresh("sent")

    # ... and drop the month once it is counted again.
    found = purge_expired()
    assert (found["ledger_months_dropped"], found["ledger_rows_dropped"]) == (1, 2)
    assert sql("SELECT to_regclass('deliveries_2019_03')").scalar() is None
    assert sql("SELECT count(*) FROM deliveries WHERE alert_id = :a", a=old).scalar() == 0
    # The sent report's figures stay; what pointed at the rows is tidied.
    counted = sql("SELECT sum(messages) FROM alert_delivery_totals WHERE alert_id = :a", a=old)
    assert counted.scalar() == 2
    assert sql("SELECT delivery_id FROM replies").one() == (None,)
    outbox = select(func.count()).where(OutboxMessage.delivery_id.in_(delivery_ids))
    assert db.session.scalar(outbox) == 0
    # This month's alert is untouched, and the drop is in the audit log.
    assert sql("SELECT count(*) FROM deliveries WHERE alert_id = :a", a=recent.id).scalar() == 2
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "retention.ledger_month_dropped")
    ).one()
    assert event.details == {"month": "2019-03", "deliveries": 2}


def test_a_busy_ledger_leaves_the_months_for_the_next_hour(
    app, app_ctx, make_resident, officer, monkeypatch
):
    make_resident(sms="+447700900750")
    send(officer)
    db.session.commit()
    monkeypatch.setitem(app.config, "LEDGER_MONTHS_AHEAD", 3)  # one month more to make
    monkeypatch.setitem(app.config, "LEDGER_LOCK_TIMEOUT_MS", 300)
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as other:
            # A transaction reading the ledger (as a long report or fan-out might) ...
            other.execute(text("LOCK TABLE deliveries IN ACCESS SHARE MODE"))
            # ... does not queue the sweeper (and every send behind it): it gives up.
            found = keep_ledger_months()
            assert found["ledger_months_made"] == 0
            other.rollback()
    finally:
        engine.dispose()
    # The next hour, the month is made.
    assert keep_ledger_months()["ledger_months_made"] == 1
    assert keep_ledger_months()["ledger_months_made"] == 0


# --- the references, checked a statement at a time (migration 0033) -----------------


def test_a_resident_who_left_while_an_alert_was_written_is_not_sent_it(
    app_ctx, make_resident, officer
):
    stays = make_resident(sms="+447700900760")
    alert = send(officer)
    at = sql("SELECT created_at FROM alerts WHERE id = :a", a=alert.id).scalar()
    # As the fan-out writes, a resident it read is already gone (their row deleted by a
    # transaction that committed after the fan-out's snapshot).
    add_delivery(db.session, alert.id, at, stays.id + 1000, "sms", "+447700900761")
    add_delivery(db.session, alert.id, at, stays.id, "email", "x@y.z")
    db.session.commit()
    rows = sql(
        "SELECT resident_id, address, status FROM deliveries WHERE alert_id = :a ORDER BY id",
        a=alert.id,
    ).all()
    assert [tuple(r) for r in rows] == [
        (stays.id, "+447700900760", "queued"),
        (None, "removed:left", "cancelled"),
        (stays.id, "x@y.z", "queued"),
    ]


def test_a_deleted_resident_leaves_the_ledger_unlinked_and_an_alert_cannot_go(
    app_ctx, make_resident, officer
):
    resident = make_resident(sms="+447700900770")
    alert = send(officer)
    sql("DELETE FROM residents WHERE id = :r", r=resident.id)
    db.session.commit()
    assert sql("SELECT resident_id FROM deliveries WHERE alert_id = :a", a=alert.id).all() == [
        (None,)
    ]
    # An alert with deliveries stays (the report and the ledger name it).
    with pytest.raises(IntegrityError, match="an alert with deliveries cannot be deleted"):
        sql("DELETE FROM alerts WHERE id = :a", a=alert.id)
    db.session.rollback()
    # A delivery cannot be pointed at someone who does not exist.
    with pytest.raises(IntegrityError, match="must name a resident who exists"):
        sql("UPDATE deliveries SET resident_id = 424242 WHERE alert_id = :a", a=alert.id)
    db.session.rollback()


def test_a_resident_leaving_while_an_alert_is_written_waits_and_is_not_sent_it(
    app, app_ctx, make_resident, officer
):
    import threading
    import time

    leaving = make_resident(sms="+447700900775")
    alert = send(officer)
    at = sql("SELECT created_at FROM alerts WHERE id = :a", a=alert.id).scalar()
    db.session.commit()
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        with engine.connect() as writing:
            # An alert being written, as write_deliveries does it: the lock, then rows.
            writing.execute(
                text("SELECT pg_advisory_xact_lock_shared(hashtext('deliveries_written'))")
            )
            add_delivery(writing, alert.id, at, leaving.id, "voice", "+447700900775")

            def leave() -> None:
                with engine.begin() as deleting:
                    deleting.execute(text("DELETE FROM residents WHERE id = :r"), {"r": leaving.id})

            deletion = threading.Thread(target=leave)
            deletion.start()
            time.sleep(0.5)
            assert deletion.is_alive()  # waiting for the alert being written
            writing.commit()
            deletion.join(timeout=10)
            assert not deletion.is_alive()
    finally:
        engine.dispose()
    rows = sql(
        "SELECT channel, resident_id, address, status FROM deliveries WHERE alert_id = :a"
        " ORDER BY channel",
        a=alert.id,
    ).all()
    # Neither the one sent before nor the one written meanwhile keeps them.
    assert [tuple(r) for r in rows] == [
        ("sms", None, "removed:left", "cancelled"),
        ("voice", None, "removed:left", "cancelled"),
    ]


def test_a_fan_out_is_queued_as_few_ranges_of_ids_and_each_sends_once(
    app, app_ctx, make_resident, officer, run_worker, monkeypatch
):
    from app.jobs import urgent_queue
    from app.services.dispatch import deliver_alert_range

    monkeypatch.setitem(app.config, "DELIVERY_BATCH_SIZE", 2)
    monkeypatch.setitem(app.config, "DELIVERY_MAX_JOBS", 2)
    for n in range(5):
        make_resident(sms=f"+44770090078{n}")
    alert = send(officer)
    ids = sorted(sql("SELECT id FROM deliveries WHERE alert_id = :a", a=alert.id).scalars())
    # Five deliveries, at most two jobs: ranges of three ids, not five batches of two.
    jobs = urgent_queue().get_jobs()  # (an incident's)
    assert [job.func_name for job in jobs] == ["app.jobs.outbound.deliver_alert_range"] * 2
    assert [tuple(job.args) for job in jobs] == [
        (alert.id, ids[0], ids[2], "sms"),
        (alert.id, ids[3], ids[4], "sms"),
    ]
    run_worker()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 5
    # A range run again (a worker lost after sending) sends nothing again.
    assert deliver_alert_range(alert.id, ids[0], ids[4]) == {}
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 5


def test_a_fan_outs_channels_are_queued_in_turn_so_calls_do_not_wait_for_every_text(
    app, app_ctx, make_resident, officer, run_worker, monkeypatch
):
    """Found by an outside check: ranges of ids in id order queued an alert's calls
    after all its texts, and with 1,487 texts its first call went after 150 s. Each
    channel's ranges are queued in turn, each range sending its own channel only."""
    from app.jobs import urgent_queue

    monkeypatch.setitem(app.config, "DELIVERY_BATCH_SIZE", 2)
    monkeypatch.setitem(app.config, "DELIVERY_MAX_JOBS", 100)
    for n in range(6):
        make_resident(sms=f"+44770090079{n}", voice=f"+44117496079{n}", email=f"r{n}@e.example")
    alert = send(officer)
    # This alert's jobs: twice in CI the queue held 15 more, whose they were unsaid.
    every = urgent_queue().get_jobs()  # (an incident's)
    jobs = [job for job in every if job.args[0] == alert.id]
    channels = [job.args[3] for job in jobs]
    # Each channel's first, calls first (e-mails first, an incident's calls started 4
    # to 22 s after them: an outside check), then the e-mails (no rate holds them:
    # behind texts held at the texting rate the last went after 114 s), then calls and
    # texts in turn.
    expected = ["voice", "sms", "email", "email", "email", "voice", "sms", "voice", "sms"]
    assert channels == expected, [(job.func_name, job.args) for job in every]
    # With an e-mail rate set, e-mails are metered too: in turn with the others (all
    # ahead of the texts, an incident's texting sat idle 21 to 27 s: an outside check).
    from app.services.dispatch import _in_turn

    monkeypatch.setitem(app.config, "RATE_LIMITS", app.config["RATE_LIMITS"] | {"email": 20})
    ranges = [
        [(alert.id, n, n, channel) for n in range(3)] for channel in ("email", "sms", "voice")
    ]
    turns = [job[3] for job in _in_turn(ranges)]
    assert turns == ["voice", "sms", "email", "voice", "sms", "email", "voice", "sms", "email"]
    run_worker()
    sent = sql(
        "SELECT channel, count(*) FROM deliveries WHERE alert_id = :a AND status <> 'queued'"
        " GROUP BY channel ORDER BY channel",
        a=alert.id,
    ).all()
    assert [tuple(row) for row in sent] == [("email", 6), ("sms", 6), ("voice", 6)]


def test_after_a_large_fan_out_the_months_statistics_are_fresh(
    app, app_ctx, make_resident, officer, monkeypatch
):
    monkeypatch.setitem(app.config, "DELIVERY_ANALYZE_ROWS", 8)
    for n in range(4):
        make_resident(sms=f"+44770090079{n}", email=f"s{n}@example.org")
    alert = send(officer)
    month = alert.created_at.astimezone(UTC).strftime("deliveries_%Y_%m")
    # TRUNCATE (between tests) leaves a table unanalysed: only the fan-out's ANALYZE
    # makes the planner see its eight rows.
    assert sql("SELECT reltuples FROM pg_class WHERE relname = :m", m=month).scalar() == 8


def test_a_large_alerts_progress_is_counted_once_a_while_however_many_watch(
    app, app_ctx, make_resident, officer, officer_client, monkeypatch
):
    import time

    monkeypatch.setitem(app.config, "PROGRESS_CACHE_ROWS", 3)
    monkeypatch.setitem(app.config, "PROGRESS_CACHE_SECONDS", 1)
    for n in range(3):
        make_resident(sms=f"+44770090085{n}")
    alert = send(officer)
    url = f"/officers/alerts/{alert.id}/progress"
    first = officer_client.get(url).json
    assert first["by_status"] == {"queued": 3}
    sql("UPDATE deliveries SET status = 'delivered' WHERE alert_id = :a", a=alert.id)
    db.session.commit()
    # Within the second, every watcher gets the count as it was ...
    assert officer_client.get(url).json["by_status"] == {"queued": 3}
    time.sleep(1.2)
    # ... then it is counted again (and, finished, no longer kept).
    assert officer_client.get(url).json["by_status"] == {"delivered": 3}
    # A small alert is always counted afresh.
    monkeypatch.setitem(app.config, "PROGRESS_CACHE_ROWS", 4)
    sql("UPDATE deliveries SET status = 'queued' WHERE alert_id = :a", a=alert.id)
    db.session.commit()
    assert officer_client.get(url).json["by_status"] == {"queued": 3}
    sql("UPDATE deliveries SET status = 'sent' WHERE alert_id = :a", a=alert.id)
    db.session.commit()
    assert officer_client.get(url).json["by_status"] == {"sent": 3}
    # While one watcher counts it, the others get the last count rather than all
    # counting at once.
    import json

    from app.extensions import redis_store

    last = {"total": 3, "by_status": {"queued": 3}, "by_channel": {}, "finished": False}
    redis_store.client.set(f"alert-progress:{alert.id}:counting", 1, ex=30)
    redis_store.client.set(f"alert-progress:{alert.id}:last", json.dumps(last), ex=30)
    assert officer_client.get(url).json["by_status"] == {"queued": 3}
    redis_store.client.delete(f"alert-progress:{alert.id}:counting")
    assert officer_client.get(url).json["by_status"] == {"sent": 3}


# --- the migration, over rows already there ------------------------------------------


def flask(*args: str) -> subprocess.CompletedProcess:
    # A server in the UK's time zone: months must still be UTC months (under
    # Europe/London, 1 April 00:00 is in March in UTC, and a month was once skipped).
    environment = dict(
        os.environ, TEST_DATABASE_URL=SCRATCH, APP_ENV="testing", PGTZ="Europe/London"
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "db", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=environment,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


SEED = """
INSERT INTO officers (id, email, name, role) VALUES (1, 'o@police.example', 'O', 'officer');
INSERT INTO alerts (id, created_by_id, title, body, shapes, status, created_at, reference)
VALUES (1, 1, 'Old', 'B', '[]', 'sent', '2025-01-20 09:00+00', 'AAAA1111'),
       (2, 1, 'New', 'B', '[]', 'sending', '2026-11-02 09:00+00', 'AAAA2222');
INSERT INTO deliveries (alert_id, channel, address, status)
SELECT 1 + (n % 2), CASE WHEN n % 3 = 0 THEN 'email' ELSE 'sms' END,
       '+4477009' || lpad(n::text, 5, '0'), CASE WHEN n % 2 = 0 THEN 'sent' ELSE 'queued' END
FROM generate_series(1, 500) n;
INSERT INTO outbox_messages (delivery_id, alert_id, channel, recipient, body)
SELECT id, alert_id, channel, address, 'B' FROM deliveries WHERE status = 'sent';
INSERT INTO replies (provider_ref, channel, address, kind, alert_id, delivery_id)
SELECT 'SM' || id, 'sms', address, 'message', alert_id, id FROM deliveries WHERE id <= 10;
"""
LEDGER = "SELECT id, alert_id, channel, address, status FROM deliveries ORDER BY id"


@pytest.fixture
def scratch():
    kept_database("TEST_MIGRATION_DATABASE_URL")
    engine = create_engine(SCRATCH)
    flask("downgrade", "base")
    flask("upgrade", "0031")
    yield engine
    engine.dispose()


# Both tests of migrations over rows use the one database kept for them: run in one
# test process, one after the other (make test's --dist loadgroup).
@pytest.mark.xdist_group("migration_database")
def test_the_ledger_migrates_to_months_and_back_with_its_rows(app, scratch):
    with scratch.begin() as conn:
        conn.execute(text(SEED))
        before = conn.execute(text(LEDGER)).all()
        outbox = conn.execute(text("SELECT count(*) FROM outbox_messages")).scalar()
    assert len(before) == 500 and outbox == 250

    flask("upgrade", "0032")
    with scratch.begin() as conn:
        assert conn.execute(text(LEDGER)).all() == before
        where = conn.execute(
            text(
                "SELECT tableoid::regclass::text, alert_id, count(*) FROM deliveries"
                " GROUP BY 1, 2 ORDER BY 2"
            )
        ).all()
        assert [tuple(w) for w in where] == [
            ("deliveries_2025_01", 1, 250),
            ("deliveries_2026_11", 2, 250),
        ]
        # Every month between, and this one and the next two, ready.
        months = conn.execute(
            text(
                "SELECT count(*) FROM pg_inherits WHERE inhparent = 'deliveries'::regclass"
                " AND inhrelid::regclass::text <> 'deliveries_default'"
            )
        ).scalar()
        today = datetime.now(UTC)
        assert months == (today.year - 2025) * 12 + today.month + 2
        # New ids follow on from the old; the links still lead somewhere.
        new_id = conn.execute(
            text(
                "INSERT INTO deliveries (alert_id, alert_created_at, channel, address)"
                " SELECT 2, created_at, 'voice', '+447700900999' FROM alerts WHERE id = 2"
                " RETURNING id"
            )
        ).scalar()
        assert new_id == 501
        assert conn.execute(text("SELECT count(*) FROM outbox_messages")).scalar() == outbox
        assert conn.execute(text("SELECT count(delivery_id) FROM replies")).scalar() == 10
        conn.execute(text("DELETE FROM deliveries WHERE id = 501"))

    # And on to the checks a statement at a time (0033): the rows as they were.
    flask("upgrade", "head")
    with scratch.begin() as conn:
        assert conn.execute(text(LEDGER)).all() == before
        with pytest.raises(IntegrityError, match="must name an alert and its created_at"):
            add_delivery(conn, 1, datetime.now(UTC), None, "sms", "+447700900998")

    flask("downgrade", "0031")
    with scratch.begin() as conn:
        assert conn.execute(text(LEDGER)).all() == before
        assert conn.execute(text("SELECT count(delivery_id) FROM replies")).scalar() == 10
        kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'deliveries'"))
        assert kind.scalar() == "r"
        # The foreign keys are back: a delivery that goes takes its outbox row.
        conn.execute(text("DELETE FROM deliveries WHERE id = 2"))
        gone = conn.execute(text("SELECT count(*) FROM outbox_messages WHERE delivery_id = 2"))
        assert gone.scalar() == 0


@pytest.mark.xdist_group("migration_database")
def test_kept_reasons_lose_the_providers_words_and_the_figures_still_add_up(app):
    """Migration 0057: a refusal kept before as the provider's words (naming the
    resident: an outside check found them after "delete my details") keeps only its
    codes, in the ledger and in the analysts' figures, whose rows are added together
    where their reasons become one."""
    kept_database("TEST_MIGRATION_DATABASE_URL")
    engine = create_engine(SCRATCH)
    flask("downgrade", "base")
    flask("upgrade", "0056")
    zeb = "SMTP 550: 5.1.1 <zeb@example.org>: mailbox of Zebedee Quillfeather unknown"
    ann = "SMTP 550: 5.1.1 <ann@example.org> unknown"
    number = "Twilio 21617: The body for +447700900001 exceeds the limit"
    later = "gave up after 12 attempts: SMTP 450: 4.1.1 <zeb@example.org>: User unknown"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO officers (id, email, name, role) VALUES (1, 'o@x.example', 'O',"
                " 'officer'); INSERT INTO alerts (id, created_by_id, title, body, shapes,"
                " status, reference) VALUES (1, 1, 'T', 'B', '[]', 'sent', 'AAAA1111')"
            )
        )
        for reason in (zeb, ann, number, later, "not sent in time"):
            conn.execute(
                text(
                    "INSERT INTO deliveries (alert_id, alert_created_at, channel, address,"
                    " status, reason) SELECT 1, created_at, 'email', 'removed:x', 'failed',"
                    " :reason FROM alerts"
                ),
                {"reason": reason},
            )
        conn.execute(
            text(
                "INSERT INTO alert_delivery_totals (alert_id, channel, status, reason,"
                " messages, segments, billed_minutes, within_s, within, last_arrived_s)"
                " VALUES (1, 'email', 'failed', :zeb, 2, 0, 0, 600, 1, 30),"
                " (1, 'email', 'failed', :ann, 3, 0, 0, 600, 2, 50),"
                " (1, 'email', 'delivered', '', 7, 0, 0, 600, 7, 20)"
            ),
            {"zeb": zeb, "ann": ann},
        )
        conn.execute(
            text(
                "INSERT INTO resident_notices (kind, channel, address, status, reason)"
                " VALUES ('manage_link', 'email', 'x@example.org', 'failed', :later)"
            ),
            {"later": later},
        )
    flask("upgrade", "0057")
    with engine.begin() as conn:
        reasons = conn.execute(text("SELECT reason FROM deliveries ORDER BY id")).scalars()
        assert list(reasons) == [
            "SMTP 550 5.1.1: bad destination mailbox address",
            "SMTP 550 5.1.1: bad destination mailbox address",
            "Twilio 21617: refused (twilio.com/docs/api/errors/21617)",
            "gave up after 12 attempts: SMTP 450 4.1.1: bad destination mailbox address",
            "not sent in time",
        ]
        notice = conn.execute(text("SELECT reason FROM resident_notices")).scalar()
        assert (
            notice == "gave up after 12 attempts: SMTP 450 4.1.1: bad destination mailbox address"
        )
        totals = conn.execute(
            text(
                "SELECT status, reason, messages, within, last_arrived_s"
                " FROM alert_delivery_totals ORDER BY status"
            )
        ).all()
        assert [tuple(row) for row in totals] == [
            ("delivered", "", 7, 7, 20),
            ("failed", "SMTP 550 5.1.1: bad destination mailbox address", 5, 3, 50),
        ]
    flask("upgrade", "head")
    engine.dispose()


def invalid_indexes_named(engine, names) -> None:
    """Indexes of these names left invalid, as an interrupted CONCURRENTLY build leaves
    one (a failed unique build leaves one too), on a table two_rows the test drops."""
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE two_rows (x int)"))
        conn.execute(text("INSERT INTO two_rows VALUES (1), (2)"))
        for name in names:
            with pytest.raises(IntegrityError):
                conn.execute(text(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON two_rows ((1))"))


@pytest.mark.xdist_group("migration_database")
def test_an_index_an_interrupted_upgrade_left_invalid_is_built_again(app):
    """An upgrade killed while it built an index CONCURRENTLY left it invalid; run again,
    IF NOT EXISTS skipped it, the migration was recorded done and the index was
    unusable for good (an outside check, on 0030 and 0051). A failed unique build leaves
    an invalid index of the name as a killed one does."""
    kept_database("TEST_MIGRATION_DATABASE_URL")
    engine = create_engine(SCRATCH, isolation_level="AUTOCOMMIT")
    flask("upgrade", "head")
    flask("downgrade", "0061")
    month = datetime.now(UTC).strftime("deliveries_%Y_%m")
    left = ("ix_resident_notices_calls_unreported", f"{month}_calls_unreported")
    try:
        invalid_indexes_named(engine, left)
        flask("upgrade", "0062")
        with engine.connect() as conn:
            built = conn.execute(
                text(
                    "SELECT c.relname, i.indisvalid, i.indrelid::regclass::text FROM pg_index i"
                    " JOIN pg_class c ON c.oid = i.indexrelid"
                    " WHERE c.relname IN (:a, :b, 'ix_deliveries_calls_unreported')"
                    " ORDER BY c.relname"
                ),
                {"a": left[0], "b": left[1]},
            ).all()
        assert [tuple(row) for row in built] == sorted(
            [
                (left[1], True, month),
                ("ix_deliveries_calls_unreported", True, "deliveries"),
                (left[0], True, "resident_notices"),
            ]
        )
    finally:
        with engine.connect() as conn:
            conn.execute(text("DROP TABLE IF EXISTS two_rows"))
        engine.dispose()


@pytest.mark.xdist_group("migration_database")
@pytest.mark.parametrize(
    ("before", "revision", "name"),
    [("0070", "0071", "ix_resident_notices_failed_to"), ("0071", "0072", "ix_resident_notices_to")],
)
def test_the_notices_by_address_index_is_built_without_blocking_and_again_if_left_invalid(
    app, before, revision, name
):
    """Migration 0071 built its index with a plain CREATE INDEX, which held every code,
    link and notice while it was built (an outside check): CONCURRENTLY now, so an
    interrupted build leaves it invalid, and the next upgrade builds it again. 0072's
    the same way."""
    kept_database("TEST_MIGRATION_DATABASE_URL")
    engine = create_engine(SCRATCH, isolation_level="AUTOCOMMIT")
    flask("upgrade", "head")
    flask("downgrade", before)
    try:
        invalid_indexes_named(engine, [name])
        flask("upgrade", revision)
        with engine.connect() as conn:
            built = conn.execute(
                text(
                    "SELECT i.indisvalid, i.indrelid::regclass::text FROM pg_index i"
                    " WHERE i.indexrelid = to_regclass(:name)"
                ),
                {"name": name},
            ).one()
        assert tuple(built) == (True, "resident_notices")
    finally:
        with engine.connect() as conn:
            conn.execute(text("DROP TABLE IF EXISTS two_rows"))
        engine.dispose()
        flask("upgrade", "head")


@pytest.mark.xdist_group("migration_database")
def test_email_addresses_kept_in_two_cases_become_one_address_to_send_to(app):
    """Migration 0063: one mailbox kept as "Jo.Smith@…" for one resident and "jo.smith@…"
    for another was two addresses to the send (one message per address), so it had
    every alert twice. Kept in lower case, the targets follow, and neither is counted
    as an address its resident holds alone."""
    kept_database("TEST_MIGRATION_DATABASE_URL")
    engine = create_engine(SCRATCH)
    flask("upgrade", "head")
    flask("downgrade", "0062")
    try:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM residents"))
            for n, (typed, pending) in enumerate(
                (("Jo.Smith@example.org", "New.One@example.org"), ("jo.smith@example.org", None))
            ):
                conn.execute(
                    text(
                        "WITH r AS (INSERT INTO residents (reference, name, confirmed_at)"
                        " VALUES (gen_random_uuid(), :name, now()) RETURNING id),"
                        " l AS (INSERT INTO resident_locations (resident_id, postcode, location)"
                        " SELECT id, 'BS16AD', ST_SetSRID(ST_MakePoint(358900, 172900), 27700)"
                        " FROM r)"
                        " INSERT INTO resident_channels (resident_id, channel, address,"
                        " pending_address, verified_at) SELECT id, 'email', :typed, :pending,"
                        " now() FROM r"
                    ),
                    {"name": f"Jo {n}", "typed": typed, "pending": pending},
                )
            before = conn.execute(text("SELECT address, simple FROM targets ORDER BY id")).all()
        assert [tuple(row) for row in before] == [
            ("Jo.Smith@example.org", True),
            ("jo.smith@example.org", True),
        ]
        flask("upgrade", "0063")
        with engine.begin() as conn:
            kept = conn.execute(
                text("SELECT address, pending_address FROM resident_channels ORDER BY resident_id")
            ).all()
            after = conn.execute(text("SELECT address, simple FROM targets ORDER BY id")).all()
        assert [tuple(row) for row in kept] == [
            ("jo.smith@example.org", "new.one@example.org"),
            ("jo.smith@example.org", None),
        ]
        assert [tuple(row) for row in after] == [
            ("jo.smith@example.org", False),
            ("jo.smith@example.org", False),
        ]
    finally:
        flask("upgrade", "head")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM residents"))
        engine.dispose()
