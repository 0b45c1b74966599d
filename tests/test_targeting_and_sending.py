"""The officer journey on real parts: preview, send, RQ worker, outbox."""

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.jobs.outbound import deliver_batch
from app.models import Alert, AuditEvent, Delivery, Officer, OutboxMessage
from tests.factories import empty_job_queues

# BS1 6AD (Central, Bristol) and BS8 1TH are about 1.1 km apart; TA1 1AA is Taunton.
BS1_6AD = [-2.588230, 51.451967]


def circle(center=BS1_6AD, radius_m=500, **extra):
    return {"kind": "circle", "center": center, "radius_m": radius_m} | extra


@pytest.fixture
def officer_client(client, sign_in):
    sign_in("officer")
    page = client.get("/officers/")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    client.environ_base["HTTP_X_CSRFTOKEN"] = token
    return client


@pytest.fixture
def exact_counts(app, monkeypatch):
    """No count hidden: these tests check who an alert reaches with a handful of
    residents. tests/test_small_counts.py checks that officers never see such counts."""
    monkeypatch.setitem(app.config, "DENSITY_MIN_COUNT", 0)


@pytest.fixture
def residents(make_resident):
    return {
        "centre": make_resident(postcode="BS1 6AD", sms="+447700900001", email="a@example.invalid"),
        "clifton": make_resident(postcode="BS8 1TH", sms=None, voice="+441174960001"),
        "taunton": make_resident(postcode="TA1 1AA", sms="+447700900003"),
    }


def test_preview_counts_residents_per_channel_inside_the_circle(
    officer_client, residents, exact_counts
):
    small = officer_client.post("/officers/preview", json={"shapes": [circle(radius_m=500)]})
    assert small.status_code == 200
    assert small.json["residents"] == 1
    assert small.json["channels"] == {"sms": 1, "voice": 0, "email": 1}

    larger = officer_client.post("/officers/preview", json={"shapes": [circle(radius_m=2000)]})
    assert larger.json["residents"] == 2
    assert larger.json["channels"] == {"sms": 1, "voice": 1, "email": 1}


def test_excluded_shape_removes_its_residents(officer_client, residents, exact_counts):
    shapes = [circle(radius_m=2000), circle(radius_m=300, exclude=True)]
    response = officer_client.post("/officers/preview", json={"shapes": shapes})
    assert response.json["residents"] == 1
    assert response.json["channels"] == {"sms": 0, "voice": 1, "email": 0}


def test_polygon_targets_only_what_it_covers(officer_client, residents, exact_counts):
    ring = [[-3.2, 50.95], [-3.0, 50.95], [-3.0, 51.1], [-3.2, 51.1], [-3.2, 50.95]]
    response = officer_client.post(
        "/officers/preview", json={"shapes": [{"kind": "polygon", "coordinates": [ring]}]}
    )
    assert response.json["residents"] == 1  # Taunton only
    assert response.json["channels"]["sms"] == 1


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"shapes": []}, "Draw an area"),
        ({"shapes": [circle(radius_m=99_000)]}, "between 100 m and 20 km"),
        ({"shapes": "everywhere"}, "shapes must be a list of shapes"),
        ({"shapes": [{"kind": "polygon", "coordinates": "x"}]}, "no outline"),
        ([1, 2, 3], "JSON object"),
    ],
)
def test_bad_areas_get_a_400_with_a_reason(officer_client, residents, payload, message):
    response = officer_client.post("/officers/preview", json=payload)
    assert response.status_code == 400
    assert message in response.json["error"]


@pytest.mark.parametrize(
    "body",
    [
        '{"shapes": [{"kind": "circle", "radius_m": ' + "9" * 5000 + "}]}",
        "[" * 10_000,
        # A key given twice: the last was taken ("mode" exercise, then live, sent a live
        # alert: an outside check), in the send and everywhere else.
        '{"title": "T", "body": "B", "mode": "exercise", "mode": "live"}',
    ],
)
@pytest.mark.parametrize("path", ["/officers/preview", "/officers/alerts", "/officers/compose"])
def test_json_that_cannot_be_read_is_told_so(officer_client, body, path):
    """A 5,000-digit number or arrays 10,000 deep were told "Send the request as a JSON
    object", which it was (an outside check)."""
    response = officer_client.post(path, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"] == "The request could not be read as JSON."
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0


def test_sent_count_equals_preview_and_every_message_reaches_the_outbox(
    officer_client, residents, run_worker, exact_counts
):
    shapes = [circle(radius_m=2000)]
    preview = officer_client.post("/officers/preview", json={"shapes": shapes}).json
    response = officer_client.post(
        "/officers/alerts",
        json={"shapes": shapes, "title": "Burglaries", "body": "Lock your doors & windows <b>."},
    )
    assert response.status_code == 201, response.json
    alert_id = response.json["alert_id"]
    assert response.json["deliveries"] == sum(preview["channels"].values()) == 3

    alert = db.session.get(Alert, alert_id)
    assert alert.recipient_count == preview["residents"] == 2
    assert alert.status == "sending"
    assert run_worker() is True

    outbox = db.session.execute(
        select(OutboxMessage.channel, OutboxMessage.recipient, OutboxMessage.body).order_by(
            OutboxMessage.channel
        )
    ).all()
    assert [(c, r) for c, r, _ in outbox] == [
        ("email", "a@example.invalid"),
        ("sms", "+447700900001"),
        ("voice", "+441174960001"),
    ]
    assert "Lock your doors & windows <b>." in outbox[1].body
    # The e-mail as the resident reads it, with its way to stop (as SMTP sends it).
    assert re.search(
        r"\n\nReplies to this e-mail are not read.\n"
        r"To stop these e-mails: http\S+/unsubscribe/\S+$",
        outbox[0].body,
    )
    db.session.expire_all()
    assert db.session.get(Alert, alert_id).status == "sent"
    progress = officer_client.get(f"/officers/alerts/{alert_id}/progress").json
    assert progress["by_status"] == {"delivered": 3}
    assert progress["finished"] is True

    page = officer_client.get(f"/officers/outbox?alert={alert_id}")
    assert "Burglaries" in page.text
    assert "+447••••••001" in page.text
    assert "+447700900001" not in page.text, "the outbox masks contact details"
    assert "Lock your doors &amp; windows &lt;b&gt;." in page.text
    # An alert we do not have is not found (it showed "Showing alert N: 0 messages").
    assert officer_client.get("/officers/outbox?alert=987654").status_code == 404
    assert 'href="/officers/outbox"' in officer_client.get("/officers/alerts").text


def test_the_outbox_is_offered_only_where_messages_go_there(
    app, officer_client, residents, monkeypatch
):
    """Found by an outside check: with Twilio and SMTP set, every officer's menu offered
    the Outbox, which said "no provider configured" and 0 messages, and an officer with
    an alert scheduled saw nothing there."""
    sent = officer_client.post(
        "/officers/alerts", json={"shapes": [circle()], "title": "T", "body": "B"}
    )
    assert sent.status_code == 201
    monkeypatch.setitem(app.config, "DELIVERY_TRANSPORT", "providers")
    for path in ("/officers/alerts", f"/officers/alerts/{sent.json['alert_id']}"):
        page = officer_client.get(path).text
        assert "/officers/outbox" not in page, path
    # Opened by its address, it does not say that no provider is configured.
    page = officer_client.get("/officers/outbox").text
    assert "no SMS, voice or e-mail provider configured" not in page
    assert "Messages go to the SMS, voice and e-mail providers" in page


def test_running_a_delivery_job_twice_sends_once(officer_client, residents, app_ctx):
    response = officer_client.post(
        "/officers/alerts", json={"shapes": [circle(radius_m=2000)], "title": "T", "body": "B"}
    )
    ids = list(db.session.scalars(select(Delivery.id).order_by(Delivery.id)))
    first = deliver_batch("alerts", ids)
    second = deliver_batch("alerts", ids)
    assert (first["sent"], first["skipped"], first["failed"]) == (3, 0, 0)
    assert (second["sent"], second["skipped"], second["failed"]) == (0, 3, 0)
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 3
    assert response.status_code == 201


def test_alert_with_mistakes_is_refused_and_nothing_is_written(officer_client, residents):
    response = officer_client.post(
        "/officers/alerts",
        json={"shapes": [circle(radius_m=10)], "title": "", "body": "x" * 1001},
    )
    assert response.status_code == 400
    assert set(response.json["errors"]) == {"area", "title", "body"}
    assert "1,000 characters" in response.json["errors"]["body"]
    assert "Give the alert a title" in response.json["errors"]["title"]
    # All at once, as sentences ("Give the alert a title.; Write..." read oddly).
    said = response.json["error"]
    assert "; " not in said and all(e in said for e in response.json["errors"].values())
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_sending_is_audited_with_who_and_what(officer_client, residents):
    response = officer_client.post(
        "/officers/alerts", json={"shapes": [circle()], "title": "Missing dog", "body": "B"}
    )
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "alert.sent")).one()
    assert event.subject_id == str(response.json["alert_id"])
    assert event.details["title"] == "Missing dog"
    assert event.actor_id is not None


def test_the_alert_page_counts_sent_apart_from_confirmed_delivered(
    officer_client, residents, run_worker, exact_counts
):
    """Found by an outside probe: "339 of 365 messages delivered" counted e-mails only
    handed to the mail server, and texts with no report, as delivered."""
    shapes = [circle(radius_m=2000)]
    sent = officer_client.post(
        "/officers/alerts", json={"shapes": shapes, "title": "T", "body": "B"}
    )
    run_worker()
    db.session.execute(text("UPDATE deliveries SET status = 'sent' WHERE channel = 'email'"))
    db.session.commit()
    page = officer_client.get(sent.json["url"]).text
    assert '<strong id="sent">3</strong> of <strong id="total">3</strong> messages sent' in page
    assert '<strong id="delivered">2</strong> of them confirmed delivered' in page


def test_viewing_the_outbox_is_audited(officer_client, residents):
    officer_client.get("/officers/outbox")
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "outbox.viewed")) == 1


def test_the_outbox_comes_a_page_at_a_time(officer_client, residents):
    """Found by an outside check: a phone got all 200 newest messages on one page."""
    from app.services.outbox import PAGE_SIZE

    db.session.add_all(
        OutboxMessage(channel="sms", recipient=f"+4477009{n:05d}", body=f"Message {n}")
        for n in range(PAGE_SIZE + 3)
    )
    db.session.commit()
    first = officer_client.get("/officers/outbox").text
    assert first.count('class="outbox-message"') == PAGE_SIZE
    assert f"Message {PAGE_SIZE + 2}" in first and "Message 2<" not in first
    older = re.search(r'href="(/officers/outbox\?before=\d+)">Older messages', first).group(1)
    rest = officer_client.get(older.replace("&amp;", "&")).text
    assert rest.count('class="outbox-message"') == 3 and "Message 0<" in rest
    assert "Older messages" not in rest and "Newest messages" in rest


def test_in_production_the_outbox_hides_the_links_that_act_for_a_resident(
    app, officer_client, make_resident, run_worker, exact_counts, monkeypatch
):
    """Found by an outside probe: every officer could open the outbox's unsubscribe and
    answer links, and so stop a resident's alerts or answer for them."""
    make_resident(postcode="BS1 6AD", sms=None, email="outbox@example.invalid")
    sent = officer_client.post(
        "/officers/alerts",
        json={
            "shapes": [circle()],
            "title": "Seen this van?",
            "body": "A white van.",
            "question": "Seen it?",
            "answer_options": ["Yes", "No"],
        },
    )
    assert sent.status_code == 201, sent.json
    run_worker()
    body = db.session.scalars(select(OutboxMessage.body)).one()
    tokens = re.findall(r"/(?:unsubscribe|answer)/([^\s/]+)", body)
    assert len(tokens) == 2
    demo = officer_client.get("/officers/outbox").text
    assert all(token in demo for token in tokens)  # the demo's made-up residents
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    page = officer_client.get("/officers/outbox").text
    assert not any(token in page for token in tokens)
    assert "/unsubscribe/[hidden]" in page and "/answer/[hidden]" in page
    assert "A white van." in page


def test_an_alert_that_reaches_nobody_is_refused(officer_client, residents):
    far = circle(center=[-2.95, 51.2], radius_m=200)  # open country near Wedmore
    response = officer_client.post(
        "/officers/alerts", json={"shapes": [far], "title": "T", "body": "B"}
    )
    assert response.status_code == 400
    assert "Nobody registered is inside this area" in response.json["errors"]["area"]
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0
    # Asked of a tiny area, that answer says whether anyone lives there: recorded.
    from app.models import AuditEvent

    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "alert.refused_nobody_inside")
    ).all()
    assert event.actor_id is not None


def test_a_number_registered_twice_hears_the_alert_once(
    officer_client, make_resident, exact_counts
):
    make_resident(postcode="BS1 6AD", sms="+447700900055", name="Parent")
    make_resident(postcode="BS1 6AD", sms="+447700900055", name="Teenager")
    preview = officer_client.post("/officers/preview", json={"shapes": [circle()]}).json
    assert preview["channels"]["sms"] == 1
    response = officer_client.post(
        "/officers/alerts", json={"shapes": [circle()], "title": "T", "body": "B"}
    )
    assert response.json["deliveries"] == 1


def test_control_characters_are_refused_by_name_and_line_breaks_kept(officer_client, residents):
    refused = officer_client.post(
        "/officers/alerts",
        json={"shapes": [circle()], "title": "Road\x00 closed", "body": "A38\x00 shut."},
    )
    assert refused.status_code == 400
    assert "a null character (NUL)" in refused.json["errors"]["title"]
    assert "a null character (NUL)" in refused.json["errors"]["body"]
    # A character that turns the text after it backwards on every phone, likewise.
    backwards = officer_client.post(
        "/officers/alerts",
        json={"shapes": [circle()], "title": "\u202eRoad closed", "body": "A38 shut."},
    )
    assert backwards.status_code == 400
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in backwards.json["errors"]["title"]
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0
    response = officer_client.post(
        "/officers/alerts",
        json={"shapes": [circle()], "title": "Road closed", "body": "A38 shut.\r\nDetour"},
    )
    assert response.status_code == 201
    alert = db.session.get(Alert, response.json["alert_id"])
    assert (alert.title, alert.body) == ("Road closed", "A38 shut.\nDetour")
    assert alert.shapes == [
        {"kind": "circle", "exclude": False, "center": BS1_6AD, "radius_m": 500.0}
    ]


@pytest.mark.parametrize(
    "shape",
    [
        {
            "kind": "polygon",
            "coordinates": [[[-2.6, 51.4], [-2.5, 51.4], [-2.5, 51.5], [-2.6, 51.4]], "x"],
        },
        {
            "kind": "polygon",
            "coordinates": [
                [[-2.6, 51.4], [-2.5, 51.4], [-2.5, 51.5], [-2.6, 51.4]],
                [[-2.55, 51.45]],
            ],
        },
        {"kind": "circle", "center": None, "radius_m": 500},
    ],
)
def test_malformed_shapes_are_refused_not_crashed_on(officer_client, residents, shape):
    response = officer_client.post("/officers/preview", json={"shapes": [shape]})
    assert response.status_code == 400
    assert response.json["error"]


def test_a_stalled_delivery_is_released_and_sent_once(officer_client, residents, run_worker):
    from sqlalchemy import text

    from app.extensions import redis_store
    from app.services.dispatch import sweep

    officer_client.post("/officers/alerts", json={"shapes": [circle()], "title": "T", "body": "B"})
    # A worker claimed every delivery and died before sending; its jobs are gone too.
    db.session.execute(
        text("UPDATE deliveries SET status = 'sending', updated_at = now() - interval '1 hour'")
    )
    db.session.commit()
    redis_store.client.flushdb()
    assert sweep()["stalled"] == 2
    run_worker()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 2
    assert sweep() == {"stalled": 0, "reconcile": 0, "requeued": 0}


def test_sending_refuses_when_the_count_changed_since_the_preview(officer_client, residents):
    response = officer_client.post(
        "/officers/alerts",
        json={"shapes": [circle()], "title": "T", "body": "B", "expected_residents": 7},
    )
    assert response.status_code == 400
    # One resident, said as the preview says it.
    assert "now reaches fewer than 5 residents, not 7" in response.json["errors"]["area"]
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0
    ok = officer_client.post(
        "/officers/alerts",
        json={"shapes": [circle()], "title": "T", "body": "B", "expected_residents": 1},
    )
    assert ok.status_code == 201


def test_an_ended_session_gets_json_the_map_can_show(client, app_ctx):
    response = client.post("/officers/preview", json={"shapes": []})
    # No session: CSRF fails first, and says so in JSON.
    assert response.status_code == 400
    assert "expired" in response.json["error"]
    response = client.get("/officers/alerts/1/progress", headers={"Accept": "application/json"})
    assert response.status_code == 401
    assert "Sign in again" in response.json["error"]


def test_the_sweeper_requeues_forgotten_work_only_when_no_job_waits(officer_client, residents):
    from sqlalchemy import text

    from app.extensions import redis_store
    from app.jobs import waiting as jobs_waiting
    from app.services.dispatch import sweep

    officer_client.post("/officers/alerts", json={"shapes": [circle()], "title": "T", "body": "B"})
    db.session.execute(text("UPDATE deliveries SET updated_at = now() - interval '1 hour'"))
    db.session.commit()
    waiting = jobs_waiting()
    assert waiting >= 1
    assert sweep()["requeued"] == 0, "a waiting job will reach them: no duplicate jobs"
    assert jobs_waiting() == waiting
    redis_store.client.flushdb()  # Redis lost its jobs
    assert sweep()["requeued"] == 2
    assert jobs_waiting() >= 1


def put_back_after_redis_was_lost(rows: int, column: str, *, only: int | None = None) -> list[set]:
    """The deliveries left queued long since (`only` this alert's; the others just now)
    and Redis emptied, the sweeper puts back `rows`: for each job queued, in order, the
    `column` values of its rows."""
    from app.extensions import redis_store
    from app.jobs import queue, urgent_queue
    from app.services.dispatch import sweep

    db.session.execute(
        text(
            "UPDATE deliveries SET status = 'queued', updated_at = CASE"
            " WHEN CAST(:only AS integer) IS NULL OR alert_id = :only"
            " THEN now() - interval '1 hour' ELSE now() END"
        ),
        {"only": only},
    )
    db.session.commit()
    redis_store.client.flushdb()  # Redis lost its jobs
    assert sweep()["requeued"] == rows
    value_of = dict(db.session.execute(text(f"SELECT id, {column} FROM deliveries")).all())  # noqa: S608
    # In the order workers take them: the urgent queue's first.
    waiting = [*urgent_queue().jobs, *queue().jobs]
    jobs = [job for job in waiting if job.func_name.endswith("deliver_batch")]
    return [{value_of[i] for i in job.args[1]} for job in jobs]


def test_work_the_sweeper_puts_back_goes_in_jobs_of_one_channel_calls_last(
    officer_client, make_resident
):
    """Rows put back after Redis lost its jobs were batched in id order across
    channels: an update's e-mails sat behind an alert's calls waiting for a voice line,
    and went after 241 s rather than 71 (an outside check)."""

    for n in range(3):
        make_resident(
            postcode="BS1 6AD",
            sms=f"+44770090080{n}",
            voice=f"+44117496080{n}",
            email=f"sweep{n}@example.invalid",
        )
    sent = officer_client.post(
        "/officers/alerts", json={"shapes": [circle()], "title": "T", "body": "B"}
    )
    assert sent.status_code == 201
    channels = put_back_after_redis_was_lost(9, "channel")
    assert all(len(each) == 1 for each in channels), channels
    assert [each.pop() for each in channels] == ["email", "sms", "voice"]


def test_work_the_sweeper_puts_back_goes_in_each_channels_batches_in_turn(
    app, officer_client, make_resident, monkeypatch
):
    """Found by an outside check: after a PostgreSQL outage both workers took an
    incident's e-mails put back while its texts waited behind every batch of them, 7.6 s
    without a text. The channels' batches go in turn."""

    monkeypatch.setitem(app.config, "DELIVERY_BATCH_SIZE", 2)
    for n in range(5):
        make_resident(postcode="BS1 6AD", sms=f"+44770090086{n}", email=f"turns{n}@example.invalid")
    make_resident(postcode="BS1 6AD", sms=None, voice="+441174960869")
    sent = officer_client.post(
        "/officers/alerts", json={"shapes": [circle()], "title": "T", "body": "B"}
    )
    assert sent.status_code == 201
    channels = put_back_after_redis_was_lost(11, "channel")
    assert [sorted(each) for each in channels] == [
        ["email"],
        ["sms"],
        ["voice"],
        ["email"],
        ["sms"],
        ["email"],
        ["sms"],
    ], channels
    sizes = [len(each) for each in put_back_after_redis_was_lost(11, "id")]
    assert sizes == [2, 2, 1, 2, 2, 1, 1]


def routine_then_urgent(officer_client) -> tuple[int, int]:
    """The ids of a routine alert, then an incident, sent one after the other."""
    ids = []
    for category in ("crime_prevention", "incident"):
        sent = officer_client.post(
            "/officers/alerts",
            json={"shapes": [circle()], "title": "T", "body": "B", "category": category},
        )
        assert sent.status_code == 201, sent.json
        ids.append(sent.json["alert_id"])
    return ids[0], ids[1]


def test_work_the_sweeper_puts_back_goes_urgent_alerts_first(officer_client, make_resident):
    """Found by an outside check: after Redis was lost, rows went back in id order, and
    an incident's calls all waited behind those of the routine alert sent a second
    before it (its first call at +45 s rather than +9 s)."""

    for n in range(3):
        make_resident(postcode="BS1 6AD", sms=f"+44770090083{n}", voice=f"+44117496083{n}")
    routine, urgent = routine_then_urgent(officer_client)
    order = put_back_after_redis_was_lost(12, "alert_id")
    assert order == [{urgent}, {urgent}, {routine}, {routine}], order
    # The incident's rows made a moment after the routine alert's: not yet "forgotten"
    # when the routine one's are, they are put back with them, ahead (they went a sweep
    # later, after all of the routine alert's: a re-check).
    order = put_back_after_redis_was_lost(12, "alert_id", only=routine)
    assert order == [{urgent}, {urgent}, {routine}, {routine}], order


def test_jobs_that_died_go_back_urgent_alerts_first_and_not_while_the_database_is_down(
    officer_client, make_resident, monkeypatch
):
    """Found by an outside check: jobs that raised while PostgreSQL was down were put
    back in the order Redis kept them, an incident's texts after a routine alert's,
    and its all-clear 26 s later stopped them all: it texted none of its 122 numbers.
    An urgent alert's dead jobs go to the very front and a routine alert's behind
    every urgent one waiting; while the database cannot say which is which, none goes
    back (each would fail again at once, spending its retries)."""
    import json

    from sqlalchemy.exc import OperationalError

    from app import jobs
    from app.extensions import redis_store
    from app.services import ledgers

    for n in range(2):
        make_resident(postcode="BS1 6AD", sms=f"+44770090084{n}")
    routine, urgent = routine_then_urgent(officer_client)
    queued = [*jobs.urgent_queue().jobs, *jobs.queue().jobs]
    assert [job.args[0] for job in queued] == [urgent, routine]
    empty_job_queues()
    # Each alert's one job died (its lease lapsed), the routine one first in Redis; an
    # urgent alert's rows wait besides (a job of the incident's still on the queue).
    client = redis_store.client
    for n, job in enumerate(sorted(queued, key=lambda job: job.args[0] != routine)):
        spec = {"name": "outbound.deliver_alert_range", "args": list(job.args), "bulk": False}
        client.hset(jobs.RUNNING_KEY, f"dead-{n}", json.dumps(spec))
    waiting = jobs.enqueue("outbound.deliver_batch", "alerts", [987654])

    def unreachable(_spec):
        raise OperationalError("SELECT", {}, Exception("the database is down"))

    monkeypatch.setattr(ledgers, "_urgent_job", unreachable)
    with pytest.raises(OperationalError):
        ledgers.sweep()
    assert len(client.hgetall(jobs.RUNNING_KEY)) == 2 and jobs.waiting() == 1
    monkeypatch.undo()

    # The urgent one is put on the queue first: a worker waiting idle takes whichever
    # comes first, and took the routine one (a re-check).
    pushed = []
    enqueue = jobs.enqueue

    def recorded(name, *args, **options):
        pushed.append(args[0])
        return enqueue(name, *args, **options)

    monkeypatch.setattr(jobs, "enqueue", recorded)
    assert ledgers.sweep()["jobs_requeued"] == 2
    assert pushed == [urgent, routine]
    # The incident's on the urgent queue, which workers take first; the routine alert's
    # behind what waited, since the incident's rows wait.
    (first,) = jobs.urgent_queue().jobs
    assert (first.func_name.rsplit(".", 1)[-1], first.args[0]) == ("deliver_alert_range", urgent)
    order = [(job.func_name.rsplit(".", 1)[-1], job.args[0]) for job in jobs.queue().jobs]
    assert order[-1] == ("deliver_alert_range", routine)
    assert waiting.id in jobs.queue().job_ids
    assert client.hgetall(jobs.RUNNING_KEY) == {}


def test_a_job_left_past_its_time_by_a_dead_scheduler_is_queued_by_the_sweeper(app_ctx, app):
    """Found by an outside check: RQ's scheduler (a retry's backoff, a hand-back) runs
    in one worker under a lock, and a worker killed with it kept the lock for a minute:
    its jobs sat 38 s past their time and more. The sweeper queues a job left
    JOB_LEASE_SECONDS past its time, and none that is not."""
    import time

    from rq.registry import ScheduledJobRegistry

    from app import jobs
    from app.services import ledgers

    late = jobs.enqueue("outbound.deliver_batch", "alerts", [1], after_seconds=60)
    soon = jobs.enqueue("outbound.deliver_batch", "alerts", [2], after_seconds=60)
    registry = ScheduledJobRegistry(queue=jobs.queue())
    seconds = jobs.OVERDUE_SECONDS
    assert seconds <= 3  # (it waited JOB_LEASE_SECONDS, 10: each retry 6-10 s late)
    # Its time came OVERDUE_SECONDS and a second ago; the other's is a minute away.
    registry.schedule(late, datetime.fromtimestamp(time.time() - seconds - 1, UTC))
    assert jobs.waiting() == 0
    assert ledgers.sweep()["jobs_overdue"] == 1
    assert [job.id for job in jobs.queue().jobs] == [late.id]
    assert registry.get_job_ids() == [soon.id]


def test_a_queue_whose_scheduler_died_has_its_jobs_queued_when_due(app_ctx, app):
    """Found by an outside check: a worker killed holding RQ's scheduler lock kept it a
    minute, and its jobs waited for the sweeper's OVERDUE_SECONDS each (an urgent
    alert's calls handed back to wait for a line went 3.8 to 5.8 s late) for 73 to
    110 s, until a worker's maintenance took the lock up. While no live scheduler holds
    a queue, its jobs are queued when due, and a dead one's lock is given up; beside a
    live one, nothing due under OVERDUE_SECONDS is touched."""
    import time

    from rq.registry import ScheduledJobRegistry
    from rq.scheduler import SCHEDULER_KEY_TEMPLATE, RQScheduler

    from app import jobs
    from app.services import ledgers

    client = jobs.redis_store.client
    queue = jobs.queue()
    registry = ScheduledJobRegistry(queue=queue)

    def just_due() -> str:
        job = jobs.enqueue("outbound.deliver_batch", "alerts", [1], after_seconds=60)
        registry.schedule(job, datetime.fromtimestamp(time.time() - 1, UTC))
        return job.id

    # A live scheduler (RQ's own, beating now) holds the queue: its job is its own.
    live = RQScheduler([queue.name], connection=client)
    assert live.acquire_locks() == {queue.name}
    live.register_birth()
    live.heartbeat()
    # Its beat's time as another clock wrote it (a sweeper's host 7 s ahead, or
    # behind): alive all the same.
    client.hset(SCHEDULER_KEY_TEMPLATE % live.name, "last_heartbeat", "2026-01-01T00:00:00Z")
    first = just_due()
    assert ledgers.sweep()["jobs_overdue"] == 0
    assert first in registry.get_job_ids()
    # Its worker killed: no beat since, its lock running out (as Redis counts: a
    # sweeper's clock ahead of the workers' gave up live schedulers' locks, a review).
    # Its lock is given up, and what is due queued.
    lock = RQScheduler.get_locking_key(queue.name)
    client.pexpire(lock, (jobs.SCHEDULER_LOCK_SECONDS - jobs.SCHEDULER_SILENT_SECONDS) * 1000 - 100)
    assert ledgers.sweep()["jobs_overdue"] == 1
    assert [job.id for job in queue.jobs] == [first]
    assert client.get(RQScheduler.get_locking_key(queue.name)) is None
    # No scheduler at all: the same, at once.
    second = just_due()
    assert ledgers.sweep()["jobs_overdue"] == 1
    assert [job.id for job in queue.jobs] == [first, second]
    # A scheduler starting (its lock just taken, no record yet) is left alone.
    starting = RQScheduler([queue.name], connection=client)
    assert starting.acquire_locks() == {queue.name}
    third = just_due()
    assert ledgers.sweep()["jobs_overdue"] == 0
    assert third in registry.get_job_ids()
    assert client.get(RQScheduler.get_locking_key(queue.name)).decode() == starting.name


def test_between_sweeps_the_sweeper_queues_what_a_dead_scheduler_left_each_second(app_ctx, app):
    """With no live scheduler, a job due between two sweeps went up to
    SWEEP_INTERVAL_SECONDS (5) late: between sweeps, the sweeper queues each second
    what is due."""
    import time

    from rq.registry import ScheduledJobRegistry

    from app import jobs
    from app.cli.ops import _until_next_sweep

    queue = jobs.queue()
    job = jobs.enqueue("outbound.deliver_batch", "alerts", [1], after_seconds=60)
    ScheduledJobRegistry(queue=queue).schedule(job, datetime.fromtimestamp(time.time() + 0.5, UTC))
    _until_next_sweep(2.5)  # no sweep in it: only the waiting between
    assert [each.id for each in queue.jobs] == [job.id]


def test_an_all_clears_preview_counts_what_it_would_stop_and_no_further(
    officer_client, make_resident, monkeypatch
):
    """The officer is told how many of the alert's messages an all-clear stops (a whole
    incident was stopped so, unsaid: an outside check), counted only so far: a count of
    a million waiting messages on every preview could time out (a review)."""
    from app.services.alerts import targeting

    for n in range(3):
        make_resident(postcode="BS1 6AD", sms=f"+44770090082{n}")
    sent = officer_client.post(
        "/officers/alerts", json={"shapes": [circle()], "title": "T", "body": "B"}
    )
    first = sent.json["alert_id"]
    follow_up = {"audience": "parent", "parent_id": first, "shapes": []}
    clear = officer_client.post("/officers/preview", json=follow_up | {"category": "all_clear"})
    assert clear.json["stops_unsent"] == 3
    update = officer_client.post("/officers/preview", json=follow_up | {"category": "update"})
    assert "stops_unsent" not in update.json
    monkeypatch.setattr(targeting, "STOPS_COUNTED_TO", 1)
    capped = officer_client.post("/officers/preview", json=follow_up | {"category": "all_clear"})
    assert (capped.json["stops_unsent"], capped.json["stops_counted_to"]) == (2, 1)


def test_the_preview_says_when_the_last_message_would_go_behind_the_queue(
    officer_client, residents, exact_counts, app, monkeypatch
):
    from app.services.alerts.timing import duration_words

    monkeypatch.setitem(app.config, "RATE_LIMITS", {"sms": 0, "voice": 0, "email": 5})
    monkeypatch.setitem(app.config, "ESTIMATE_RATES", {"sms": 10.0, "voice": 1.0, "email": 10.0})
    first = officer_client.post("/officers/preview", json={"shapes": [circle(radius_m=2000)]})
    assert first.json["finish"]["channels"]["voice"] == {
        "seconds": 1,
        "per_second": 1.0,
        "waiting": 0,
    }
    assert first.json["finish"]["channels"]["email"]["per_second"] == 5  # our limit, when set
    assert first.json["finish"]["slow_voice"] is False
    # An alert already sending 9,999 calls: a new one waits behind them.
    officer_client.post(
        "/officers/alerts", json={"shapes": [circle(radius_m=2000)], "title": "T", "body": "B"}
    )
    db.session.execute(
        text(
            "INSERT INTO deliveries (alert_id, alert_created_at, resident_id, channel, address,"
            " status) SELECT a.id, a.created_at, NULL, 'voice', '+4411749' || n, 'queued' "
            "FROM generate_series(1, 9998) n, (SELECT * FROM alerts ORDER BY id DESC LIMIT 1) a"
        )
    )
    db.session.commit()
    second = officer_client.post("/officers/preview", json={"shapes": [circle(radius_m=2000)]})
    voice = second.json["finish"]["channels"]["voice"]
    assert (voice["waiting"], voice["seconds"]) == (9_999, 10_000)
    assert second.json["finish"]["slow_voice"] is True
    assert duration_words(second.json["finish"]["slowest_seconds"]) == "2 h 47 min"
    # Ten lines, calls of about 45 s: 0.22 a second, slower than Twilio's 1 a second.
    monkeypatch.setitem(app.config, "VOICE_LINES", 10)
    third = officer_client.post("/officers/preview", json={"shapes": [circle(radius_m=2000)]})
    voice = third.json["finish"]["channels"]["voice"]
    assert voice["per_second"] == pytest.approx(10 / 45)
    assert abs(voice["seconds"] - 10_000 * 45 / 10) <= 1


def test_the_same_alert_sent_again_moments_later_is_the_first_one(
    app, officer_client, residents, exact_counts, monkeypatch, make_officer
):
    """A double tap, a retry after the signal dropped, or a second tab: the same alert
    from the same officer within ALERT_REPEAT_SECONDS is the first one, sent once."""
    monkeypatch.setitem(app.config, "ALERT_REPEAT_SECONDS", 120)  # as configured by default
    from concurrent.futures import ThreadPoolExecutor

    from tests.factories import signed_in

    body = {"shapes": [circle(radius_m=2000)], "title": "Fire", "body": "Keep windows shut."}
    first = officer_client.post("/officers/alerts", json=body)
    assert first.status_code == 201 and first.json["repeated"] is False
    again = officer_client.post("/officers/alerts", json=body | {"expected_residents": 2})
    assert again.status_code == 200 and again.json["repeated"] is True
    assert again.json["alert_id"] == first.json["alert_id"]
    assert (again.json["deliveries"], again.json["url"]) == (0, first.json["url"])
    assert "It was not sent again" in officer_client.get(again.json["url"]).text
    # Found by an outside probe: the same channels in another order, or one twice, were
    # another alert, and residents got it twice.
    # (Other words: the same words to the same people by other channels are refused.)
    worded = body | {"title": "Fire on Elm Road"}
    for channels in (["sms", "email"], ["email", "sms"], ["email", "sms", "sms"]):
        answer = officer_client.post("/officers/alerts", json=worded | {"channels": channels})
        assert answer.json["repeated"] is (channels != ["sms", "email"]), channels
    db.session.execute(
        text("DELETE FROM deliveries WHERE alert_id <> :id"), {"id": first.json["alert_id"]}
    )
    db.session.execute(text("DELETE FROM alerts WHERE id <> :id"), {"id": first.json["alert_id"]})
    db.session.commit()

    def alerts_and_deliveries() -> tuple[int, int]:
        return db.session.execute(
            text("SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM deliveries)")
        ).one()

    assert alerts_and_deliveries() == (1, first.json["deliveries"])
    # Four at once from the officer's four tabs: one alert between them.
    officer = db.session.scalars(select(Officer).where(Officer.role == "officer")).one()
    tabs = [signed_in(app, officer, "officer") for _ in range(4)]
    other = body | {"title": "Flood"}
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda tab: tab.post("/officers/alerts", json=other), tabs))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json["alert_id"] for a in answers}) == 1
    assert alerts_and_deliveries()[0] == 2
    # Different words are another alert; so is the same one after the time is up.
    assert officer_client.post("/officers/alerts", json=body | {"body": "Shut."}).status_code == 201
    db.session.execute(text("UPDATE alerts SET created_at = created_at - interval '121 seconds'"))
    db.session.commit()
    later = officer_client.post("/officers/alerts", json=body)
    assert later.status_code == 201 and later.json["alert_id"] != first.json["alert_id"]
    assert alerts_and_deliveries()[0] == 4
    # A cancelled one is no reason not to send it again now.
    db.session.execute(
        text("UPDATE alerts SET status = 'cancelled' WHERE id = :id"),
        {"id": later.json["alert_id"]},
    )
    db.session.commit()
    assert officer_client.post("/officers/alerts", json=body).status_code == 201
    # From a colleague of the force moments later, the same alert is refused, saying
    # who sent it: an officer then their supervisor sent it twice (an outside check).
    before = alerts_and_deliveries()
    supervisor = signed_in(
        app, make_officer(role="supervisor", email="sgt@police.example"), "supervisor"
    )
    refused = supervisor.post("/officers/alerts", json=body)
    assert refused.status_code == 400
    assert (
        f"{officer.name} sent this same alert to the same residents a moment ago"
        in (refused.json["error"])
    )
    assert "It was not sent again." in refused.json["error"]
    assert alerts_and_deliveries() == before
    welsh = supervisor.post("/officers/alerts?lang=cy", json=body)
    assert "yr un rhybudd hwn at yr un trigolion" in welsh.json["error"]
    # The same words with a space or line after them are the same alert, as kept (an
    # outside re-check: they went again).
    spaced = body | {"title": body["title"] + " ", "body": body["body"] + "\r\n"}
    assert supervisor.post("/officers/alerts", json=spaced).status_code == 400
    assert officer_client.post("/officers/alerts", json=spaced).json["repeated"] is True
    assert alerts_and_deliveries() == before


def test_the_same_words_to_an_overlapping_area_moments_later_are_refused(
    app, officer_client, residents, exact_counts, monkeypatch, make_officer
):
    """A colleague's copy with the circle drawn at 1,200 m, not 1,000, went in full:
    every resident of the first got it twice, then two all-clears (an outside check).
    The same words to an area apart, or by a channel the first did not use, go."""
    monkeypatch.setitem(app.config, "ALERT_REPEAT_SECONDS", 120)
    from tests.factories import signed_in

    words = {"title": "Gas leak", "body": "Stay indoors, close windows."}
    first = officer_client.post(
        "/officers/alerts", json=words | {"shapes": [circle(radius_m=1000)], "channels": ["sms"]}
    )
    assert first.status_code == 201
    supervisor = signed_in(
        app, make_officer(role="supervisor", email="sgt@police.example"), "supervisor"
    )
    wider = words | {"shapes": [circle(radius_m=1200)]}
    refused = supervisor.post("/officers/alerts", json=wider)
    assert refused.status_code == 400
    said = refused.json["error"]
    assert "sent these same words" in said and f"(alert {first.json['alert_id']})" in said
    assert "would get them twice, so this was not sent" in said
    # One second is one second ("1 seconds ago": an outside check).
    seconds, unit = re.search(r"(\d+) (seconds?) ago", said).groups()
    assert unit == ("second" if seconds == "1" else "seconds"), said
    mine = officer_client.post("/officers/alerts", json=wider)
    assert mine.status_code == 400 and mine.json["error"].startswith("You sent these same words")
    # The same words as a reader takes them: spaces, case, a full stop (a re-check).
    for title, body in (
        ("Gas  leak", "Stay indoors,  close windows."),
        ("Gas leak.", "Stay indoors, close windows"),
        ("gas leak", "stay indoors, close windows."),
    ):
        again = supervisor.post("/officers/alerts", json=wider | {"title": title, "body": body})
        assert again.status_code == 400 and "same words" in again.json["error"], title
    # By e-mail only, which the first did not use: nobody gets it twice.
    other_channel = supervisor.post("/officers/alerts", json=wider | {"channels": ["email"]})
    assert other_channel.status_code == 201, other_channel.json
    # Far away: another place's residents.
    apart = {"kind": "circle", "center": [-2.3597, 51.3811], "radius_m": 300}
    elsewhere = supervisor.post("/officers/alerts", json=words | {"shapes": [apart]})
    assert elsewhere.status_code in (201, 400)
    assert "same words" not in str(elsewhere.json)
    assert db.session.scalar(text("SELECT count(*) FROM alerts WHERE title = 'Gas leak'")) >= 2


def test_a_larger_area_is_shown_in_fewer_larger_squares(officer_client, residents, exact_counts):
    """Squares of 500 m until more than PREVIEW_CELLS_ACROSS (32) would span the area:
    a 20 km circle (40 km across) is drawn in 2 km squares, not 5,000 of 500 m."""
    import shapely

    from geo.projection import BNG, WGS84, transform_geometry

    def squares_km2(preview: dict) -> set[float]:
        return {
            round(
                transform_geometry(shapely.from_geojson(cell["geometry"]), WGS84, BNG).area / 1e6,
                2,
            )
            for cell in preview["cells"]
        }

    small = officer_client.post("/officers/preview", json={"shapes": [circle(radius_m=2000)]}).json
    large = officer_client.post("/officers/preview", json={"shapes": [circle(radius_m=20000)]}).json
    assert (small["cell_m"], large["cell_m"]) == (500, 2000)
    assert squares_km2(small) == {0.25}
    assert squares_km2(large) == {4.0}
    # Everyone reached is in a square: the two in Bristol (Taunton is 60 km away).
    assert large["residents"] == sum(cell["residents"] for cell in large["cells"]) == 2


def test_previews_share_a_count_of_the_queue_for_queue_count_seconds(
    officer_client, residents, exact_counts, app, monkeypatch
):
    """While a force-wide alert goes, the queue is not counted again for each preview:
    one count serves QUEUE_COUNT_SECONDS, then the next preview counts again."""
    from app.services.alerts import timing

    clock = [1000.0]
    monkeypatch.setattr(timing, "_clock", lambda: clock[0])
    monkeypatch.setitem(app.config, "QUEUE_COUNT_SECONDS", 5)
    monkeypatch.delitem(app.extensions, "queue_waiting", raising=False)  # an earlier count

    def waiting_voice() -> int:
        found = officer_client.post("/officers/preview", json={"shapes": [circle(radius_m=2000)]})
        return found.json["finish"]["channels"]["voice"]["waiting"]

    assert waiting_voice() == 0
    officer_client.post(
        "/officers/alerts", json={"shapes": [circle(radius_m=2000)], "title": "T", "body": "B"}
    )
    clock[0] += 4.9
    assert waiting_voice() == 0, "the count taken 4.9 s ago still serves"
    clock[0] += 0.1
    assert waiting_voice() == 1, "5 s on, the queue is counted again"


def test_an_alerts_counts_are_written_with_thousands_separated(officer_client, app_ctx):
    # "4643 of 7334 messages sent", where the same page wrote "7,322 residents" (an
    # outside check); the page's script writes them so too (static/js/progress.js).
    from tests.test_dispatch_faults import add_residents

    add_residents(1_234)
    sent = officer_client.post(
        "/officers/alerts",
        json={"shapes": [circle(radius_m=500)], "title": "T", "body": "B", "category": "incident"},
    )
    assert sent.status_code == 201, sent.json
    page = officer_client.get(sent.json["url"]).text
    assert re.search(r'<strong id="total">1,234</strong> messages sent', page)
    assert '<td class="queued" data-label="Waiting">1,234</td>' in page
