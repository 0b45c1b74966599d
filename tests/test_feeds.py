"""The public feeds' documents (app/services/feeds.py): every CAP message is checked
against the OASIS CAP 1.2 schema shipped in data/schemas/, and every Atom feed is parsed
and checked for what RFC 4287 requires. Pure: no database, no app."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from shapely import Point, Polygon

from app.services import feeds
from app.services.feeds import (
    FeedAlert,
    FeedSource,
    atom_feed,
    cap_document,
    cap_feed,
    etag_for,
    last_modified,
)
from geo.areas import area_from_shapes, clean_shapes
from geo.projection import BNG, WGS84, transform_geometry, wgs84_to_bng

ROOT = Path(__file__).resolve().parents[1]
CAP_SCHEMA = etree.XMLSchema(etree.parse(str(ROOT / "data" / "schemas" / "CAP-v1.2.xsd")))
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
PARSER = etree.XMLParser(resolve_entities=False, no_network=True)

FORCE = FeedSource(
    name="Avon and Somerset Police",
    sender="alerts@avonandsomerset.police.uk",
    base_url="https://alerts.avonandsomerset.police.uk",
    contact="Call 101, or 999 in an emergency",
    web="https://www.avonandsomerset.police.uk",
    attribution="© Avon and Somerset Police. Contains OS data © Crown copyright 2025",
    name_cy="Heddlu Avon a Gwlad yr Haf",
)
SENT = datetime(2025, 6, 3, 14, 5, 9, 123456, tzinfo=UTC)
CIRCLE = {"kind": "circle", "center": [-2.5971, 51.4405], "radius_m": 1500}
# Bedminster-ish, drawn anticlockwise, left open as Leaflet sometimes sends it.
POLYGON = {
    "kind": "polygon",
    "coordinates": [[[-2.61, 51.43], [-2.58, 51.43], [-2.58, 51.45], [-2.61, 51.45]]],
}
RECTANGLE = {
    "kind": "rectangle",
    "coordinates": [
        [[-2.62, 51.44], [-2.60, 51.44], [-2.60, 51.46], [-2.62, 51.46], [-2.62, 51.44]]
    ],
}
PLACE_RING = ((-2.60, 51.43), (-2.57, 51.43), (-2.57, 51.445), (-2.60, 51.445), (-2.60, 51.43))


def make_alert(**changes) -> FeedAlert:
    values = dict(
        reference="A7K2-9QF",
        title="Burglaries in Bedminster",
        body="Several homes were broken into overnight.\nLock doors and windows.",
        category="incident",
        category_label="Incident",
        mode="live",
        state="sent",
        sent_at=SENT,
        updated_at=SENT,
        parent=None,
        shapes=(CIRCLE,),
        area_polygons=(),
        area_names=("Bedminster", "Southville"),
        url="https://alerts.avonandsomerset.police.uk/alerts/A7K2-9QF",
        language="en",
    )
    values.update(changes)
    return FeedAlert(**values)


def cancelled(alert: FeedAlert, after: timedelta = timedelta(minutes=20)) -> FeedAlert:
    return dataclasses.replace(alert, state="cancelled", updated_at=alert.sent_at + after)


def valid_cap(alert: FeedAlert) -> etree._Element:
    """The alert's CAP document, parsed, after checking it against the OASIS schema."""
    document = cap_document(alert, FORCE)
    assert document.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(document, PARSER)
    if not CAP_SCHEMA.validate(root):
        raise AssertionError(f"CAP invalid: {CAP_SCHEMA.error_log}\n{document.decode()}")
    return root


def text(element: etree._Element, path: str) -> str | None:
    return element.findtext(path.replace("cap:", CAP))


def infos(root: etree._Element) -> list[etree._Element]:
    return root.findall(f"{CAP}info")


def pairs(polygon: str) -> list[tuple[float, float]]:
    """A CAP polygon's (lat, lon) pairs as numbers."""
    return [tuple(float(v) for v in pair.split(",")) for pair in polygon.split()]


# --- CAP: the message ------------------------------------------------------------------


def test_a_live_alert_is_an_actual_public_alert_message():
    root = valid_cap(make_alert())
    assert text(root, "cap:identifier") == "alerts@avonandsomerset.police.uk/A7K2-9QF"
    assert text(root, "cap:sender") == "alerts@avonandsomerset.police.uk"
    # UTC as CAP writes it ("-00:00"), whole seconds.
    assert text(root, "cap:sent") == "2025-06-03T14:05:09-00:00"
    assert text(root, "cap:status") == "Actual"
    assert text(root, "cap:msgType") == "Alert"
    assert text(root, "cap:scope") == "Public"
    assert root.find(f"{CAP}references") is None
    assert root.find(f"{CAP}note") is None
    assert text(root, "cap:incidents") == "A7K2-9QF"
    [info] = infos(root)
    assert text(info, "cap:language") == "en-GB"
    assert text(info, "cap:category") == "Security"
    assert text(info, "cap:event") == "Incident"
    assert (text(info, "cap:urgency"), text(info, "cap:severity")) == ("Immediate", "Moderate")
    assert text(info, "cap:certainty") == "Observed"
    # A reader shows it as current for a day, not for ever (it had no <expires>).
    assert text(info, "cap:expires") == "2025-06-04T14:05:09-00:00"
    assert text(info, "cap:senderName") == "Avon and Somerset Police"
    assert text(info, "cap:headline") == "Burglaries in Bedminster"
    description = text(info, "cap:description")
    assert description.startswith("Several homes were broken into overnight.\nLock doors")
    assert description.endswith("Reference: A7K2-9QF")
    assert text(info, "cap:web") == "https://alerts.avonandsomerset.police.uk/alerts/A7K2-9QF"
    assert text(info, "cap:contact") == "Call 101, or 999 in an emergency"
    assert text(info, "cap:parameter/cap:value") == "A7K2-9QF"
    assert text(info, "cap:area/cap:areaDesc") == "Bedminster, Southville"


def test_the_same_alert_always_gives_the_same_bytes():
    # The ETag is a strong validator only if the bytes depend on the alert alone.
    assert cap_document(make_alert(), FORCE) == cap_document(make_alert(), FORCE)
    assert atom_feed([make_alert()], FORCE, "en") == atom_feed([make_alert()], FORCE, "en")


def test_an_exercise_says_so_in_status_note_and_headline():
    root = valid_cap(make_alert(mode="exercise"))
    assert text(root, "cap:status") == "Exercise"
    assert "A7K2-9QF" in text(root, "cap:note")  # CAP: the exercise identifier in <note>
    assert text(root, "cap:info/cap:headline") == "Exercise: Burglaries in Bedminster"
    description = text(root, "cap:info/cap:description")
    assert description.startswith("This was an exercise, not a real alert.")


@pytest.mark.parametrize(
    ("original_category", "cap_category"),
    [("incident", "Security"), ("missing_person", "Safety"), ("appeal", "Security")],
)
def test_an_update_references_the_original_and_keeps_its_category(original_category, cap_category):
    original = make_alert(category=original_category, category_label="x")
    update = make_alert(
        reference="B3DF-77XQ",
        title="Update: arrest made",
        category="update",
        category_label="Update",
        parent=original,
        sent_at=SENT + timedelta(hours=2),
        updated_at=SENT + timedelta(hours=2),
    )
    root = valid_cap(update)
    assert text(root, "cap:msgType") == "Update"
    assert text(root, "cap:identifier") == "alerts@avonandsomerset.police.uk/B3DF-77XQ"
    assert text(root, "cap:sent") == "2025-06-03T16:05:09-00:00"
    assert text(root, "cap:references") == (
        "alerts@avonandsomerset.police.uk,alerts@avonandsomerset.police.uk/A7K2-9QF,"
        "2025-06-03T14:05:09-00:00"
    )
    # The reference names exactly the original's identifier and sent.
    original_root = valid_cap(original)
    sender, identifier, sent = text(root, "cap:references").split(",")
    assert (sender, identifier, sent) == (
        text(original_root, "cap:sender"),
        text(original_root, "cap:identifier"),
        text(original_root, "cap:sent"),
    )
    assert text(root, "cap:incidents") == "A7K2-9QF"
    assert text(root, "cap:info/cap:category") == cap_category
    assert text(root, "cap:info/cap:urgency") == text(original_root, "cap:info/cap:urgency")


def test_an_all_clear_is_an_update_with_response_all_clear_and_urgency_past():
    original = make_alert(category="missing_person", category_label="Missing person")
    all_clear = make_alert(
        reference="C9PL-2MMW",
        category="all_clear",
        category_label="All clear",
        title="Found safe",
        parent=original,
    )
    root = valid_cap(all_clear)
    assert text(root, "cap:msgType") == "Update"
    [info] = infos(root)
    assert text(info, "cap:category") == "Safety"
    assert text(info, "cap:responseType") == "AllClear"
    assert (text(info, "cap:urgency"), text(info, "cap:severity")) == ("Past", "Minor")
    assert text(info, "cap:event") == "All clear"
    # Without an original to follow it is still Safety.
    alone = valid_cap(dataclasses.replace(all_clear, parent=None))
    assert text(alone, "cap:msgType") == "Alert"
    assert text(alone, "cap:info/cap:category") == "Safety"


def test_a_follow_up_of_a_follow_up_references_the_whole_thread_oldest_first():
    first = make_alert()
    second = make_alert(reference="B3DF-77XQ", category="update", parent=first)
    third = make_alert(
        reference="C9PL-2MMW",
        category="update",
        parent=second,
        sent_at=SENT + timedelta(hours=1),
        updated_at=SENT + timedelta(hours=1),
    )
    root = valid_cap(third)
    identifiers = [ref.split(",")[1] for ref in text(root, "cap:references").split()]
    assert identifiers == [
        "alerts@avonandsomerset.police.uk/A7K2-9QF",
        "alerts@avonandsomerset.police.uk/B3DF-77XQ",
    ]
    assert text(root, "cap:incidents") == "A7K2-9QF"
    assert text(root, "cap:info/cap:category") == "Security"  # from the incident


def test_a_cancelled_alert_is_a_new_cancel_message_referencing_its_own_original():
    alert = cancelled(make_alert(), after=timedelta(minutes=20, seconds=1, microseconds=5))
    root = valid_cap(alert)
    assert text(root, "cap:msgType") == "Cancel"
    assert text(root, "cap:status") == "Actual"
    # A new message: its own identifier, sent when it was cancelled.
    assert text(root, "cap:identifier") == "alerts@avonandsomerset.police.uk/A7K2-9QF/cancel"
    assert text(root, "cap:sent") == "2025-06-03T14:25:10-00:00"
    assert text(root, "cap:references") == (
        "alerts@avonandsomerset.police.uk,alerts@avonandsomerset.police.uk/A7K2-9QF,"
        "2025-06-03T14:05:09-00:00"
    )
    assert "cancelled" in text(root, "cap:note")
    [info] = infos(root)
    assert text(info, "cap:urgency") == "Past"
    assert text(info, "cap:expires") == "2025-06-04T14:25:10-00:00"  # a day after the Cancel
    assert text(info, "cap:headline") == "Cancelled: Burglaries in Bedminster"
    assert text(info, "cap:description").startswith("This alert has been cancelled.")


def test_cancelling_an_update_never_cancels_the_thread_original():
    original = make_alert()
    update = cancelled(make_alert(reference="B3DF-77XQ", category="update", parent=original))
    root = valid_cap(update)
    assert text(root, "cap:msgType") == "Cancel"
    references = text(root, "cap:references").split()
    assert references == [
        "alerts@avonandsomerset.police.uk,alerts@avonandsomerset.police.uk/B3DF-77XQ,"
        "2025-06-03T14:05:09-00:00"
    ]
    assert text(root, "cap:incidents") == "A7K2-9QF"


def test_an_exercise_cancel_is_still_an_exercise():
    root = valid_cap(cancelled(make_alert(mode="exercise")))
    assert (text(root, "cap:status"), text(root, "cap:msgType")) == ("Exercise", "Cancel")
    assert text(root, "cap:info/cap:headline") == "Cancelled: Exercise: Burglaries in Bedminster"


def test_a_reference_with_characters_cap_forbids_is_encoded_in_the_identifier():
    root = valid_cap(make_alert(reference="A7 K2,<&"))
    identifier = text(root, "cap:identifier")
    assert identifier == "alerts@avonandsomerset.police.uk/A7%20K2%2C%3C%26"
    assert not set(" ,<&") & set(identifier)
    assert " " not in text(root, "cap:incidents")


# --- CAP: the area ---------------------------------------------------------------------


def test_a_circle_is_lat_lon_and_radius_in_km():
    root = valid_cap(make_alert(shapes=tuple(clean_shapes([CIRCLE]))))
    area = root.find(f"{CAP}info/{CAP}area")
    assert area.find(f"{CAP}polygon") is None
    [circle] = [c.text for c in area.findall(f"{CAP}circle")]
    centre, radius = circle.split(" ")
    lat, lon = (float(v) for v in centre.split(","))
    assert (lat, lon) == (51.4405, -2.5971)  # latitude first, unlike GeoJSON
    assert float(radius) == 1.5


@pytest.mark.parametrize(("radius_m", "radius_km"), [(100, 0.1), (250, 0.25), (20000, 20.0)])
def test_circle_radius_is_converted_from_metres(radius_m, radius_km):
    shape = {**CIRCLE, "radius_m": radius_m}
    root = valid_cap(make_alert(shapes=(shape,)))
    circle = text(root, "cap:info/cap:area/cap:circle")
    assert float(circle.split(" ")[1]) == radius_km


def test_a_polygon_is_latitude_then_longitude_and_closed():
    root = valid_cap(make_alert(shapes=(POLYGON,)))
    area = root.find(f"{CAP}info/{CAP}area")
    assert area.find(f"{CAP}circle") is None
    [polygon] = [p.text for p in area.findall(f"{CAP}polygon")]
    points = pairs(polygon)
    drawn = POLYGON["coordinates"][0]
    # Each pair is the drawn [lon, lat] swapped, number for number; then closed.
    assert points[:-1] == [(lat, lon) for lon, lat in drawn]
    assert points[-1] == points[0]
    assert len(points) == len(drawn) + 1 >= 4
    assert all(50 < lat < 60 and -3 < lon < -2 for lat, lon in points)


def test_a_rectangle_is_a_polygon_already_closed_not_closed_twice():
    root = valid_cap(make_alert(shapes=(RECTANGLE,)))
    [polygon] = [p.text for p in root.iter(f"{CAP}polygon")]
    assert pairs(polygon) == [(lat, lon) for lon, lat in RECTANGLE["coordinates"][0]]


def test_circles_and_polygons_together_each_appear():
    root = valid_cap(make_alert(shapes=(CIRCLE, POLYGON, RECTANGLE)))
    area = root.find(f"{CAP}info/{CAP}area")
    assert len(area.findall(f"{CAP}polygon")) == 2
    assert len(area.findall(f"{CAP}circle")) == 1


def test_a_place_only_area_is_the_resolved_boundary():
    # The place's boundary as the database holds it, in BNG.
    boundary = transform_geometry(Polygon(PLACE_RING), WGS84, BNG)
    place = {"kind": "place", "place_id": 7, "name": "Bedminster"}
    area = area_from_shapes([place], place_boundary=lambda place_id: boundary)
    rings = tuple(
        tuple(polygon.exterior.coords) for polygon in transform_geometry(area, BNG, WGS84).geoms
    )
    alert = make_alert(shapes=tuple(clean_shapes([place])), area_polygons=rings)
    root = valid_cap(alert)
    area_element = root.find(f"{CAP}info/{CAP}area")
    assert area_element.findtext(f"{CAP}areaDesc") == "Bedminster, Southville"
    assert area_element.find(f"{CAP}circle") is None
    [polygon] = [p.text for p in area_element.findall(f"{CAP}polygon")]
    points = pairs(polygon)
    assert len(points) == len(rings[0])
    for (lat, lon), (ring_lon, ring_lat) in zip(points, rings[0], strict=True):
        assert lat == pytest.approx(ring_lat, abs=1e-6)
        assert lon == pytest.approx(ring_lon, abs=1e-6)


def test_an_area_with_an_exclusion_or_a_place_uses_the_resolved_area():
    eastings, northings = wgs84_to_bng([-2.5971], [51.4405])
    circle = Point(float(eastings[0]), float(northings[0])).buffer(1500)
    resolved = (tuple(transform_geometry(circle, BNG, WGS84).exterior.coords),)
    for shapes in (
        (CIRCLE, {**RECTANGLE, "exclude": True}),
        (CIRCLE, {"kind": "place", "place_id": 3}),
        (CIRCLE, {"kind": "hexagon"}),  # a kind we do not know yet
    ):
        root = valid_cap(make_alert(shapes=shapes, area_polygons=resolved))
        area = root.find(f"{CAP}info/{CAP}area")
        assert area.find(f"{CAP}circle") is None, shapes
        [polygon] = [p.text for p in area.findall(f"{CAP}polygon")]
        assert len(pairs(polygon)) == len(resolved[0])


def test_without_a_resolved_area_the_included_shapes_are_kept():
    shapes = (CIRCLE, {"kind": "place", "place_id": 3}, {**POLYGON, "exclude": True})
    root = valid_cap(make_alert(shapes=shapes, area_polygons=()))
    area = root.find(f"{CAP}info/{CAP}area")
    assert len(area.findall(f"{CAP}circle")) == 1
    assert area.find(f"{CAP}polygon") is None  # the excluded polygon is not an area


def test_an_area_without_names_or_shapes_still_describes_itself():
    root = valid_cap(make_alert(shapes=(), area_names=()))
    area = root.find(f"{CAP}info/{CAP}area")
    assert area.findtext(f"{CAP}areaDesc") == "The area shown on the alert's page"
    assert area.find(f"{CAP}polygon") is None and area.find(f"{CAP}circle") is None


@pytest.mark.parametrize(
    "ring",
    [
        [[-2.6, 51.4], [-2.5, 51.4]],  # two corners
        [[-2.6, 51.4], [-2.5, 51.4], [-2.6, 51.4]],  # two distinct corners
        [[-2.6, 51.4], ["x", 51.4], [-2.5, 51.5]],  # not a number
        [[-2.6, 51.4], [float("nan"), 51.4], [-2.5, 51.5]],
        [[-2.6, 51.4], [True, 51.4], [-2.5, 51.5]],
    ],
)
def test_a_ring_cap_cannot_use_is_left_out_not_published_broken(ring):
    assert feeds.cap_polygon(ring) is None
    root = valid_cap(make_alert(shapes=({"kind": "polygon", "coordinates": [ring]},)))
    assert root.find(f".//{CAP}polygon") is None


def test_coordinates_are_plain_decimals_never_exponents():
    assert feeds.cap_polygon([[0.00001, 51.5], [0.1, 51.5], [0.1, 51.6]]) == (
        "51.5,0.00001 51.5,0.1 51.6,0.1 51.5,0.00001"
    )
    assert feeds.cap_circle({"center": [-0.0000001, 51.5], "radius_m": 100}) == "51.5,0 0.1"


# --- CAP: languages --------------------------------------------------------------------


def test_a_bilingual_alert_has_english_then_welsh_info():
    alert = make_alert(
        title_cy="Lladradau yn Bedminster",
        body_cy="Mae sawl cartref wedi'u torri i mewn iddynt.",
    )
    root = valid_cap(alert)
    english, welsh = infos(root)
    assert text(english, "cap:language") == "en-GB"
    assert text(welsh, "cap:language") == "cy"
    assert text(welsh, "cap:headline") == "Lladradau yn Bedminster"
    assert text(welsh, "cap:description").startswith("Mae sawl cartref")
    assert text(welsh, "cap:description").endswith("Cyfeirnod: A7K2-9QF")
    assert text(welsh, "cap:event") == "Digwyddiad"
    assert text(welsh, "cap:senderName") == "Heddlu Avon a Gwlad yr Haf"
    # The same message in both: category, figures and area.
    for path in ("cap:category", "cap:urgency", "cap:area/cap:circle"):
        assert text(english, path) == text(welsh, path), path
    # The same page, in each block's language.
    assert text(welsh, "cap:web") == text(english, "cap:web") + "?lang=cy"


def test_an_alert_written_only_in_welsh_has_one_welsh_info():
    alert = make_alert(language="cy", title="Lladradau", body="Clowch eich drysau.")
    [info] = infos(valid_cap(alert))
    assert text(info, "cap:language") == "cy"
    assert text(info, "cap:headline") == "Lladradau"


def test_welsh_title_alone_falls_back_to_the_english_body():
    [_, welsh] = infos(valid_cap(make_alert(title_cy="Lladradau")))
    assert text(welsh, "cap:headline") == "Lladradau"
    assert text(welsh, "cap:description").startswith("Several homes")


# --- hostile text ----------------------------------------------------------------------

HOSTILE = (
    "Burglary <script>alert(1)</script> & ]]> "
    "\x00\x01\x08\x0b\x0c\x1b\x7f\x85 \ufffe\uffff\ud800 end"
)


def test_hostile_text_gives_a_valid_document_with_the_text_kept():
    alert = make_alert(
        title=HOSTILE,
        body=f"Line one\r\nLine two {HOSTILE}",
        title_cy=HOSTILE,
        area_names=("Bedminster <b>&", "\x00"),
    )
    root = valid_cap(alert)
    expected = "Burglary <script>alert(1)</script> & ]]> end"
    assert text(root, "cap:info/cap:headline") == expected
    assert text(root, "cap:info/cap:description").startswith("Line one\nLine two Burglary <script>")
    assert text(root, "cap:info/cap:area/cap:areaDesc") == "Bedminster <b>&"
    assert b"<script>" not in cap_document(alert, FORCE)  # escaped, not markup
    for language in ("en", "cy"):
        feed = etree.fromstring(atom_feed([alert], FORCE, language), PARSER)
        assert feed.findtext(f"{ATOM}entry/{ATOM}title") == expected
    entry = etree.fromstring(cap_feed([alert], FORCE), PARSER).find(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == expected


def test_a_title_of_nothing_but_control_characters_becomes_the_category_name():
    alert = make_alert(
        title="\x00\x01 \x1b", category="missing_person", category_label="Missing person"
    )
    assert text(valid_cap(alert), "cap:info/cap:headline") == "Missing person"
    feed = etree.fromstring(atom_feed([alert], FORCE, "en"), PARSER)
    assert feed.findtext(f"{ATOM}entry/{ATOM}title") == "Missing person"


def test_an_alert_with_no_category_name_is_still_titled():
    alert = make_alert(title="", category="", category_label="\x00")
    assert text(valid_cap(alert), "cap:info/cap:event") == "Alert"
    welsh = dataclasses.replace(alert, language="cy")
    feed = etree.fromstring(atom_feed([alert, welsh], FORCE, "cy"), PARSER)
    titles = [entry.findtext(f"{ATOM}title") for entry in feed.iter(f"{ATOM}entry")]
    assert titles == ["Alert", "Rhybudd"]  # the English one in English, marked so


HOSTILE_CHARACTERS = st.one_of(
    st.characters(exclude_categories=()),  # any code point, lone surrogates included
    st.sampled_from(list("\x00\x01\x08\x0b\x0c\x1b\x7f\x85\ufffe\uffff\r\n\t<>&]'\"")),
)
HOSTILE_TEXT = st.text(alphabet=HOSTILE_CHARACTERS, max_size=80)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=HOSTILE_TEXT,
    body=st.text(alphabet=HOSTILE_CHARACTERS, max_size=400),
    title_cy=st.none() | HOSTILE_TEXT,
    body_cy=st.none() | HOSTILE_TEXT,
    names=st.lists(HOSTILE_TEXT, max_size=3),
    reference=HOSTILE_TEXT,
    mode=st.sampled_from(["live", "exercise"]),
    state=st.sampled_from(["sent", "cancelled"]),
    language=st.sampled_from(["en", "cy"]),
)
def test_any_text_gives_schema_valid_cap_and_parseable_atom(
    title, body, title_cy, body_cy, names, reference, mode, state, language
):
    original = make_alert(title=title[::-1], reference=reference + "0")
    alert = make_alert(
        title=title,
        body=body,
        title_cy=title_cy,
        body_cy=body_cy,
        area_names=tuple(names),
        reference=reference,
        mode=mode,
        state=state,
        updated_at=SENT + timedelta(minutes=5 * (state == "cancelled")),
        language=language,
        category="update",
        parent=original,
    )
    valid_cap(alert)
    for feed_language in ("en", "cy"):
        feed = etree.fromstring(atom_feed([original, alert], FORCE, feed_language), PARSER)
        assert len(feed.findall(f"{ATOM}entry")) == 2
        assert all(entry.findtext(f"{ATOM}title") for entry in feed.iter(f"{ATOM}entry"))
    caps = etree.fromstring(cap_feed([alert, original], FORCE), PARSER)
    assert len(caps.findall(f"{ATOM}entry")) == 2


# --- Atom ------------------------------------------------------------------------------


def parse_atom(document: bytes) -> etree._Element:
    root = etree.fromstring(document, PARSER)
    assert root.tag == f"{ATOM}feed"
    return root


def links(element: etree._Element) -> list[dict[str, str]]:
    return [dict(link.attrib) for link in element.findall(f"{ATOM}link")]


def assert_rfc4287(feed: etree._Element) -> None:
    """What RFC 4287 section 4.1 requires of a feed and its entries."""
    for name in ("id", "title", "updated"):
        assert len(feed.findall(f"{ATOM}{name}")) == 1, name
        assert feed.findtext(f"{ATOM}{name}").strip(), name
    assert feed.find(f"{ATOM}author/{ATOM}name") is not None  # no author per entry
    datetime.fromisoformat(feed.findtext(f"{ATOM}updated"))
    ids = []
    for entry in feed.findall(f"{ATOM}entry"):
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, name
            assert entry.findtext(f"{ATOM}{name}").strip(), name
        assert datetime.fromisoformat(entry.findtext(f"{ATOM}updated")).tzinfo is not None
        alternates = [
            (link.get("type"), link.get("hreflang"))
            for link in entry.findall(f"{ATOM}link")
            if link.get("rel", "alternate") == "alternate"
        ]
        # At least one alternate (there is no out-of-line content) and never two alike.
        assert alternates and len(alternates) == len(set(alternates)), alternates
        ids.append(entry.findtext(f"{ATOM}id"))
    assert len(ids) == len(set(ids))


def thread() -> list[FeedAlert]:
    original = make_alert(category="missing_person", category_label="Missing person")
    all_clear = make_alert(
        reference="C9PL-2MMW",
        title="Found safe",
        body="Thank you for your help.",
        category="all_clear",
        category_label="All clear",
        parent=original,
        sent_at=SENT + timedelta(hours=3),
        updated_at=SENT + timedelta(hours=3),
        url="https://alerts.avonandsomerset.police.uk/alerts/C9PL-2MMW",
        title_cy="Wedi'i ddarganfod yn ddiogel",
        body_cy="Diolch am eich help.",
    )
    return [all_clear, original]


def test_the_english_atom_feed_has_what_rfc_4287_requires():
    feed = parse_atom(atom_feed(thread(), FORCE, "en"))
    assert_rfc4287(feed)
    assert feed.get(XML_LANG) == "en-GB"
    assert (
        feed.findtext(f"{ATOM}id") == "https://alerts.avonandsomerset.police.uk/alerts/feed/en.atom"
    )
    assert feed.findtext(f"{ATOM}title") == "Alerts from Avon and Somerset Police"
    assert feed.findtext(f"{ATOM}updated") == "2025-06-03T17:05:09+00:00"  # the newest change
    assert feed.findtext(f"{ATOM}rights").startswith("© Avon and Somerset Police")
    assert {"href": feed.findtext(f"{ATOM}id"), "rel": "self", "type": "application/atom+xml"} in (
        links(feed)
    )
    assert {
        "href": "https://alerts.avonandsomerset.police.uk/alerts?lang=en",
        "rel": "alternate",
        "type": "text/html",
        "hreflang": "en-GB",
    } in links(feed)
    first, second = feed.findall(f"{ATOM}entry")  # in the order given
    assert first.findtext(f"{ATOM}title") == "Found safe"
    assert first.get(XML_LANG) is None  # in the feed's own language
    assert first.findtext(f"{ATOM}id") == (
        "tag:alerts.avonandsomerset.police.uk,2025-06-03:alert:C9PL-2MMW:en"
    )
    assert first.findtext(f"{ATOM}published") == "2025-06-03T17:05:09+00:00"
    assert {
        "href": "https://alerts.avonandsomerset.police.uk/alerts/C9PL-2MMW",
        "rel": "alternate",
        "type": "text/html",
    } in links(first)
    assert {
        "href": "https://alerts.avonandsomerset.police.uk/alerts/C9PL-2MMW/cap.xml",
        "rel": "related",
        "type": "application/cap+xml",
    } in links(first)
    content = first.find(f"{ATOM}content")
    assert content.get("type") == "text"
    assert content.text.startswith("Thank you for your help.")
    assert first.find(f"{ATOM}category").attrib == {"term": "all_clear", "label": "All clear"}
    assert second.find(f"{ATOM}category").get("term") == "missing_person"


def test_the_welsh_feed_uses_welsh_text_and_marks_english_fallbacks():
    feed = parse_atom(atom_feed(thread(), FORCE, "cy"))
    assert_rfc4287(feed)
    assert feed.get(XML_LANG) == "cy"
    assert feed.findtext(f"{ATOM}title") == "Rhybuddion gan Heddlu Avon a Gwlad yr Haf"
    assert feed.findtext(f"{ATOM}id").endswith("/alerts/feed/cy.atom")
    welsh, english = feed.findall(f"{ATOM}entry")
    assert welsh.findtext(f"{ATOM}title") == "Wedi'i ddarganfod yn ddiogel"
    assert welsh.get(XML_LANG) is None
    assert welsh.find(f"{ATOM}category").get("label") == "Popeth yn glir"
    # No Welsh text: the English, in the feed, labelled as English.
    assert english.findtext(f"{ATOM}title") == "Burglaries in Bedminster"
    assert english.get(XML_LANG) == "en-GB"
    assert english.findtext(f"{ATOM}content").endswith("Reference: A7K2-9QF")
    # Its category too (it was labelled in Welsh inside an English entry).
    assert english.find(f"{ATOM}category").get("label") == "Missing person"
    # Entry ids differ from the English feed's: they are different documents.
    english_ids = {
        e.findtext(f"{ATOM}id")
        for e in parse_atom(atom_feed(thread(), FORCE, "en")).iter(f"{ATOM}entry")
    }
    assert not english_ids & {e.findtext(f"{ATOM}id") for e in feed.iter(f"{ATOM}entry")}


def test_the_english_feed_marks_an_alert_written_only_in_welsh():
    alert = make_alert(language="cy", title="Lladradau", body="Clowch eich drysau.")
    [entry] = parse_atom(atom_feed([alert], FORCE, "en")).findall(f"{ATOM}entry")
    assert entry.get(XML_LANG) == "cy"
    assert entry.findtext(f"{ATOM}title") == "Lladradau"


def test_cancelled_and_exercise_alerts_are_marked_in_the_feed():
    alerts = [cancelled(make_alert()), make_alert(reference="E1", mode="exercise")]
    feed = parse_atom(atom_feed(alerts, FORCE, "en"))
    assert_rfc4287(feed)
    cancelled_entry, exercise = feed.findall(f"{ATOM}entry")
    assert cancelled_entry.findtext(f"{ATOM}title") == "Cancelled: Burglaries in Bedminster"
    assert cancelled_entry.findtext(f"{ATOM}updated") == "2025-06-03T14:25:09+00:00"
    assert cancelled_entry.findtext(f"{ATOM}published") == "2025-06-03T14:05:09+00:00"
    assert exercise.findtext(f"{ATOM}title") == "Exercise: Burglaries in Bedminster"
    welsh = parse_atom(atom_feed(alerts, FORCE, "cy")).find(f"{ATOM}entry")
    assert welsh.findtext(f"{ATOM}title") == "Cancelled: Burglaries in Bedminster"  # English text


def test_an_empty_feed_is_valid_and_stable():
    for language in ("en", "cy"):
        document = atom_feed([], FORCE, language)
        feed = parse_atom(document)
        assert_rfc4287(feed)
        assert feed.find(f"{ATOM}entry") is None
        assert document == atom_feed([], FORCE, language)
    assert_rfc4287(parse_atom(cap_feed([], FORCE)))


def test_the_cap_feed_links_each_alert_to_its_latest_cap_message():
    original = make_alert()
    update = make_alert(reference="B3DF-77XQ", category="update", parent=original)
    feed = parse_atom(cap_feed([update, original], FORCE))
    assert_rfc4287(feed)
    assert (
        feed.findtext(f"{ATOM}id")
        == "https://alerts.avonandsomerset.police.uk/alerts/feed/cap.atom"
    )
    first, second = feed.findall(f"{ATOM}entry")
    assert {
        "href": "https://alerts.avonandsomerset.police.uk/alerts/B3DF-77XQ/cap.xml",
        "rel": "alternate",
        "type": "application/cap+xml",
    } in links(first)
    assert first.find(f"{ATOM}category").get("term") == "Security"
    assert first.findtext(f"{ATOM}summary").startswith("Several homes")
    # Cancelling makes a new message, so a new entry id and a later updated.
    after = parse_atom(cap_feed([update, cancelled(original)], FORCE))
    cancelled_entry = after.findall(f"{ATOM}entry")[1]
    assert cancelled_entry.findtext(f"{ATOM}id") != second.findtext(f"{ATOM}id")
    assert cancelled_entry.findtext(f"{ATOM}id").endswith(":cap:A7K2-9QF:cancel")
    assert cancelled_entry.findtext(f"{ATOM}updated") == "2025-06-03T14:25:09+00:00"


# --- refusals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"mode": "test"},
        {"state": "draft"},
        {"sent_at": datetime(2025, 6, 3, 14, 5)},
        {"updated_at": datetime(2025, 6, 3, 14, 5)},
    ],
)
def test_what_must_never_be_published_is_refused(changes):
    alert = make_alert(**changes)
    for build in (
        lambda: cap_document(alert, FORCE),
        lambda: atom_feed([alert], FORCE, "en"),
        lambda: cap_feed([alert], FORCE),
    ):
        with pytest.raises(ValueError, match="A7K2-9QF"):
            build()


def test_feeds_are_english_or_welsh_only():
    with pytest.raises(ValueError, match="English"):
        atom_feed([make_alert()], FORCE, "fr")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sender": "alerts at police"}, "sender"),
        ({"sender": "a,b"}, "sender"),
        ({"sender": ""}, "sender"),
        ({"base_url": "alerts.police.uk"}, "absolute"),
    ],
)
def test_a_force_configured_wrongly_is_told_what_to_fix(changes, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(FORCE, **changes)


# --- conditional GET -------------------------------------------------------------------


def test_the_etag_changes_when_an_alert_is_cancelled_and_only_then():
    alerts = thread()
    etag = etag_for(alerts, "atom", "en")
    assert etag == etag_for(thread(), "atom", "en")  # same alerts, same tag
    assert etag.isalnum() and '"' not in etag  # Werkzeug's set_etag quotes it
    assert etag_for([alerts[0], cancelled(alerts[1])], "atom", "en") != etag
    assert etag_for(alerts, "atom", "cy") != etag  # another document
    assert etag_for(alerts[::-1], "atom", "en") != etag  # another order
    assert etag_for(alerts[:1], "atom", "en") != etag  # an alert fewer
    assert etag_for([], "atom", "en") != etag_for([], "cap")


def test_last_modified_is_the_latest_change_in_whole_seconds():
    alerts = thread()
    assert last_modified(alerts) == datetime(2025, 6, 3, 17, 5, 9, tzinfo=UTC)
    later = cancelled(alerts[1], after=timedelta(hours=5, microseconds=999))
    assert last_modified([alerts[0], later]) == datetime(2025, 6, 3, 19, 5, 9, tzinfo=UTC)
    assert last_modified([]) is None
