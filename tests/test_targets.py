"""The targets table (migration 0022) is who an area reaches: PostgreSQL keeps it in
step with residents, their channels, places and groups whatever changes them, and the
preview an officer sees is the send that goes out, over random areas (issue 16)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from app.dao.targeting import Audience, count_targets
from app.extensions import db
from geo.areas import area_from_shapes

BS1_6AD = [-2.588230, 51.451967]
POSTCODES = ["BS1 6AD", "BS8 1TH", "BS1 4ST", "BS2 0JA", "BS3 1AA", "BS5 0AA", "BS6 5AA"]

# Who an area reaches, written out from its definition (not from the targets table).
DEFINITION = """
SELECT c.resident_id, l.id, c.channel, c.address,
       ARRAY(SELECT g.group_id FROM resident_groups g WHERE g.resident_id = c.resident_id
             ORDER BY g.group_id),
       ST_AsText(l.location)
FROM resident_channels c
JOIN residents r ON r.id = c.resident_id AND r.paused_at IS NULL
JOIN resident_locations l ON l.resident_id = c.resident_id
WHERE c.unsubscribed_at IS NULL AND c.verified_at IS NOT NULL
"""
TABLE = """
SELECT resident_id, location_id, channel, address, group_ids, ST_AsText(location) FROM targets
"""


def rows(sql: str) -> list[tuple]:
    return sorted(
        tuple(tuple(v) if isinstance(v, list) else v for v in row)
        for row in db.session.execute(text(sql)).all()
    )


def in_step() -> None:
    db.session.commit()
    assert rows(TABLE) == rows(DEFINITION)


@pytest.fixture
def town(make_resident):
    """Residents on every channel at several postcodes, in groups, one number shared."""
    made = []
    for n, postcode in enumerate(POSTCODES):
        made.append(
            make_resident(
                postcode=postcode,
                sms=f"+4477009000{n:02d}",
                voice=f"+4411749600{n:02d}" if n % 2 else None,
                email=f"r{n}@example.invalid" if n % 3 else None,
                groups=("farm-watch",) if n % 2 else ("business-watch", "farm-watch")[: n % 3],
            )
        )
    make_resident(postcode="BS8 1TH", sms="+447700900000")  # the first one's number again
    make_resident(postcode="BS1 6AD", sms="+447700900099", verified=False)
    return [r.id for r in made]


OPERATIONS = [
    "UPDATE residents SET paused_at = now() WHERE id = :r",
    "UPDATE residents SET paused_at = NULL WHERE id = :r",
    "UPDATE resident_channels SET unsubscribed_at = now() "
    "WHERE resident_id = :r AND channel = 'sms'",
    "UPDATE resident_channels SET unsubscribed_at = NULL WHERE resident_id = :r",
    "UPDATE resident_channels SET verified_at = NULL WHERE resident_id = :r AND channel = 'email'",
    "UPDATE resident_channels SET verified_at = now() WHERE resident_id <= :r",
    "UPDATE resident_channels SET address = address || '9' "
    "WHERE resident_id = :r AND channel = 'voice'",
    "UPDATE resident_channels SET verify_attempts = verify_attempts + 1 WHERE resident_id = :r",
    "INSERT INTO resident_channels (resident_id, channel, address, verified_at) "
    "SELECT :r, 'voice', '+441174960777', now() "
    "WHERE EXISTS (SELECT 1 FROM residents WHERE id = :r) "
    "ON CONFLICT DO NOTHING",
    "DELETE FROM resident_channels WHERE resident_id = :r AND channel = 'sms'",
    "INSERT INTO resident_locations (resident_id, label, postcode, location) "
    "SELECT :r, 'Farm', postcode, location FROM postcodes WHERE postcode = 'BS81TH' "
    "AND EXISTS (SELECT 1 FROM residents WHERE id = :r)",
    "UPDATE resident_locations SET location = ST_Translate(location, 250, -120) "
    "WHERE resident_id = :r",
    "UPDATE resident_locations SET label = 'Home' WHERE resident_id = :r",
    "DELETE FROM resident_locations WHERE id = (SELECT max(id) FROM resident_locations "
    "WHERE resident_id = :r) "
    "AND (SELECT count(*) FROM resident_locations WHERE resident_id = :r) > 1",
    "INSERT INTO resident_groups (resident_id, group_id) SELECT :r, id FROM interest_groups "
    "WHERE EXISTS (SELECT 1 FROM residents WHERE id = :r) ON CONFLICT DO NOTHING",
    "DELETE FROM resident_groups WHERE resident_id = :r",
    "DELETE FROM residents WHERE id = :r",
]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 6)), max_size=8))
def test_targets_stay_in_step_whatever_changes_residents(town, steps):
    in_step()
    for statement, which in steps:
        db.session.execute(text(statement), {"r": town[which]})
        in_step()


def test_one_statement_changing_many_residents_keeps_them_all_in_step(town):
    db.session.execute(text("UPDATE residents SET paused_at = now() WHERE id % 2 = 0"))
    in_step()
    db.session.execute(text("UPDATE resident_channels SET unsubscribed_at = now()"))
    in_step()
    assert rows(TABLE) == []
    db.session.execute(
        text("UPDATE resident_channels SET unsubscribed_at = NULL, verified_at = now()")
    )
    db.session.execute(text("UPDATE residents SET paused_at = NULL"))
    in_step()
    assert len(rows(TABLE)) > len(POSTCODES)


def test_a_rolled_back_change_leaves_targets_as_they_were(town):
    before = rows(TABLE)
    db.session.execute(text("DELETE FROM resident_channels"))
    assert rows(TABLE) == []
    db.session.rollback()
    assert rows(TABLE) == before


def _reference_counts(area_wkb: bytes, groups: list[str], channels: list[str]) -> dict:
    """Counts from the definition of who an alert reaches, written out independently."""
    found = db.session.execute(
        text(
            """
            SELECT DISTINCT ON (c.channel, c.address) c.resident_id, c.channel
            FROM resident_channels c
            JOIN residents r ON r.id = c.resident_id AND r.paused_at IS NULL
            WHERE c.unsubscribed_at IS NULL AND c.verified_at IS NOT NULL
              AND EXISTS (SELECT 1 FROM resident_locations l WHERE l.resident_id = c.resident_id
                          AND ST_Intersects(l.location, ST_GeomFromWKB(:area, 27700)))
              AND (cardinality(CAST(:groups AS text[])) = 0 OR EXISTS (
                    SELECT 1 FROM resident_groups g JOIN interest_groups i ON i.id = g.group_id
                    WHERE g.resident_id = c.resident_id AND i.slug = ANY(CAST(:groups AS text[]))))
              AND (cardinality(CAST(:channels AS text[])) = 0
                   OR c.channel = ANY(CAST(:channels AS text[])))
            ORDER BY c.channel, c.address, c.resident_id
            """
        ),
        {"area": area_wkb, "groups": groups, "channels": channels},
    ).all()
    by_channel = {"sms": 0, "voice": 0, "email": 0}
    for _, channel in found:
        by_channel[channel] += 1
    return {"residents": len({r for r, _ in found}), "channels": by_channel}


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    east=st.floats(-0.03, 0.03),
    north=st.floats(-0.02, 0.02),
    radius=st.integers(100, 4000),
    polygon=st.booleans(),
    groups=st.lists(st.sampled_from(["farm-watch", "business-watch", "no-such"]), max_size=2),
    channels=st.lists(st.sampled_from(["sms", "voice", "email"]), max_size=2),
)
def test_the_preview_counts_exactly_whom_the_send_reaches_over_random_areas(
    app, officer_client, town, east, north, radius, polygon, groups, channels
):
    app.config["DENSITY_MIN_COUNT"] = 0
    lon, lat = BS1_6AD[0] + east, BS1_6AD[1] + north
    if polygon:  # a rough ring of five corners
        d = radius / 70_000
        ring = [
            [lon - d, lat - d / 2],
            [lon + d, lat - d],
            [lon + d * 1.2, lat + d],
            [lon, lat + d * 0.8],
            [lon - d, lat],
            [lon - d, lat - d / 2],
        ]
        shape = {"kind": "polygon", "coordinates": [ring]}
    else:
        shape = {"kind": "circle", "center": [lon, lat], "radius_m": radius}
    try:
        preview = officer_client.post(
            "/officers/preview", json={"shapes": [shape], "groups": groups, "channels": channels}
        )
        assert preview.status_code in (200, 400), preview.text
        area = area_from_shapes([shape]).wkb
        expected = _reference_counts(area, groups, channels)
        audience = Audience(area_wkb=area, groups=tuple(groups), channels=tuple(channels))
        assert count_targets(db.session, audience) == expected  # what the send inserts
        if preview.status_code == 200:
            shown = preview.json
            assert shown["residents"] == expected["residents"]
            assert shown["channels"] == expected["channels"]
    finally:
        app.config["DENSITY_MIN_COUNT"] = 5


def test_a_sent_alert_reaches_the_residents_the_preview_counted(
    app, officer_client, town, run_worker
):
    app.config["DENSITY_MIN_COUNT"] = 0
    try:
        shapes = [{"kind": "circle", "center": BS1_6AD, "radius_m": 3000}]
        preview = officer_client.post("/officers/preview", json={"shapes": shapes}).json
        sent = officer_client.post(
            "/officers/alerts", json={"shapes": shapes, "title": "Road closed", "body": "Avoid."}
        )
        assert sent.status_code == 201, sent.json
        assert sent.json["deliveries"] == sum(preview["channels"].values()) > 0
        cells = sum(cell["residents"] for cell in preview["cells"])
        assert cells >= preview["residents"]  # a resident with two places shows in both
        assert json.loads(preview["cells"][0]["geometry"])["type"] == "Polygon"
        assert re.fullmatch(r"\d+", str(preview["near_edge"]["inside"]))
    finally:
        app.config["DENSITY_MIN_COUNT"] = 5


def test_reordering_the_targets_keeps_every_row(app, town):
    before = rows(TABLE)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["residents", "reorder-targets"])
    assert result.exit_code == 0, result.output
    assert "Targets reordered in" in result.output
    db.session.expire_all()
    assert rows(TABLE) == before
