"""The public feeds as readers fetch them: Atom in English and Welsh, CAP 1.2 per alert
and as a feed, with ETag and Last-Modified so polling costs a 304 (issue 15)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from app.extensions import db
from app.models import Alert

ATOM = "{http://www.w3.org/2005/Atom}"
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
SCHEMA = etree.XMLSchema(
    etree.parse(str(Path(__file__).resolve().parents[1] / "data" / "schemas" / "CAP-v1.2.xsd"))
)
BS1_6AD = [-2.588230, 51.451967]


def send(client, **payload) -> Alert:
    body = {
        "shapes": [{"kind": "circle", "center": BS1_6AD, "radius_m": 1500}],
        "title": "Burglaries",
        "body": "Lock your doors.",
    } | payload
    response = client.post("/officers/alerts", json=body)
    assert response.status_code == 201, response.json
    return db.session.get(Alert, response.json["alert_id"])


@pytest.fixture
def street(make_resident):
    make_resident(postcode="BS1 6AD", sms="+447700900001")


def test_the_atom_feeds_list_sent_alerts_and_answer_304_when_nothing_changed(
    client, officer_client, street, run_worker
):
    # Public from the moment it starts to go (sending), before the worker has run.
    alert = send(officer_client, title="Car thefts <tonight> & more")
    response = client.get("/alerts/feed/en.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    assert "public" in response.headers["Cache-Control"]
    feed = etree.fromstring(response.data)
    assert feed.tag == f"{ATOM}feed"
    [entry] = feed.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}title") == "Car thefts <tonight> & more"
    link = entry.find(f"{ATOM}link[@rel='alternate']").get("href")
    assert link.endswith(f"/alerts/{alert.reference}")
    etag = response.headers["ETag"]
    assert response.headers["Last-Modified"]
    again = client.get("/alerts/feed/en.atom", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    welsh = etree.fromstring(client.get("/alerts/feed/cy.atom").data)
    assert welsh.get("{http://www.w3.org/XML/1998/namespace}lang", "").startswith("cy")
    assert welsh.findtext(f"{ATOM}title").startswith("Rhybuddion gan Heddlu ")
    assert "Police" not in welsh.findtext(f"{ATOM}title")
    assert welsh.findtext(f"{ATOM}rights").startswith("© Heddlu ")
    [entry] = welsh.findall(f"{ATOM}entry")
    link = entry.find(f"{ATOM}link[@rel='alternate']").get("href")
    assert link.endswith(f"/alerts/{alert.reference}?lang=cy")  # the page in Welsh
    assert client.get("/alerts/feed/fr.atom").status_code == 404
    # Cancelling the alert while it goes changes the feed: the reader's copy is stale.
    officer_client.post(f"/officers/alerts/{alert.id}/cancel", data={"confirm": "yes"})
    db.session.expire_all()
    assert db.session.get(Alert, alert.id).status == "cancelled"
    changed = client.get("/alerts/feed/en.atom", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_the_rss_feeds_carry_the_atom_feeds_alerts_and_answer_304(
    client, officer_client, street, run_worker
):
    """RSS 2.0, for readers and website widgets that take only RSS: the same alerts
    and words as the Atom feed, the same bytes while nothing changes."""
    alert = send(officer_client, title="Car thefts <tonight> & more")
    quiet = send(officer_client, title="Exercise only", mode="exercise")
    response = client.get("/alerts/feed/en.rss")
    assert response.status_code == 200
    assert response.mimetype == "application/rss+xml"
    assert "public" in response.headers["Cache-Control"]
    rss = etree.fromstring(response.data)
    assert rss.tag == "rss" and rss.get("version") == "2.0"
    channel = rss.find("channel")
    assert channel.findtext("language") == "en-GB"
    assert channel.findtext("link").endswith("/alerts?lang=en")
    atom = etree.fromstring(client.get("/alerts/feed/en.atom").data)
    atom_titles = [e.findtext(f"{ATOM}title") for e in atom.iterfind(f"{ATOM}entry")]
    items = channel.findall("item")
    assert [i.findtext("title") for i in items] == atom_titles
    assert "Car thefts <tonight> & more" in atom_titles and len(items) == 2
    item = next(i for i in items if i.findtext("title") == "Car thefts <tonight> & more")
    assert item.findtext("link").endswith(f"/alerts/{alert.reference}")
    assert alert.reference in item.findtext("guid")
    assert item.find("guid").get("isPermaLink") == "false"
    assert "Lock your doors." in item.findtext("description") and item.findtext("pubDate")
    assert item.findtext("category") == "Incident"
    exercise = next(i for i in items if quiet.reference in i.findtext("guid"))
    assert "Exercise" in exercise.findtext("title")
    # Nothing changed: the same bytes and a 304 for the reader's copy.
    again = client.get("/alerts/feed/en.rss")
    assert again.data == response.data
    etag = response.headers["ETag"]
    assert client.get("/alerts/feed/en.rss", headers={"If-None-Match": etag}).status_code == 304
    welsh = etree.fromstring(client.get("/alerts/feed/cy.rss").data).find("channel")
    assert welsh.findtext("language") == "cy"
    assert welsh.findtext("title").startswith("Rhybuddion gan Heddlu ")
    assert welsh.findtext("copyright").startswith("© Heddlu ")  # it was English
    assert "Trwydded Llywodraeth Agored" in welsh.findtext("copyright")
    assert channel.findtext("copyright").endswith("Police. Open Government Licence v3.0.")
    assert welsh.find("item").findtext("link").endswith("?lang=cy")
    assert client.get("/alerts/feed/fr.rss").status_code == 404
    # The alerts page offers it, in its head for browsers and readers, and in words.
    page = client.get("/alerts").text
    assert 'type="application/rss+xml"' in page and 'href="/alerts/feed/en.rss"' in page
    officer_client.post(f"/officers/alerts/{alert.id}/cancel", data={"confirm": "yes"})
    changed = client.get("/alerts/feed/en.rss", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    # A description is read as HTML: what an officer typed is escaped for it, so a
    # reader shows "<tonight>" and runs nothing.
    marked = send(officer_client, title="Marked", body="Doors <b>locked</b> & bolted.\nTonight.")
    rss = etree.fromstring(client.get("/alerts/feed/en.rss").data)
    said = next(
        i.findtext("description")
        for i in rss.iter("item")
        if marked.reference in i.findtext("guid")
    )
    assert "Doors &lt;b&gt;locked&lt;/b&gt; &amp; bolted.<br>" in said and "<b>" not in said


def test_each_alert_has_a_cap_document_that_the_oasis_schema_accepts(
    app, client, officer_client, street, run_worker, monkeypatch
):
    monkeypatch.setitem(app.config, "CAP_EXPIRES_HOURS", 6)
    first = send(officer_client, title="Road closed", category="incident")
    run_worker()
    update = send(
        officer_client,
        title="Road open again",
        body="Found safe.",
        category="all_clear",
        parent_id=first.id,
        audience="parent",
    )
    run_worker()
    for alert, kind in ((first, "Alert"), (update, "Update")):
        response = client.get(f"/alerts/{alert.reference}/cap.xml")
        assert response.status_code == 200
        document = etree.fromstring(response.data)
        SCHEMA.assertValid(document)
        assert document.findtext(f"{CAP}msgType") == kind
        assert document.findtext(f"{CAP}status") == "Actual"
        # A reader shows it as current for CAP_EXPIRES_HOURS after its message.
        sent = datetime.fromisoformat(document.findtext(f"{CAP}sent"))
        expires = datetime.fromisoformat(document.findtext(f"{CAP}info/{CAP}expires"))
        assert expires - sent == timedelta(hours=6)
        area = document.find(f"{CAP}info/{CAP}area")
        assert area.findtext(f"{CAP}areaDesc")
        if alert is update:  # the residents the first reached: its area, as an outline
            assert area.find(f"{CAP}circle") is not None or area.find(f"{CAP}polygon") is not None
            continue
        lat_lon, radius = area.findtext(f"{CAP}circle").split()
        assert [round(float(v), 3) for v in lat_lon.split(",")] == [51.452, -2.588]
        assert float(radius) == pytest.approx(1.5)
    assert first.reference in client.get(f"/alerts/{update.reference}/cap.xml").text
    index = etree.fromstring(client.get("/alerts/feed/cap.atom").data)
    hrefs = [link.get("href") for link in index.iter(f"{ATOM}link")]
    assert any(href.endswith(f"/alerts/{first.reference}/cap.xml") for href in hrefs)


def sent_to_myself(officer_client, **fields):
    return officer_client.post(
        "/officers/alerts/test",
        json={"shapes": [{"kind": "circle", "center": BS1_6AD, "radius_m": 500}], **fields},
    )


def test_exercises_are_exercise_and_tests_have_no_cap(client, officer_client, street, run_worker):
    exercise = send(officer_client, mode="exercise")
    response = sent_to_myself(officer_client, title="Just me", body="Testing.")
    test_alert = db.session.get(Alert, response.json["alert_id"])
    run_worker()
    document = etree.fromstring(client.get(f"/alerts/{exercise.reference}/cap.xml").data)
    SCHEMA.assertValid(document)
    assert document.findtext(f"{CAP}status") == "Exercise"
    assert client.get(f"/alerts/{test_alert.reference}/cap.xml").status_code == 404
    assert "Just me" not in client.get("/alerts/feed/en.atom").text
    # A test to oneself with the exercise box ticked is kept as an exercise: it was
    # published, its draft on the alerts page, in every feed and the CAP feed (an
    # outside check). A test is never public, whatever its mode.
    drill = sent_to_myself(
        officer_client, title="Drill draft", body="Testing the exercise wording.", mode="exercise"
    )
    drill_alert = db.session.get(Alert, drill.json["alert_id"])
    assert (drill_alert.mode, drill_alert.audience) == ("exercise", "self")
    run_worker()
    assert client.get(f"/alerts/{drill_alert.reference}").status_code == 404
    assert client.get(f"/alerts/{drill_alert.reference}/cap.xml").status_code == 404
    for address in (
        "/alerts",
        "/alerts/feed/en.atom",
        "/alerts/feed/cy.rss",
        "/alerts/feed/cap.atom",
    ):
        assert "Drill draft" not in client.get(address).text, address
    assert client.get("/alerts/%3Cx%3E/cap.xml").status_code == 404


def test_a_cap_area_covers_all_the_alert_was_for_and_an_update_keeps_its_circle(
    client, officer_client, street, run_worker, make_resident
):
    """CAP's area is taken as where to warn: it may be larger than who was sent to,
    never smaller. A ward's published outline, simplified, lay 7 m inside a resident
    who had the alert; and an update to the same people of a circle was published as
    an outline of it (an outside check)."""
    from shapely import MultiPolygon, Polygon
    from sqlalchemy import select, text

    from app.models import Place
    from geo.projection import BNG, WGS84, transform_geometry

    central = db.session.scalar(
        select(Place.id).where(Place.kind == "ward", Place.name == "Central")
    )
    shapes = [
        {"kind": "place", "place_id": central},
        {"kind": "circle", "center": BS1_6AD, "radius_m": 300, "exclude": True},
    ]
    make_resident(postcode="BS8 1TH", sms="+447700900002")  # in the ward, outside the hole
    ward = send(officer_client, shapes=shapes)
    document = etree.fromstring(client.get(f"/alerts/{ward.reference}/cap.xml").data)
    SCHEMA.assertValid(document)
    rings = []
    for polygon in document.iter(f"{CAP}polygon"):
        points = [tuple(map(float, pair.split(","))) for pair in polygon.text.split()]
        rings.append(Polygon([(lon, lat) for lat, lon in points]))
    assert rings and document.find(f".//{CAP}circle") is None
    published = transform_geometry(MultiPolygon(rings), WGS84, BNG)
    covered, outside_m = db.session.execute(
        text(
            "SELECT ST_Covers(cap, area), ST_Area(ST_Difference(area, cap))"
            " FROM alerts, ST_GeomFromText(:cap, 27700) AS cap WHERE id = :id"
        ),
        {"cap": published.wkt, "id": ward.id},
    ).one()
    assert covered, f"{outside_m:.0f} m² of the area outside its CAP outline"

    first = send(officer_client, title="Road closed")
    run_worker()
    update = send(officer_client, title="Road open", parent_id=first.id, audience="parent")
    run_worker()
    area = etree.fromstring(client.get(f"/alerts/{update.reference}/cap.xml").data).find(
        f"{CAP}info/{CAP}area"
    )
    assert area.find(f"{CAP}polygon") is None
    assert area.findtext(f"{CAP}circle").endswith(" 1.5")
