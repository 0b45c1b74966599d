"""Small counts are personal data: "1 resident, by e-mail" for a 4 m square on one
postcode says that someone there is registered. Every figure the officer sees before
an alert goes is exact from DENSITY_MIN_COUNT (5) up and "fewer than 5" below, 0
included; sending to such an area still works, and once sent its page shows the real
numbers (the delivery ledger is personal data under audit)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Alert, Delivery, ResidentLocation
from tests.factories import approval_form

BS1_6AD = [-2.588230, 51.451967]
# Fields of the preview that are not counts of people or their messages. The time until
# the last message goes is worked out from the counts as shown (a hidden one at its
# most: checked below) and the force's whole queue.
NOT_COUNTS = {
    "cell_m",
    "min_count",
    "area_km2",
    "outside_force_km2",
    "geometry",
    "seconds",
    "slowest_seconds",
    "per_second",
    "waiting",
    # An all-clear's count of its alert's messages not gone yet: a sent alert's, which
    # its own page counts exactly, not an area's residents.
    "stops_unsent",
    "stops_counted_to",
}


def count_fields(preview, path=""):
    """(path, value) of every count of people or messages in a preview, however deep."""
    if isinstance(preview, dict):
        for key, value in preview.items():
            if key not in NOT_COUNTS:
                yield from count_fields(value, f"{path}.{key}")
    elif isinstance(preview, list):
        for i, value in enumerate(preview):
            yield from count_fields(value, f"{path}[{i}]")
    elif isinstance(preview, int) and not isinstance(preview, bool):
        yield path, preview


def small_figures(preview) -> list:
    return [(path, n) for path, n in count_fields(preview) if n < 5]


@pytest.fixture
def one_resident(make_resident):
    return make_resident(
        postcode="BS1 6AD",
        sms="+447700900001",
        email="one@example.invalid",
        groups=("neighbourhood-watch",),
    )


def square_round(resident, metres: float = 4) -> dict:
    """A polygon `metres` across, centred on the resident's postcode."""
    x, y = db.session.execute(
        select(
            func.ST_X(func.ST_Transform(ResidentLocation.location, 4326)),
            func.ST_Y(func.ST_Transform(ResidentLocation.location, 4326)),
        ).where(ResidentLocation.resident_id == resident.id)
    ).one()
    db.session.rollback()
    dx, dy = metres / 2 / 69_400, metres / 2 / 111_200  # degrees, at 51.45° N
    ring = [[x - dx, y - dy], [x + dx, y - dy], [x + dx, y + dy], [x - dx, y + dy]]
    return {"kind": "polygon", "coordinates": [ring + [ring[0]]]}


def preview(client, **request):
    response = client.post("/officers/preview", json=request)
    assert response.status_code == 200, response.json
    return response.json


def test_the_walk_finds_counts_at_any_depth_and_skips_other_numbers():
    found = dict(
        count_fields(
            {"residents": 1, "channels": {"sms": 0}, "cells": [{"residents": 3}], "cell_m": 500}
        )
    )
    assert found == {".residents": 1, ".channels.sms": 0, ".cells[0].residents": 3}


def test_a_tiny_square_round_one_resident_shows_no_small_figure(
    officer_client, one_resident, app, monkeypatch
):
    monkeypatch.setitem(app.config, "ESTIMATE_RATES", {"sms": 1.0, "voice": 1.0, "email": 1.0})
    square = square_round(one_resident)
    tiny = preview(officer_client, shapes=[square])
    assert small_figures(tiny) == []
    assert tiny["residents"] is None
    assert tiny["channels"] == {"sms": None, "voice": None, "email": None}
    assert tiny["groups"] == {"neighbourhood-watch": None}
    assert tiny["near_edge"] == {"inside": None, "outside": None}
    assert tiny["cells"] == [], "a blank square would still say someone is there"
    assert tiny["hidden_label"] == "fewer than 5"
    # The time to send counts a hidden channel at its most (4), never at its real 1.
    assert tiny["finish"]["channels"]["sms"] == {"seconds": 4, "per_second": 1.0, "waiting": 0}

    # An empty area (the same square 700 m east) reads the same: otherwise "fewer
    # than 5" would mean "someone".
    east = [[x + 0.01, y] for x, y in square["coordinates"][0]]
    empty = preview(officer_client, shapes=[square | {"coordinates": [east]}])
    assert empty | {"area_km2": None} == tiny | {"area_km2": None}

    # Narrowed by group or channel, still nothing small.
    narrowed = preview(officer_client, shapes=[square], groups=["neighbourhood-watch"])
    assert small_figures(narrowed) == [] and narrowed["residents"] is None
    by_email = preview(officer_client, shapes=[square], channels=["email"])
    assert small_figures(by_email) == [] and by_email["channels"]["email"] is None


def test_five_and_more_are_exact_and_fewer_are_hidden_beside_them(officer_client, make_resident):
    for n in range(5):
        make_resident(postcode="BS1 6AD", sms=f"+4477009001{n:02d}", groups=("farm-watch",))
    make_resident(postcode="BS1 6AD", sms=None, voice="+441174960001", groups=("farm-watch",))
    make_resident(postcode="BS1 6AD", sms=None, email="x@example.invalid")
    counts = preview(
        officer_client, shapes=[{"kind": "circle", "center": BS1_6AD, "radius_m": 300}]
    )
    assert counts["residents"] == 7
    assert counts["channels"] == {"sms": 5, "voice": None, "email": None}
    assert counts["groups"] == {"farm-watch": 6}
    assert [c["residents"] for c in counts["cells"]] == [7]
    assert small_figures(counts) == []


def test_a_tiny_area_still_sends_and_its_page_shows_real_counts_once_sent(
    officer_client, one_resident, run_worker
):
    square = square_round(one_resident)
    assert preview(officer_client, shapes=[square])["residents"] is None
    # The page sends 0 for "fewer than 5": the server holds its own count to the rule.
    sent = officer_client.post(
        "/officers/alerts",
        json={"shapes": [square], "title": "Gas leak", "body": "Stay in.", "expected_residents": 0},
    )
    assert sent.status_code == 201, sent.json
    assert sent.json["deliveries"] == 2  # text and e-mail
    run_worker()
    page = officer_client.get(sent.json["url"]).text
    assert re.search(r"· 1 resident\b", page) and "1 residents" not in page
    assert re.search(r'<strong id="total">2</strong>', page)
    progress = officer_client.get(f"/officers/alerts/{sent.json['alert_id']}/progress").json
    assert progress["by_status"] == {"delivered": 2}


def test_a_confirmed_fewer_than_5_is_refused_when_the_area_now_reaches_more(
    officer_client, make_resident
):
    for n in range(6):
        make_resident(postcode="BS1 6AD", sms=f"+4477009002{n:02d}")
    refused = officer_client.post(
        "/officers/alerts",
        json={
            "shapes": [{"kind": "circle", "center": BS1_6AD, "radius_m": 300}],
            "title": "T",
            "body": "B",
            "expected_residents": 0,
        },
    )
    assert refused.status_code == 400
    assert "now reaches 6 residents, not fewer than 5" in refused.json["errors"]["area"]
    assert db.session.scalar(select(Alert.id)) is None


def test_an_alert_waiting_for_approval_hides_its_small_count_until_it_goes(
    officer_client, supervisor_client, make_resident, run_worker
):
    make_resident(postcode="BS1 6AD", sms="+447700900001")
    make_resident(postcode="BS1 6AD", sms="+447700900002")
    area = {"kind": "circle", "center": BS1_6AD, "radius_m": 300}
    sent = officer_client.post(
        "/officers/alerts",
        json={"shapes": [area], "title": "Missing", "body": "B", "category": "missing_person"},
    )
    assert sent.json["status"] == "pending_approval"
    url = sent.json["url"]
    for client in (officer_client, supervisor_client):
        page = client.get(url).text
        assert "fewer than 5 residents" in page
        assert not re.search(r"\b[1-4]</strong> residents|\b[1-4] residents", page)
    assert (
        "It will go to <strong>fewer than 5</strong> residents" in supervisor_client.get(url).text
    )

    approved = supervisor_client.post(url + "/approve", data=approval_form(supervisor_client, url))
    assert approved.status_code == 302
    run_worker()
    page = officer_client.get(url).text
    assert "· 2 residents" in page
    assert re.search(r'<strong id="sent">2</strong> of <strong id="total">2</strong>', page)


def test_a_scheduled_alert_hides_its_small_count_until_it_goes(officer_client, one_resident):
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    sent = officer_client.post(
        "/officers/alerts",
        json={
            "shapes": [square_round(one_resident)],
            "title": "T",
            "body": "B",
            "category": "crime_prevention",
            "send_at": later,
        },
    )
    assert sent.json["status"] == "scheduled"
    page = officer_client.get(sent.json["url"]).text
    assert "fewer than 5 residents" in page
    assert not re.search(r"· 1 resident\b", page)
    assert db.session.scalar(select(Delivery.id)) is None


def test_a_low_approval_threshold_does_not_tell_a_hidden_count(
    app, monkeypatch, officer_client, make_resident
):
    monkeypatch.setitem(app.config, "APPROVAL_THRESHOLD", 1)
    make_resident(postcode="BS1 6AD", sms="+447700900001")
    make_resident(postcode="BS1 6AD", sms="+447700900002")
    area = {"kind": "circle", "center": BS1_6AD, "radius_m": 300}
    # "Needs approval" would say "more than 1": the preview does not say it...
    assert preview(officer_client, shapes=[area])["needs_approval"] is False
    # ...and the send still applies the real rule.
    sent = officer_client.post(
        "/officers/alerts", json={"shapes": [area], "title": "T", "body": "B"}
    )
    assert sent.json["status"] == "pending_approval"


def test_a_run_of_previews_by_one_officer_is_in_the_audit_log(
    app, monkeypatch, officer, officer_client, make_officer, make_resident
):
    # Exact counts of two areas a house apart tell whether someone there is registered,
    # and mapping a town so takes thousands of previews: nobody is stopped, but every
    # PREVIEW_AUDIT_EVERY-th preview an officer makes in a day is recorded.
    from app.models import AuditEvent
    from tests.factories import signed_in

    monkeypatch.setitem(app.config, "PREVIEW_AUDIT_EVERY", 3)
    make_resident(postcode="BS1 6AD", sms="+447700900001")
    other = make_officer(role="officer", email="other@police.example")
    other_client = signed_in(app, other, "officer")
    for radius in range(200, 900, 100):  # 7 previews
        assert preview(
            officer_client, shapes=[{"kind": "circle", "center": BS1_6AD, "radius_m": radius}]
        )
    for _ in range(2):
        assert preview(
            other_client, shapes=[{"kind": "circle", "center": BS1_6AD, "radius_m": 500}]
        )
    db.session.rollback()
    events = db.session.execute(
        select(AuditEvent.actor_id, AuditEvent.details)
        .where(AuditEvent.action == "officer.previewed_many")
        .order_by(AuditEvent.id)
    ).all()
    assert events == [
        (officer.id, {"previews_today": 3}),
        (officer.id, {"previews_today": 6}),
    ]
