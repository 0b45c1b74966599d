"""The targets table (migration 0022) is who an area reaches: PostgreSQL keeps it in
step with residents, their channels, places and groups whatever changes them, and the
preview an officer sees is the send that goes out, over random areas (issue 16)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from app.dao import targeting as targeting_dao
from app.dao.targeting import AreaPreview, Audience, count_targets, preview_area
from app.extensions import db
from app.models import SQUARE_M
from geo.areas import area_from_shapes, square_cover
from tests.factories import default_force_id

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


SQUARES = "SELECT i, j, group_ids, channels, n FROM target_squares WHERE n <> 0"


def counted_ahead_by_resident(definition: list[tuple]) -> list[tuple]:
    """target_squares written out from who can be reached: residents with one place and
    no address anyone else holds, counted per 500 m square, set of groups and set of
    channels: (resident, their square, groups and channels, or None)."""
    holders: dict[tuple, int] = {}
    places: dict[int, set] = {}
    for resident, place, channel, address, *_ in definition:
        holders[channel, address] = holders.get((channel, address), 0) + 1
        places.setdefault(resident, set()).add(place)
    each: dict[int, tuple] = {}
    for resident, _place, channel, address, groups, point in definition:
        if len(places[resident]) > 1 or holders[channel, address] > 1:
            each[resident] = None
        elif each.get(resident, ()) is not None:
            x, y = (float(v) for v in point.removeprefix("POINT(").removesuffix(")").split())
            square = (math.floor(x / 500), math.floor(y / 500), groups)
            channels = (*each[resident][3], channel) if resident in each else (channel,)
            each[resident] = (*square, tuple(sorted(channels)))
    return sorted(each.items())


def counted_ahead(definition: list[tuple]) -> list[tuple]:
    counts: dict[tuple, int] = {}
    for _resident, key in counted_ahead_by_resident(definition):
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    return sorted((*key, n) for key, n in counts.items())


def in_step() -> None:
    db.session.commit()
    definition = rows(DEFINITION)
    assert rows(TABLE) == definition
    assert rows(SQUARES) == counted_ahead(definition)
    simple = {row[0] for row in counted_ahead_by_resident(definition) if row[1] is not None}
    flagged = rows("SELECT DISTINCT resident_id, simple FROM targets")
    assert flagged == sorted((resident, resident in simple) for resident, _ in flagged)


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


RANDOM = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
GROUPS = st.lists(st.sampled_from(["farm-watch", "business-watch", "no-such"]), max_size=2)
CHANNELS = st.lists(st.sampled_from(["sms", "voice", "email"]), max_size=2)


@settings(RANDOM, max_examples=20)
@given(
    east=st.floats(-0.03, 0.03),
    north=st.floats(-0.02, 0.02),
    radius=st.integers(100, 4000),
    polygon=st.booleans(),
    groups=GROUPS,
    channels=CHANNELS,
)
def test_the_preview_counts_exactly_whom_the_send_reaches_over_random_areas(
    app, officer_client, town, east, north, radius, polygon, groups, channels
):
    app.config["DENSITY_MIN_COUNT"] = 0
    shape = _shape(east, north, radius, polygon)
    try:
        preview = officer_client.post(
            "/officers/preview", json={"shapes": [shape], "groups": groups, "channels": channels}
        )
        assert preview.status_code in (200, 400), preview.text
        area = area_from_shapes([shape]).wkb
        expected = _reference_counts(area, groups, channels)
        audience = Audience(
            force_id=default_force_id(),
            area_wkb=area,
            groups=tuple(groups),
            channels=tuple(channels),
        )
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


def test_reordering_the_targets_keeps_every_row_and_repairs_the_squares(app, town):
    before = rows(TABLE)
    squares = rows(SQUARES)
    db.session.execute(text("UPDATE target_squares SET n = n + 3"))  # gone wrong somehow
    db.session.execute(text("UPDATE targets SET simple = NOT simple WHERE id % 2 = 0"))
    db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["residents", "reorder-targets"])
    assert result.exit_code == 0, result.output
    assert "Targets reordered in" in result.output
    db.session.expire_all()
    assert rows(TABLE) == before
    assert rows(SQUARES) == squares != []
    in_step()
    # The squares are rewritten in the order of their key (a run of squares on few pages).
    in_order = db.session.scalar(
        text(
            "SELECT array_agg(ARRAY[force_id, j, i] ORDER BY ctid)"
            " = array_agg(ARRAY[force_id, j, i] ORDER BY force_id, j, i, group_ids, channels)"
            " FROM target_squares"
        )
    )
    assert in_order is True
    fillfactor = db.session.scalar(
        text("SELECT reloptions FROM pg_class WHERE relname = 'target_squares'")
    )
    assert fillfactor == ["fillfactor=80"]  # room for the counts to change in place


@pytest.fixture
def crowd(make_resident, town):
    """About 150 residents on the postcodes within 3 km of BS1 6AD, on every mix of
    channels and groups; some share a number with another, some have a second place."""
    postcodes = db.session.scalars(
        text(
            "SELECT postcode FROM postcodes WHERE terminated_on IS NULL AND ST_DWithin("
            "location, (SELECT location FROM postcodes WHERE postcode = 'BS16AD'), 3000)"
            " ORDER BY md5(postcode) LIMIT 150"
        )
    ).all()
    groups = [(), ("farm-watch",), ("business-watch",), ("farm-watch", "business-watch")]
    for n, postcode in enumerate(postcodes):
        make_resident(
            postcode=postcode,
            sms=f"+4477009{n % 131:05d}" if n % 5 else None,  # the last few share one
            voice=f"+4411749{n:05d}" if n % 3 == 0 else None,
            email=f"c{n}@example.invalid" if n % 2 or n % 5 == 0 else None,
            groups=groups[n % 4],
        )
    db.session.execute(
        text(
            "INSERT INTO resident_locations (resident_id, label, postcode, location)"
            " SELECT r.id, 'Farm', 'BS81TH', (SELECT location FROM postcodes"
            " WHERE postcode = 'BS81TH') FROM residents r WHERE r.id % 9 = 0"
        )
    )
    db.session.commit()
    assert len(postcodes) >= 100


def _shape(east: float, north: float, radius: int, polygon: bool) -> dict:
    lon, lat = BS1_6AD[0] + east, BS1_6AD[1] + north
    if not polygon:
        return {"kind": "circle", "center": [lon, lat], "radius_m": radius}
    d = radius / 70_000
    ring = [
        [lon - d, lat - d / 2],
        [lon + d, lat - d],
        [lon + d * 1.2, lat + d],
        [lon, lat + d * 0.8],
        [lon - d, lat],
        [lon - d, lat - d / 2],
    ]
    return {"kind": "polygon", "coordinates": [ring]}


def _one_by_one(audience: Audience, cell_m: int) -> AreaPreview:
    return targeting_dao.preview_area_one_by_one(db.session, audience, cell_m=cell_m, min_count=0)


def _sorted(preview: AreaPreview) -> AreaPreview:
    return dataclasses.replace(preview, cells=sorted(preview.cells))


@settings(RANDOM, max_examples=40)
@given(
    east=st.floats(-0.02, 0.02),
    north=st.floats(-0.015, 0.015),
    radius=st.integers(200, 5000),
    polygon=st.booleans(),
    groups=GROUPS,
    channels=CHANNELS,
    cell_m=st.sampled_from([500, 1000]),
)
def test_counting_ahead_previews_what_counting_one_by_one_does(
    crowd, east, north, radius, polygon, groups, channels, cell_m
):
    area = area_from_shapes([_shape(east, north, radius, polygon)]).wkb
    audience = Audience(
        force_id=default_force_id(), area_wkb=area, groups=tuple(groups), channels=tuple(channels)
    )
    fast = preview_area(db.session, audience, cell_m=cell_m, min_count=0)
    assert _sorted(fast) == _sorted(_one_by_one(audience, cell_m))
    assert fast.residents == _reference_counts(area, groups, channels)["residents"]


def test_a_large_area_is_mostly_counted_ahead(crowd):
    area = area_from_shapes([_shape(0, 0, 5000, False)]).wkb
    cover = square_cover(area, SQUARE_M, margin=targeting_dao.EDGE_M)
    inside = [(i, j) for i0, i1, j in cover.inside for i in range(i0, i1 + 1)]
    ahead = sum(n for i, j, *_, n in rows(SQUARES) if (i, j) in inside)
    fast = preview_area(
        db.session, Audience(force_id=default_force_id(), area_wkb=area), cell_m=500, min_count=0
    )
    assert 0 < ahead < fast.residents
    # Near the edge, either side, is counted from the squares near the outline.
    ring = Audience(
        force_id=default_force_id(), area_wkb=area_from_shapes([_shape(0, 0, 2000, False)]).wkb
    )
    near_edge = preview_area(db.session, ring, cell_m=500, min_count=0).near_edge
    assert near_edge == _one_by_one(ring, 500).near_edge
    assert near_edge["inside"] > 0 and near_edge["outside"] > 0
    assert _sorted(fast) == _sorted(
        _one_by_one(Audience(force_id=default_force_id(), area_wkb=area), 500)
    )
    # Residents whose place moved, and who share a number, are still counted right.
    db.session.execute(
        text(
            "UPDATE resident_locations SET location = ST_Translate(location, 700, 0)"
            " WHERE resident_id % 4 = 1"
        )
    )
    db.session.execute(
        text(
            "UPDATE resident_channels SET address = '+447700900777'"
            " WHERE resident_id % 6 = 2 AND channel = 'sms'"
        )
    )
    db.session.commit()
    in_step()
    assert _sorted(
        preview_area(
            db.session,
            Audience(force_id=default_force_id(), area_wkb=area),
            cell_m=500,
            min_count=0,
        )
    ) == (_sorted(_one_by_one(Audience(force_id=default_force_id(), area_wkb=area), 500)))


def test_two_residents_taking_one_number_at_once_are_both_counted_one_by_one(town):
    """Each transaction alone would find the number is nobody else's: the second waits
    for the first (an advisory lock on the number's bucket), then sees it."""
    add = text(
        "INSERT INTO resident_channels (resident_id, channel, address, verified_at)"
        " VALUES (:r, 'voice', '+441174960555', now())"
    )
    engine = db.engine
    first = engine.connect()
    first.execute(add, {"r": town[0]})
    second_done = threading.Event()

    def second() -> None:
        with engine.begin() as conn:
            conn.execute(add, {"r": town[2]})
        second_done.set()

    worker = threading.Thread(target=second)
    try:
        worker.start()
        assert not second_done.wait(1.0)  # waiting for the first
        first.commit()
    finally:
        first.close()
        worker.join(10)
    assert second_done.is_set()
    in_step()
    shared = db.session.execute(
        text("SELECT DISTINCT simple FROM targets WHERE address = '+441174960555'")
    ).scalars()
    assert list(shared) == [False]
