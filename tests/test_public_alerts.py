"""Public alert pages, the list, the short reference in every message, and the
"is this message genuine?" check (issue 15)."""

from __future__ import annotations

import base64
import json
import re

import pytest
from sqlalchemy import func, select

from app.dao.public_alerts import find_ward_names
from app.extensions import db
from app.models import Alert, OutboxMessage, Postcode
from app.references import ALPHABET, find_reference, new_reference, read_reference
from app.services.public_alerts import words
from tests.factories import form_token, untied_errors

BS1_6AD = [-2.588230, 51.451967]


def circle(center=BS1_6AD, radius_m=1500):
    return {"kind": "circle", "center": center, "radius_m": radius_m}


def send(client, **payload) -> Alert:
    body = {"shapes": [circle()], "title": "Burglaries", "body": "Lock your doors."} | payload
    response = client.post("/officers/alerts", json=body)
    assert response.status_code == 201, response.json
    return db.session.get(Alert, response.json["alert_id"])


@pytest.fixture
def street(make_resident):
    make_resident(postcode="BS1 6AD", sms="+447700900001", email="a@example.invalid")
    make_resident(postcode="BS1 6AD", sms="+447700900002", voice="+441174960002")


def messages_for(alert: Alert, channel: str) -> list[str]:
    return list(
        db.session.scalars(
            select(OutboxMessage.body).where(
                OutboxMessage.alert_id == alert.id, OutboxMessage.channel == channel
            )
        )
    )


def test_references_are_short_unambiguous_and_read_however_typed():
    reference = new_reference()
    assert re.fullmatch(rf"[{ALPHABET}]{{4}}-[{ALPHABET}]{{3}}", reference)
    assert not set("01IL5S8BO") & set(ALPHABET)
    assert read_reference(reference.lower().replace("-", " ") + ".") == reference
    assert read_reference(f"  {reference[:4]}{reference[5:]} ") == reference
    assert read_reference("A7K2-9QO") is None  # O is never in a reference
    assert read_reference("x" * 100) is None
    assert find_reference(f"Lock your doors.\n- Police. Ref {reference}. Reply STOP") == reference
    # Full-width, as some phones' keyboards type it, and other dashes (an outside probe).
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else "\uff0d" for c in reference)
    assert read_reference(wide) == reference
    assert read_reference(reference.replace("-", "\u2011")) == reference
    assert find_reference(f"Ref {wide} Reply STOP") == reference


def test_every_message_carries_the_reference_and_texts_count_it(
    app, officer_client, street, run_worker
):
    alert = send(officer_client)
    run_worker()
    db.session.expire_all()
    texts = messages_for(alert, "sms")
    assert texts and all(f"Ref {alert.reference}." in text for text in texts)
    [mail] = messages_for(alert, "email")
    assert f"Reference: {alert.reference}" in mail
    assert "/check" in mail
    # The call says each symbol on its own.
    [call] = messages_for(alert, "voice")
    first, second = alert.reference.split("-")
    assert f"The reference for this message is {', '.join(first)}. {', '.join(second)}." in call
    # The officer's preview counts the reference in the text's characters.
    words_ = {"title": "Burglaries", "body": "Lock your doors."}
    with_ref = officer_client.post("/officers/compose", json=words_).json["sms"]
    app.config["TEXTS_CARRY_REFERENCE"] = False
    try:
        without = officer_client.post("/officers/compose", json=words_).json["sms"]
    finally:
        app.config["TEXTS_CARRY_REFERENCE"] = True
    assert with_ref["units"] - without["units"] == len(" Ref XXXX-XXX.")
    assert "Ref" not in without["text"]


def test_a_sent_alert_has_a_public_page_with_its_area_and_nothing_about_residents(
    client, officer_client, street, run_worker
):
    alert = send(
        officer_client, title="Burglaries in Redcliffe", body="Lock doors & windows <now>."
    )
    run_worker()
    page = client.get(f"/alerts/{alert.reference}")
    assert page.status_code == 200
    html = page.text
    assert "Burglaries in Redcliffe" in html
    assert "Lock doors &amp; windows &lt;now&gt;." in html  # escaped, never markup
    assert "Avon and Somerset Police" in html
    assert alert.reference in html
    assert 'id="alert-area"' in html  # the area as drawn, for the map
    # No count of residents unless the force publishes totals, and then never under 100.
    assert "residents</dd>" not in html
    # Found however the reference is typed into the address bar.
    assert client.get(f"/alerts/{alert.reference.lower()}").status_code == 200
    assert alert.reference in client.get("/alerts").text


def test_totals_are_shown_only_when_the_force_chooses_and_never_under_100(
    app, client, officer_client, street, run_worker
):
    alert = send(officer_client)
    run_worker()
    app.config["PUBLIC_TOTALS"] = True
    try:
        assert "residents</dd>" not in client.get(f"/alerts/{alert.reference}").text
        alert.recipient_count = 2140
        db.session.commit()
        assert "2,140 residents</dd>" in client.get(f"/alerts/{alert.reference}").text
    finally:
        app.config["PUBLIC_TOTALS"] = False


def test_test_alerts_drafts_and_unknown_references_are_not_public(
    client, officer_client, street, run_worker
):
    response = officer_client.post(
        "/officers/alerts/test",
        json={"shapes": [circle()], "title": "Only for me", "body": "Lock your doors."},
    )
    assert response.status_code == 201, response.json
    test_alert = db.session.get(Alert, response.json["alert_id"])
    run_worker()
    assert client.get(f"/alerts/{test_alert.reference}").status_code == 404
    assert "Only for me" not in client.get("/alerts").text
    for hostile in ("%3Cscript%3E", "A" * 500, "ZZZZ-ZZZ", "%00"):
        response = client.get(f"/alerts/{hostile}")
        assert response.status_code == 404
        assert "<script>" not in response.text


def test_exercises_are_marked_and_a_cancelled_alert_says_so(
    client, officer_client, street, run_worker
):
    exercise = send(officer_client, mode="exercise", title="Flood drill")
    run_worker()
    assert "EXERCISE" in client.get(f"/alerts/{exercise.reference}").text
    live = send(officer_client, title="Road closed")
    response = officer_client.post(f"/officers/alerts/{live.id}/cancel", data={"confirm": "yes"})
    assert response.status_code in (200, 302)
    db.session.expire_all()
    assert live.status == "cancelled" and live.sent_at is not None  # stopped while sending
    assert "This alert was cancelled" in client.get(f"/alerts/{live.reference}").text
    # The check of a message says so too: "yes, ours" read as a live alert.
    token = form_token(client, "/check")
    for alert, said in ((exercise, "EXERCISE"), (live, "This alert was cancelled")):
        checked = client.post("/check", data={"message": alert.reference, "csrf_token": token})
        assert "that reference is ours" in checked.text and said in checked.text


def test_the_thread_shows_updates_and_the_all_clear(client, officer_client, street, run_worker):
    first = send(officer_client, title="Missing dog", body="Brown spaniel.")
    run_worker()
    update = send(
        officer_client,
        title="Missing dog: found",
        body="Found safe, thank you.",
        category="all_clear",
        parent_id=first.id,
        audience="parent",
    )
    run_worker()
    page = client.get(f"/alerts/{first.reference}").text
    assert update.reference in page and "Missing dog: found" in page
    later = client.get(f"/alerts/{update.reference}").text
    assert "an update to" in later and first.reference in later


def test_a_found_persons_appeal_comes_down_with_its_all_clear_and_any_page_on_asking(
    app, client, officer_client, street, run_worker
):
    """A missing person's name and description stayed on the public page, the feeds and
    CAP for good, after the all-clear, and no member of staff could take it down (an
    outside check)."""
    from sqlalchemy import text

    from app.models import AuditEvent

    appeal = send(officer_client, title="Missing: Sam Jones", body="Sam, 14, wore a red coat.")
    run_worker()
    db.session.execute(
        text("UPDATE alerts SET category = 'missing_person' WHERE id = :id"), {"id": appeal.id}
    )
    db.session.commit()
    update = send(
        officer_client,
        title="Update: Sam Jones",
        body="Last seen by the river.",
        category="update",
        parent_id=appeal.id,
        audience="parent",
    )
    run_worker()
    assert client.get(f"/alerts/{appeal.reference}").status_code == 200
    found = send(
        officer_client,
        title="Found safe",
        body="The boy we asked about is home. Thank you.",
        category="all_clear",
        parent_id=appeal.id,
        audience="parent",
    )
    run_worker()
    from lxml import etree

    from tests.test_public_feeds import SCHEMA

    cap = "{urn:oasis:names:tc:emergency:cap:1.2}"
    for gone in (appeal, update):
        page = client.get(f"/alerts/{gone.reference}")
        assert page.status_code == 410 and "have taken this alert" in page.text
        # Its CAP document is its withdrawal, without its words: a 410 left CAP readers
        # with the original, the boy's name and all (a review).
        document = client.get(f"/alerts/{gone.reference}/cap.xml")
        assert document.status_code == 200
        withdrawal = etree.fromstring(document.data)
        SCHEMA.assertValid(withdrawal)
        assert withdrawal.findtext(f"{cap}msgType") == "Cancel"
        assert withdrawal.findtext(f"{cap}identifier").endswith(f"/{gone.reference}/withdrawn")
        assert f"/{gone.reference}," in withdrawal.findtext(f"{cap}references")
        assert withdrawal.findtext(f"{cap}info/{cap}urgency") == "Past"
        assert withdrawal.findtext(f"{cap}info/{cap}headline").startswith("Withdrawn: ")
        assert withdrawal.find(f"{cap}info/{cap}area/{cap}circle") is None
        area = withdrawal.findtext(f"{cap}info/{cap}area/{cap}areaDesc")
        assert area == "Not given: the alert was withdrawn"  # not "shown on its page"
        assert "Sam" not in document.text and "river" not in document.text
    everywhere = "".join(
        client.get(path).text
        for path in (
            "/alerts",
            "/alerts/feed/en.atom",
            "/alerts/feed/en.rss",
            "/alerts/feed/cap.atom",
        )
    )
    assert "Sam Jones" not in everywhere and "red coat" not in everywhere
    assert "river" not in everywhere
    # The feeds carry its withdrawal, so a reader that kept the appeal replaces it.
    for path in ("/alerts/feed/en.atom", "/alerts/feed/cy.atom", "/alerts/feed/cap.atom"):
        feed = client.get(path).text
        assert appeal.reference in feed and ("Withdrawn: " in feed or "Wedi'i dynnu" in feed)
    assert f":cap:{appeal.reference}:withdrawn</id>" in client.get("/alerts/feed/cap.atom").text
    assert appeal.reference not in client.get("/alerts").text
    # The all-clear stays, without the appeal's name or a link to it.
    stays = client.get(f"/alerts/{found.reference}").text
    assert "an update to an earlier alert" in stays and "Sam Jones" not in stays
    # A resident checking the text they got is still told it was ours.
    token = form_token(client, "/check")
    checked = client.post("/check", data={"message": appeal.reference, "csrf_token": token})
    assert 'class="panel panel-success"' in checked.text
    # ...without its title, nor a link to the page taken down (a re-check).
    assert "Its page has since been taken down." in checked.text
    assert "Sam Jones" not in checked.text and f"/alerts/{appeal.reference}" not in checked.text
    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "alert.taken_down")
    ).all()
    assert event.details == {"pages": 2, "by": "its all-clear"}
    # By no one (as migration 0069 says): its officer sent the all-clear, and ticked
    # nothing (the column named them: an outside check). The event names them.
    assert event.actor_id is not None
    db.session.expire_all()
    assert [db.session.get(Alert, a.id).taken_down_by_id for a in (appeal, update)] == [None, None]
    # Any other alert's page comes down when an officer asks, with a tick first.
    other = send(officer_client, title="Road closed", body="The A38 is shut.")
    run_worker()
    page = officer_client.get(f"/officers/alerts/{other.id}").text
    assert "Take down its public page" in page
    token = form_token(officer_client, f"/officers/alerts/{other.id}")
    untick = officer_client.post(
        f"/officers/alerts/{other.id}/take-down",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert 'id="take-down-error"' in untick.text
    assert client.get(f"/alerts/{other.reference}").status_code == 200
    officer_client.post(
        f"/officers/alerts/{other.id}/take-down", data={"csrf_token": token, "confirm": "yes"}
    )
    assert client.get(f"/alerts/{other.reference}").status_code == 410
    assert (
        "Its public page was taken down on"
        in officer_client.get(f"/officers/alerts/{other.id}").text
    )
    assert (
        db.session.scalar(select(func.count()).where(AuditEvent.action == "alert.taken_down")) == 2
    )
    # An update sent after its original's page came down has none either (it went on
    # the pages, the feeds and CAP: an outside check); an all-clear has one.
    after = send(
        officer_client,
        title="Road still closed",
        body="Until 6 pm.",
        category="update",
        parent_id=other.id,
        audience="parent",
    )
    cleared = send(
        officer_client,
        title="Road open",
        body="The A38 is open.",
        category="all_clear",
        parent_id=other.id,
        audience="parent",
    )
    run_worker()
    assert client.get(f"/alerts/{after.reference}").status_code == 410
    assert client.get(f"/alerts/{cleared.reference}").status_code == 200
    assert "Road still closed" not in client.get("/alerts/feed/en.atom").text
    # Never public, it has no withdrawal in the feeds either (of nothing a reader had:
    # a review), while its original's is there.
    for path in ("/alerts/feed/en.atom", "/alerts/feed/cap.atom", "/alerts/feed/en.rss"):
        feed = client.get(path).text
        assert after.reference not in feed and other.reference in feed, path
    assert (
        "Its public page was taken down on"
        in officer_client.get(f"/officers/alerts/{after.id}").text
    )
    kept_down = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "alert.taken_down", AuditEvent.subject_id == str(after.id)
        )
    ).one()
    assert kept_down.details == {"pages": 1, "by": "its original's take-down"}
    # From a page opened before (a second tab): posted without its tick once the page no
    # longer offers it (taken down, finished, nothing to send again), it says so; the
    # 400 page said nothing (an outside check).
    for action in ("take-down", "cancel", "send-again"):
        stale = officer_client.post(
            f"/officers/alerts/{other.id}/{action}", data={"csrf_token": token}
        )
        assert stale.status_code == 302, action
        said = officer_client.get(f"/officers/alerts/{other.id}").text
        assert "Nothing was done: this is no longer offered" in said, action
    # Deciding so spends no message waiting to be shown (it rendered the page, which
    # took them: a review).
    officer_client.post(
        f"/officers/alerts/{other.id}/take-down", data={"csrf_token": token, "confirm": "yes"}
    )
    officer_client.post(f"/officers/alerts/{other.id}/cancel", data={"csrf_token": token})
    said = officer_client.get(f"/officers/alerts/{other.id}").text
    assert "Its public page was taken down already." in said
    assert "Nothing was done: this is no longer offered" in said
    # An alert with no public page (never sent) has none to take down, and says so (it
    # said "taken down already": a review).
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    later = send(officer_client, title="Later", body="Soon.", send_at=soon)
    token = form_token(officer_client, f"/officers/alerts/{later.id}")
    officer_client.post(
        f"/officers/alerts/{later.id}/take-down", data={"csrf_token": token, "confirm": "yes"}
    )
    assert "no public page to take down" in officer_client.get(f"/officers/alerts/{later.id}").text
    db.session.expire_all()
    assert db.session.get(Alert, later.id).taken_down_at is None


def test_an_event_of_no_actor_about_an_alert_is_in_its_forces_log(
    app_ctx, second_force, make_officer
):
    """The all-clear's take-down of a Wiltshire appeal was filed in the first force's
    log, where its admins could not see it (a review)."""
    from app.models import AuditEvent
    from app.services.alerts.lifecycle import audit

    author = make_officer(email="pc@wilts.example", force_id=second_force.id)
    alert = Alert(
        force_id=second_force.id,
        created_by_id=author.id,
        title="T",
        body="B",
        mode="live",
        shapes=[],
    )
    db.session.add(alert)
    db.session.flush()
    audit(alert, "alert.taken_down", None, {"pages": 1})
    db.session.commit()
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "alert.taken_down")
    ).one()
    assert event.force_id == second_force.id


def test_the_list_filters_by_category_and_by_postcode_or_place(
    client, officer_client, street, run_worker, make_resident, monkeypatch
):
    bristol = send(
        officer_client,
        title="Bristol burglaries",
        category="crime_prevention",
        shapes=[circle(radius_m=200)],
    )
    make_resident(postcode="BS8 1TH", sms="+447700900003")
    clifton = db.session.scalar(
        select(func.ST_AsGeoJSON(Postcode.location_wgs84)).where(Postcode.postcode == "BS81TH")
    )
    taunton = send(
        officer_client,
        title="Clifton appeal",
        category="appeal",
        shapes=[circle(json.loads(clifton)["coordinates"], radius_m=200)],
    )
    run_worker()
    by_category = client.get("/alerts?category=appeal").text
    assert "Clifton appeal" in by_category and "Bristol burglaries" not in by_category
    # The postcode is posted, never put in the page's address (where someone lives
    # would stay in histories and logs: found by an outside probe).
    page = client.get("/alerts").text
    assert '<form method="post" action="/alerts"' in page

    def near_to(area: str, **more):
        token = form_token(client, "/alerts")
        posted = client.post("/alerts", data={"area": area, "csrf_token": token, **more})
        if posted.status_code != 303:
            return posted
        # Answered by a redirect to an address without the area: the back button and
        # a reload do not ask to send the form again.
        assert "area" not in posted.location and "BS1" not in posted.location.upper()
        return client.get(posted.location)

    near = near_to("bs1 6ad").text
    assert "Bristol burglaries" in near and "Clifton appeal" not in near
    assert "area=" not in near and 'value="bs1 6ad"' in near  # the form keeps it
    # The session cookie (signed, not sealed: readable) holds a reference, never the
    # postcode (an outside probe read it there).
    cookie = client.get_cookie("session").value
    held = client.application.session_interface.get_signing_serializer(client.application).loads(
        cookie
    )
    assert "bs1" not in json.dumps(held).lower() and held.get("alerts_area")
    # Nor does Redis, where it is kept for a day: sealed (a dump read it in clear).
    from app.extensions import redis_store

    (kept,) = [redis_store.client.get(key) for key in redis_store.client.scan_iter("alerts-area:*")]
    # Neither as stored (a token, whose letters are random: lower-cased, one in 450
    # read "bs1" or "6ad" by chance, a review) nor decoded; and it is the area's.
    from app.services.tokens import SealedSerializer

    token = kept.decode()
    decoded = base64.urlsafe_b64decode(token[1:] + "=" * (-len(token[1:]) % 4))
    for plain in (b"BS1 6AD", b"BS16AD", b"bs1 6ad"):
        assert plain not in kept and plain not in decoded
    assert "BS1" in json.dumps(SealedSerializer("public-alerts-area").loads(token)).upper()
    # Reloaded (or come back to), the list is still the postcode's.
    again = client.get("/alerts?near=1").text
    assert "Bristol burglaries" in again and "Clifton appeal" not in again
    # Cleared, it is everyone's again.
    everyone = near_to("").text
    assert "Bristol burglaries" in everyone and "Clifton appeal" in everyone
    assert "Clifton appeal" in client.get("/alerts?near=1").text
    # An old link with ?area= still works, and its postcode leaves the address.
    old = client.get("/alerts", query_string={"area": "bs1 6ad"})
    assert old.status_code == 303 and "area" not in old.location
    linked = client.get(old.location).text
    assert "Bristol burglaries" in linked and "Clifton appeal" not in linked
    [ward, *_] = find_ward_names(bristol.id)
    by_place = near_to(ward.upper()).text
    assert "Bristol burglaries" in by_place and f"{ward} (ward)" in by_place
    # A postcode district, as people say where they live ("no postcode or place
    # called BS1": an outside check); one we have no postcodes of is said so.
    district = near_to("bs1").text
    assert "Bristol burglaries" in district and "BS1 (postcode district)" in district
    assert "Bristol burglaries" not in near_to("TA1").text
    assert "We do not know the postcode district ZZ9" in near_to("ZZ9").text
    unknown = near_to("Atlantis\x00")
    assert unknown.status_code == 400
    assert "could not find a postcode or place" in unknown.text
    assert "try your postcode, or the name of your ward or district" in unknown.text
    # A letter or two is no place's name: it found the first place starting so.
    for typed in ("a", "Ab"):
        short = near_to(typed)
        assert short.status_code == 400 and "could not find a postcode or place" in short.text
    assert "Bristol burglaries" in near_to("Brist").text  # three or more: the start
    nonsense = client.get("/alerts?category=nonsense")
    assert nonsense.status_code == 400 and untied_errors(nonsense.text) == []
    assert untied_errors(near_to("Ab").text) == []
    for page in ("-1", "abc", "99999999999"):
        assert client.get(f"/alerts?page={page}").status_code == 200
    assert bristol.reference and taunton.reference
    # Pages of a postcode's alerts are links that never carry it.
    from app.services import public_alerts

    send(officer_client, title="Bristol bikes", shapes=[circle(radius_m=300)])
    monkeypatch.setattr(public_alerts, "PAGE_SIZE", 1)
    first = near_to("BS1 6AD").text
    assert "Bristol bikes" in first and "Page 1 of 2" in first and "area=" not in first
    assert 'href="/alerts?near=1&amp;page=2"' in first
    second = client.get("/alerts?near=1&page=2").text
    assert "Bristol burglaries" in second and "Page 2 of 2" in second
    # Past the end: the last page, not "Page 9 of 2" and nothing.
    past = client.get("/alerts?near=1&page=9").text
    assert "Bristol burglaries" in past and "Page 2 of 2" in past
    # Another visitor's session has no area: the same address is everyone's list.
    stranger = client.application.test_client()
    assert "Page 1 of 3" in stranger.get("/alerts?near=1").text


def test_the_check_says_yes_to_what_we_sent_however_the_phone_changed_it(
    client, officer_client, street, run_worker
):
    alert = send(
        officer_client,
        title="Burglaries",
        body="Don't leave keys near the door - it's how they got in.",
    )
    run_worker()
    db.session.expire_all()
    [text] = messages_for(alert, "sms")[:1]
    token = form_token(client, "/check")
    # As a phone shows it pasted back: curly apostrophes, a dash, lines joined.
    changed = text.replace("'", "’").replace(" - ", " – ").replace("\n", "  ")
    answer = client.post("/check", data={"message": changed, "csrf_token": token})
    assert answer.status_code == 200
    assert "Yes, we sent this message" in answer.text
    assert f"/alerts/{alert.reference}" in answer.text
    # The reference alone.
    typed = client.post("/check", data={"message": alert.reference.lower(), "csrf_token": token})
    assert "that reference is ours" in typed.text
    # Typed on an Arabic keyboard: its digits are digits (a review).
    from sqlalchemy import text as sql

    db.session.execute(
        sql("UPDATE alerts SET reference = 'A7K2-9QF' WHERE id = :id"), {"id": alert.id}
    )
    db.session.commit()
    arabic = "A\u0667K\u0662-\u0669QF"
    typed = client.post("/check", data={"message": arabic, "csrf_token": token})
    assert "that reference is ours" in typed.text
    db.session.execute(
        sql("UPDATE alerts SET reference = :r WHERE id = :id"),
        {"r": alert.reference, "id": alert.id},
    )
    db.session.commit()
    # A postcode so typed is found too.
    from geo.postcodes import canonical

    assert canonical("BS\u0661 \u0666AD") == "BS16AD"
    # Our words with a link added: not simply "yes".
    added = client.post(
        "/check",
        data={
            "message": text + " Claim a refund at http://police-refund.example",
            "csrf_token": token,
        },
    )
    assert "something added" in added.text and "police-refund.example" in added.text
    # Our reference on other words.
    copied = client.post(
        "/check",
        data={
            "message": f"Your account is locked. Call 0900 000 000. Ref {alert.reference}",
            "csrf_token": token,
        },
    )
    assert "the reference is ours, but the words are not" in copied.text
    # Words we never sent.
    scam = client.post(
        "/check", data={"message": "Police fine unpaid: pay now at bit.ly/x", "csrf_token": token}
    )
    assert "we did not send this message" in scam.text


@pytest.mark.parametrize("unseen", ["\u00ad", "\u200b", "\u200d", "\u2060", "\ufeff"])
def test_the_check_says_yes_whatever_a_paste_brought_along_unseen(
    client, officer_client, street, run_worker, unseen
):
    """Found by an outside check: a soft hyphen (copied from an e-mail) or a zero-width
    space, joiner or word joiner (some messaging apps) in a genuine reference was told
    "No: we did not send this message. Do not click links", and inside a word of the
    genuine text, "the reference is ours, but the words are not"."""
    alert = send(officer_client, title="Missing person", body="Have you seen Sam? Call 101.")
    run_worker()
    db.session.expire_all()
    [text] = messages_for(alert, "sms")[:1]
    token = form_token(client, "/check")
    reference = alert.reference[:2] + unseen + alert.reference[2:]
    typed = client.post("/check", data={"message": reference, "csrf_token": token})
    assert "that reference is ours" in typed.text, reference
    pasted = text.replace("Have", "Ha" + unseen + "ve").replace(alert.reference, reference)
    answer = client.post("/check", data={"message": pasted, "csrf_token": token})
    assert "Yes, we sent this message" in answer.text


def test_the_check_says_yes_to_every_message_as_each_resident_got_it(
    client, officer_client, make_resident, run_worker
):
    """Found by an outside probe: pasted whole, a text whose alert carries a link (the
    officer's), any e-mail (its way to stop, its unsubscribe link) and a Welsh
    resident's text of an English alert (its Welsh sign-off) were each said to have
    "something added"."""
    from sqlalchemy import text as sql

    make_resident(postcode="BS1 6AD", sms="+447700900011", email="b@example.invalid")
    welsh = make_resident(postcode="BS1 6AD", sms="+447700900012")
    db.session.execute(sql("UPDATE residents SET language = 'cy' WHERE id = :id"), {"id": welsh.id})
    db.session.commit()
    alert = send(
        officer_client,
        title="Road closed",
        body="The A38 is shut. Diversions: https://example.com/x?a=1&b=2 until 6pm.",
    )
    run_worker()
    db.session.expire_all()
    pasted = messages_for(alert, "sms") + messages_for(alert, "email")
    assert len(pasted) == 3 and any("Heddlu" in m for m in pasted)
    token = form_token(client, "/check")
    for message in pasted:
        answer = client.post("/check", data={"message": message, "csrf_token": token})
        assert "Yes, we sent this message" in answer.text, message
    # An e-mail sent before its check link had a line of its own, "(… genuine at URL)",
    # is ours too ("at" was called words added: a review).
    (mail,) = messages_for(alert, "email")
    older = mail.replace("\nCheck this message is genuine: ", " (check this message is genuine at ")
    older = older.replace("/check\n", "/check)\n", 1)
    assert older != mail and "genuine at http" in older
    answer = client.post("/check", data={"message": older, "csrf_token": token})
    assert "Yes, we sent this message" in answer.text
    # A link of someone else's added to it is still found.
    added = client.post(
        "/check", data={"message": pasted[0] + " https://evil.example/pay", "csrf_token": token}
    )
    assert "something added" in added.text and "evil.example" in added.text


def test_the_check_refuses_nothing_too_much_and_too_often(app, client):
    token = form_token(client, "/check")
    empty = client.post("/check", data={"message": "  ", "csrf_token": token})
    assert empty.status_code == 400 and "Type the reference" in empty.text
    long = client.post("/check", data={"message": "x" * 5000, "csrf_token": token})
    assert long.status_code == 400 and "longer than any alert" in long.text
    app.config["CHECKS_PER_IP_PER_HOUR"] = 2
    try:
        codes = [
            client.post(
                "/check", data={"message": "hello there friend", "csrf_token": token}
            ).status_code
            for _ in range(3)
        ]
    finally:
        app.config["CHECKS_PER_IP_PER_HOUR"] = 30
    assert codes[-1] == 429


def test_words_ignore_what_phones_change():
    assert words("It’s “here”\r\n— now!") == words('its "HERE" - now')
    assert words("Ŵyl Dewi") == words("wyl dewi")


def test_an_alert_of_one_ward_names_it_not_the_wards_beside_it(
    client, officer_client, street, run_worker
):
    """Found by an outside check: an alert of a ward, with another left out, named five
    wards that only share an edge with its area, and the list of alerts found it for
    one of them (Lockleaze): alerts for the wrong place."""
    from app.models import Place

    central = db.session.scalars(
        select(Place).where(Place.kind == "ward", Place.name == "Central")
    ).first()
    beside = db.session.scalars(
        select(Place.name).where(
            Place.kind == "ward",
            Place.name != "Central",
            func.ST_Touches(Place.boundary, central.boundary),
        )
    ).all()
    assert beside, "the demo data has wards beside Central"
    alert = send(
        officer_client,
        title="Central only",
        shapes=[{"kind": "place", "place_id": central.id}],
    )
    run_worker()
    assert find_ward_names(alert.id) == ["Central"]
    page = client.get(f"/alerts/{alert.reference}").text
    assert not [name for name in beside if name in page]
    for name in (beside[0], "Central"):
        token = form_token(client, "/alerts")
        posted = client.post("/alerts", data={"area": name, "csrf_token": token})
        listed = client.get(posted.location).text
        assert ("Central only" in listed) == (name == "Central"), name


def test_an_area_outside_the_force_is_told_so_not_only_no_alerts(client, second_force):
    """A Gloucester postcode on the list was told only "No alerts": as if all were
    quiet there, where the force's alerts never reach."""
    import html as html_

    def listed(area: str, path: str = "/alerts") -> str:
        token = form_token(client, path)
        posted = client.post(path, data={"area": area, "csrf_token": token})
        assert posted.status_code == 303
        return html_.unescape(client.get(posted.location).text)

    outside = listed("GL1 1AD")
    assert "GL1 1AD is outside the area Avon and Somerset Police covers" in outside
    swindon = listed("Swindon")
    assert "Swindon (district) is outside the area Avon and Somerset Police covers" in swindon
    for inside in ("BS1 6AD", "Bath and North East Somerset"):
        assert "is outside the area" not in listed(inside)
    # Each force's own list: Bath is outside Wiltshire's.
    theirs = listed("BA1 1RG", f"/forces/{second_force.slug}/alerts")
    assert "BA1 1RG is outside the area Wiltshire Police covers" in theirs
    assert "is outside the area" not in listed("BA14 6AA", f"/forces/{second_force.slug}/alerts")
    # Where another force on this installation covers it, its list is a button away
    # (the area posted, not put in the address); where none does, the force to ask.
    assert "See Avon and Somerset Police’s alerts for BA1 1RG" in theirs
    assert 'action="/alerts"' in theirs and "ask the police force for that area" not in theirs
    assert "See Wiltshire Police’s alerts for Swindon (district)" in swindon
    assert f'action="/forces/{second_force.slug}/alerts"' in swindon
    assert "See " not in outside and "ask the police force for that area" in outside
    there = client.post(
        f"/forces/{second_force.slug}/alerts",
        data={"area": "Swindon", "csrf_token": form_token(client, "/alerts")},
    )
    assert there.status_code == 303 and "Swindon" not in there.location
    assert "for Swindon (district)" in html_.unescape(client.get(there.location).text)


def test_places_are_found_by_the_names_pages_give_them(app_ctx):
    """Found by an outside check: the pages say "City of Bristol (district)", and it
    was not found; nor "Hotwells & Harbourside" (stored with "and"), nor the officer's
    "Widcombe and Lyncombe" (stored with "&")."""
    from app.dao.places import find_place_named, find_targetable_places
    from app.services import forces

    assert find_place_named("City of Bristol")[1:] == ("district", "Bristol, City of")
    assert find_place_named("hotwells & harbourside")[2] == "Hotwells and Harbourside"
    force = forces.area_of(forces.current_force())
    for typed, name in (
        ("City of Bristol", "Bristol, City of"),
        ("widcombe and lyn", "Widcombe & Lyncombe"),
    ):
        found = [p["name"] for p in find_targetable_places(force, typed)]
        assert any(n.startswith(name) for n in found), (typed, found)
    # As a phone or a copy may type them: full-width letters, a no-break space, a
    # zero-width or direction character. They found nothing (an outside check).
    for typed in ("\uff22\uff52\uff49\uff53\uff54\uff4f\uff4c", "Bristol\u200b", "Bath\u00a0and"):
        assert find_place_named(typed) is not None, typed
        assert find_targetable_places(force, typed), typed


def test_the_officers_place_search_names_places_as_pages_do_and_reads_a_nul_as_nothing(
    officer_client,
):
    """Found by an outside check: the officer's results said "Bristol, City of" where
    the public list says "City of Bristol", and a NUL typed reached the database."""
    found = officer_client.post("/officers/places", json={"q": "City of Bristol"}).json
    assert "City of Bristol" in [p["name"] for p in found["places"]]
    assert "Bristol, City of" not in [p["name"] for p in found["places"]]
    nul = officer_client.post("/officers/places", json={"q": "Cli\x00fton"})
    assert nul.status_code == 200 and nul.json["places"]
