"""Cross-border alerts (issue 16): an alert reaches its own force's residents; a
supervisor of its force may ask a neighbouring force whose area it reaches into, and
that force's supervisors approve (their residents get it, nobody twice) or refuse (with
a reason the asking force reads). Staff of the neighbouring force see the alert only
through what was asked of them."""

from __future__ import annotations

import re

import pytest
from lxml import etree
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import (
    AlertForce,
    AuditEvent,
    Delivery,
    OutboxMessage,
    Resident,
    ResidentChannel,
    ResidentNotice,
)
from app.services import public_feeds
from app.services.alerts import AlertDraft, NotAllowed, cancel_alert, cross_border, submit_alert
from app.services.feeds import ATOM_NS as ATOM
from app.services.feeds import CAP_NS as CAP
from tests.factories import approval_form, approve_as_seen, decide_as_seen, form_token, signed_in

BATH = "BA1 1RG"
TROWBRIDGE = "BA14 6AA"
BOTH = [{"kind": "circle", "center": [-2.28, 51.35], "radius_m": 15_000}]
# Round Bath's centre only: not into Wiltshire.
BATH_ONLY = [{"kind": "circle", "center": [-2.3595, 51.3837], "radius_m": 1_000}]


def reached(alert_id: int) -> dict[str, int]:
    """Messages per resident's name for an alert."""
    return dict(
        db.session.execute(
            text(
                "SELECT r.name, count(*) FROM deliveries d JOIN residents r"
                " ON r.id = d.resident_id WHERE d.alert_id = :id GROUP BY r.name"
            ),
            {"id": alert_id},
        ).all()
    )


def test_the_neighbour_reads_in_its_log_page_and_report_the_follow_ups_its_residents_had(
    app, border, run_worker
):
    """A follow-up to the same people goes to the neighbour's residents the alert
    reached, without asking again; the neighbour had no word of it anywhere: not in its
    audit log, on the page of the alert it approved, or in its report (an outside
    check)."""
    from datetime import date, timedelta

    from app.services import forces, reports

    wilts = border["force"]
    alert = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Van thefts", body="B"))
    alert = alert.alert
    cross_border.ask_force(border["supervisor"], alert.id, wilts.id)
    decide_as_seen(border["wilts_supervisor"], alert.id)
    update = submit_alert(
        border["officer"],
        AlertDraft(
            audience="parent", parent_id=alert.id, title="Vans found", body="In a Trowbridge yard."
        ),
    ).alert
    run_worker()
    assert reached(update.id) == {"Bath": 1, "Border": 1, "Trowbridge": 1}
    events = db.session.execute(
        select(AuditEvent.force_id, AuditEvent.actor_id, AuditEvent.details).where(
            AuditEvent.action == "alert.sent_to_force",
            AuditEvent.subject_id == str(update.id),
        )
    ).all()
    by_force = {force_id: (actor, details) for force_id, actor, details in events}
    assert set(by_force) == {alert.force_id, wilts.id}  # each force's own log
    actor, details = by_force[wilts.id]
    assert actor is None and details["from_force_id"] == alert.force_id
    assert (details["follow_up_of"], details["residents"]) == (alert.id, 1)
    assert by_force[alert.force_id][0] == border["officer"].id
    # On the page of the alert they approved, Wiltshire's supervisor reads it.
    staff = signed_in(app, border["wilts_supervisor"], "supervisor")
    page = staff.get(f"/officers/asked/{alert.id}").text
    assert "Its follow-ups to your residents" in page
    # Its status in the page's language (a Welsh page said "sending": an outside check).
    welsh = staff.get(f"/officers/asked/{alert.id}?lang=cy").text
    status = re.search(r'<p class="muted">[^<]*· ([^<·]*)</p>', welsh).group(1).strip()
    assert status and status not in ("sent", "sending", "approved"), status
    staff.get(f"/officers/asked/{alert.id}?lang=en")
    assert "Vans found" in page and "In a Trowbridge yard." in page
    assert "sent to 1 of your residents" in page
    # And its report of what its residents were sent lists it under the alert.
    today = date.today()
    with forces.scoped(wilts.id):
        theirs = reports.sent_report(reports.Period(today - timedelta(days=1), today), k=1)
    rows = theirs.table("from-other-forces").rows
    assert [row.key for row in rows] == [alert.reference, update.reference]
    assert rows[1].cells[-1].value == 1
    # Avon's own log and report are unchanged in kind: no neighbour row of its own.
    with forces.scoped(alert.force_id):
        ours = reports.sent_report(reports.Period(today - timedelta(days=1), today), k=1)
    assert "from-other-forces" not in {t.key for t in ours.tables}
    # Its update to the same people counts Avon's own residents, as the original does:
    # it counted Wiltshire's too, against Avon's adults (an outside check).
    each = {row.key: row.cells for row in ours.table("each-alert").rows}
    for reference in (alert.reference, update.reference):
        assert each[reference][3].value == 2, reference  # Bath and Border, not Trowbridge
        assert "other forces' residents not counted" in each[reference][3].label


def test_where_a_cross_border_alert_went_names_the_neighbours_district(app, border):
    """Found by an outside check: only the first force's wards are loaded, and an alert
    into Wiltshire named only Bath's wards, to Wiltshire's residents too. A district
    none of whose wards is loaded is named itself."""
    from app.dao.public_alerts import find_ward_names

    alert = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="T", body="B")).alert
    names = find_ward_names(alert.id, limit=50)
    assert "Wiltshire" in names
    assert "Bath and North East Somerset" not in names  # its wards are named instead
    assert any(n in names for n in ("Kingsmead", "Abbey", "Widcombe & Lyncombe"))
    home = submit_alert(border["officer"], AlertDraft(shapes=BATH_ONLY, title="T", body="B"))
    assert "Wiltshire" not in find_ward_names(home.alert.id)


def test_a_list_of_alerts_for_a_place_outside_says_those_listed_came_across_the_border(
    app, client, border, run_worker
):
    """Found by an outside check: Wiltshire's list for a Bath postcode showed "1 alert"
    beside "its alerts do not reach there"."""
    import html

    alert = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Vans", body="B"))
    cross_border.ask_force(border["supervisor"], alert.alert.id, border["force"].id)
    decide_as_seen(border["wilts_supervisor"], alert.alert.id)
    run_worker()
    path = f"/forces/{border['force'].slug}/alerts"
    posted = client.post(path, data={"area": "BA1 1RG", "csrf_token": form_token(client, path)})
    listed = html.unescape(client.get(posted.location).text)
    assert "1 alert for BA1 1RG" in listed and "Vans" in listed
    # Whose it is, on the list too (an outside check: it named nobody).
    shown = f'<span class="reference">{alert.alert.reference}</span>'
    assert f"{shown} · from Avon and Somerset Police" in listed
    assert "the alerts listed reached it across the border" in listed
    assert "do not reach there" not in listed
    # Its page on Wiltshire's site names its sender, not the site's force.
    page = client.get(f"{path}/{alert.alert.reference}").text
    assert "<dt>From</dt><dd>Avon and Somerset Police</dd>" in page


@pytest.fixture
def border(make_resident, make_officer, second_force):
    """Residents in Bath, in Trowbridge and with places in both (one number); staff of
    both forces."""
    make_resident(postcode=BATH, sms="+447700900201", name="Bath")
    make_resident(postcode=TROWBRIDGE, sms="+447700900202", name="Trowbridge")
    make_resident(postcode=BATH, also=(TROWBRIDGE,), sms="+447700900203", name="Border")
    return {
        "officer": make_officer(role="officer", email="pc@avon.example"),
        "supervisor": make_officer(role="supervisor", email="sgt@avon.example"),
        "other_supervisor": make_officer(
            role="supervisor", email="sgt2@avon.example", name="Second Sergeant"
        ),
        "wilts_supervisor": make_officer(
            role="supervisor", email="sgt@wilts.example", force_id=second_force.id
        ),
        "wilts_officer": make_officer(
            role="officer", email="pc@wilts.example", force_id=second_force.id
        ),
        "force": second_force,
    }


def test_an_approved_alert_reaches_the_neighbours_residents_once(app, client, border, run_worker):
    alert = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Van thefts", body="B"))
    alert = alert.alert
    assert reached(alert.id) == {"Bath": 1, "Border": 1}
    wilts = border["force"]
    (neighbour,) = cross_border.neighbours_of(alert)
    assert neighbour.force.id == wilts.id and neighbour.ask is None

    # An officer may not ask; a supervisor of the alert's force may.
    with pytest.raises(NotAllowed, match="Only a supervisor"):
        cross_border.ask_force(border["officer"], alert.id, wilts.id)
    cross_border.ask_force(border["supervisor"], alert.id, wilts.id)
    with pytest.raises(NotAllowed, match="already been asked"):
        cross_border.ask_force(border["supervisor"], alert.id, wilts.id)
    # Wiltshire's supervisor is told, with a link that says nothing about anyone.
    (notice,) = db.session.scalars(
        select(ResidentNotice).where(ResidentNotice.kind == "cross_border_request")
    )
    assert notice.address == "sgt@wilts.example"
    assert f"/officers/asked/{alert.id}" in notice.body and "Van thefts" in notice.body
    assert reached(alert.id) == {"Bath": 1, "Border": 1}  # nothing yet

    decide_as_seen(border["wilts_supervisor"], alert.id)
    # Trowbridge's resident now; the border resident already had it, so not again.
    assert reached(alert.id) == {"Bath": 1, "Border": 1, "Trowbridge": 1}
    ask = db.session.get(AlertForce, (alert.id, wilts.id))
    assert (ask.status, ask.residents) == ("approved", 1) and ask.sent_at is not None
    db.session.refresh(alert)
    assert alert.recipient_count == 3
    run_worker()
    db.session.refresh(alert)
    assert alert.status == "sent"
    # Avon's report counts Avon's residents against Avon's adults: the Wiltshire
    # resident its approval reached is not Avon's (found by an outside probe: 216
    # "residents messaged" divided by Avon's adults alone).
    from datetime import date, timedelta

    from app.services import reports

    today = date.today()
    report = reports.sent_report(reports.Period(today - timedelta(days=1), today), k=1)
    row = {r.key: r for r in report.table("each-alert").rows}[alert.reference]
    assert row.cells[3].value == 2 and "other forces' residents not counted" in row.cells[3].label
    assert "from-other-forces" not in {t.key for t in report.tables}  # it approved none
    # Wiltshire's report lists the alert it approved, with the Wiltshire residents it
    # reached; its messages and costs are Avon's, not in Wiltshire's tables (it had
    # no report of it at all before).
    from app.services import forces

    with forces.scoped(wilts.id):
        theirs = reports.sent_report(reports.Period(today - timedelta(days=1), today), k=1)
    assert theirs.alerts == 0 and not theirs.table("each-alert").rows
    (approved,) = theirs.table("from-other-forces").rows
    assert approved.key == alert.reference and approved.cells[0].label == "Avon and Somerset"
    assert approved.cells[-1].value == 1
    assert (
        "Other forces' alerts sent to this force's residents",
        approved.header,
        "This force's residents messaged",
        "1",
    ) in reports.csv_rows(theirs)
    # Below the report's threshold, the count is hidden like any other.
    with forces.scoped(wilts.id):
        hidden = reports.sent_report(reports.Period(today - timedelta(days=1), today), k=5)
    assert hidden.table("from-other-forces").rows[0].cells[-1].value is None
    # The question to Wiltshire's supervisor is in Wiltshire's outbox, not Avon's.
    asked = db.session.scalars(
        select(OutboxMessage.force_id).where(OutboxMessage.notice_id == notice.id)
    ).one()
    assert asked == wilts.id
    statuses = db.session.scalars(select(Delivery.status).where(Delivery.alert_id == alert.id))
    assert set(statuses) == {"delivered"} or set(statuses) <= {"delivered", "sent"}
    with pytest.raises(NotAllowed, match="already been approved"):
        cross_border.decide_for_force(border["wilts_supervisor"], alert.id, approve=False)
    # The all-clear to the same people reaches everyone the alert reached.
    clear = submit_alert(
        border["officer"],
        AlertDraft(audience="parent", parent_id=alert.id, title="All clear", body="Caught."),
    ).alert
    assert reached(clear.id) == {"Bath": 1, "Border": 1, "Trowbridge": 1}
    run_worker()

    # Wiltshire's residents find both on Wiltshire's public pages, as on the writing
    # force's; an alert Wiltshire was not asked about is not there.
    other = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Not asked", body="B"))
    run_worker()
    listed = client.get("/forces/wiltshire/alerts").text
    assert "Van thefts" in listed and "All clear" in listed and "Not asked" not in listed
    page = client.get(f"/forces/wiltshire/alerts/{alert.reference}")
    assert page.status_code == 200
    # Its CAP document is its own force's, at its own force's address.
    assert f'href="/alerts/{alert.reference}/cap.xml"' in page.text
    assert client.get(f"/alerts/{alert.reference}/cap.xml").status_code == 200
    assert client.get(f"/forces/wiltshire/alerts/{alert.reference}/cap.xml").status_code == 404
    assert client.get(f"/forces/wiltshire/alerts/{other.alert.reference}").status_code == 404
    # Wiltshire's feeds carry it too, as its list does (a reader of Wiltshire's feed
    # missed it), each entry naming Avon and Somerset as its author and linking to
    # Avon and Somerset's CAP document, whose sender is theirs; not the one not asked.
    site = app.config["PUBLIC_BASE_URL"].rstrip("/")
    avon_cap = f"{site}/alerts/{alert.reference}/cap.xml"
    for feed in ("en.atom", "cap.atom"):
        text = client.get(f"/forces/wiltshire/alerts/feed/{feed}").text
        assert alert.reference in text and other.alert.reference not in text
        root = etree.fromstring(text.encode())
        entries = {e.findtext(f"{{{ATOM}}}title"): e for e in root.iterfind(f"{{{ATOM}}}entry")}
        van = next(e for title, e in entries.items() if "Van thefts" in title)
        assert van.findtext(f"{{{ATOM}}}author/{{{ATOM}}}name") == "Avon and Somerset Police"
        assert avon_cap in {link.get("href") for link in van.iterfind(f"{{{ATOM}}}link")}
        assert root.findtext(f"{{{ATOM}}}author/{{{ATOM}}}name") == "Wiltshire Police"
        if feed == "en.atom":  # whose alerts it holds ("Every alert Wiltshire has sent")
            assert "neighbouring forces it agreed" in root.findtext(f"{{{ATOM}}}subtitle")
        assert alert.reference in client.get(f"/alerts/feed/{feed}").text
    avon_sender = etree.fromstring(client.get(avon_cap.removeprefix(site)).data)
    assert avon_sender.findtext(f"{{{CAP}}}sender") == public_feeds.feed_source().sender
    # Wiltshire's staff still do not open it as theirs.
    theirs = signed_in(app, border["wilts_supervisor"], "supervisor")
    assert theirs.get(f"/officers/alerts/{alert.id}").status_code == 404

    # Each force's audit log has its own part.
    events = dict(
        db.session.execute(
            select(AuditEvent.action, AuditEvent.force_id).where(
                AuditEvent.action.in_(
                    ["alert.force_asked", "alert.force_approved", "alert.sent_to_force"]
                )
            )
        ).all()
    )
    default = border["supervisor"].force_id
    assert events == {
        "alert.force_asked": default,
        "alert.force_approved": wilts.id,
        "alert.sent_to_force": wilts.id,
    }


@pytest.mark.parametrize("counted", [False, True], ids=["read from the ledger", "counted"])
def test_a_late_approval_s_wait_is_not_counted_as_its_messages_slowness(
    app, border, run_worker, monkeypatch, counted
):
    """Wiltshire approved two hours after the alert went: its resident's message took
    seconds from then, and the alert's "release to last message arrived" says seconds,
    not two hours (found when reading the report: the wait counted as slowness)."""
    from datetime import date, timedelta

    from app.services import figures, reports

    alert = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="T", body="B")).alert
    run_worker()
    # Two hours pass: the alert and its Avon messages are moved back by two hours.
    for statement in (
        "UPDATE alerts SET sent_at = sent_at - interval '2 hours' WHERE id = :id",
        "UPDATE deliveries SET created_at = created_at - interval '2 hours',"
        " sent_at = sent_at - interval '2 hours',"
        " finished_at = finished_at - interval '2 hours' WHERE alert_id = :id",
    ):
        db.session.execute(text(statement), {"id": alert.id})
    db.session.commit()
    cross_border.ask_force(border["supervisor"], alert.id, border["force"].id)
    decide_as_seen(border["wilts_supervisor"], alert.id)
    run_worker()
    assert reached(alert.id) == {"Bath": 1, "Border": 1, "Trowbridge": 1}
    if counted:
        monkeypatch.setitem(app.config, "ANALYST_SETTLED_SECONDS", 0)
        monkeypatch.setitem(app.config, "ANALYST_NOTICE_SECONDS", 0)
        figures.refresh("sent")
        assert db.session.execute(
            text("SELECT count(*) FROM alert_delivery_totals WHERE alert_id = :id"),
            {"id": alert.id},
        ).scalar()
    today = date.today()
    report = reports.sent_report(reports.Period(today - timedelta(days=1), today), k=1)
    row = {r.key: r for r in report.table("each-alert").rows}[alert.reference]
    assert row.cells[-1].value < 600, row.cells[-1].label  # seconds, not 7,200
    speed = {r.key: r.cells[0] for r in report.table("speed").rows}
    assert speed["p50"].value == row.cells[-1].value


def test_a_late_approval_sends_the_updates_so_far_too(app, border, run_worker):
    alert = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Fire", body="B")).alert
    update = submit_alert(
        border["officer"],
        AlertDraft(audience="parent", parent_id=alert.id, title="Update", body="Road shut."),
    ).alert
    # An update of the update, to the same people: whoever the update reached.
    again = submit_alert(
        border["officer"],
        AlertDraft(audience="parent", parent_id=update.id, title="Again", body="Still shut."),
    ).alert
    # An update with an area of its own is a new audience: not the same people.
    elsewhere = submit_alert(
        border["officer"],
        AlertDraft(shapes=BOTH, parent_id=alert.id, title="Also", body="Elsewhere too."),
    ).alert
    run_worker()
    assert reached(update.id) == {"Bath": 1, "Border": 1}
    # Since then, Bath's resident has added an e-mail address: the update went to them
    # already, and does not again.
    bath = db.session.scalars(select(Resident).where(Resident.name == "Bath")).one()
    bath.channels.append(
        ResidentChannel(channel="email", address="bath@example.invalid", verified_at=func.now())
    )
    db.session.commit()
    cross_border.ask_force(border["supervisor"], alert.id, border["force"].id)
    decide_as_seen(border["wilts_supervisor"], alert.id)
    # Trowbridge's resident gets the alert and the update after it; nobody twice.
    assert reached(alert.id) == {"Bath": 1, "Border": 1, "Trowbridge": 1}
    assert reached(update.id) == {"Bath": 1, "Border": 1, "Trowbridge": 1}
    assert reached(again.id) == {"Bath": 1, "Border": 1, "Trowbridge": 1}
    assert reached(elsewhere.id) == {"Bath": 1, "Border": 1}
    # Each through the force that reached them with the alert (a review: the updates
    # caught up had no force of their own to keep to).
    wilts = border["force"].id
    for follow_up in (update, again):
        assert _via(follow_up.id) == {"Bath": None, "Border": None, "Trowbridge": wilts}
    db.session.refresh(update)
    assert update.recipient_count == 3
    run_worker()
    db.session.refresh(update)
    assert update.status == "sent"
    db.session.refresh(again)
    assert (again.status, again.recipient_count) == ("sent", 3)
    trowbridge = db.session.scalars(
        select(Delivery.status).where(
            Delivery.alert_id == update.id, Delivery.address == "+447700900202"
        )
    ).all()
    assert trowbridge and set(trowbridge) <= {"delivered", "sent"}


def test_approved_before_the_alert_goes_it_waits_for_the_send(app, border):
    # A missing-person alert waits for its own force's approval.
    alert = submit_alert(
        border["officer"],
        AlertDraft(shapes=BOTH, title="Missing: Sam", body="B", category="missing_person"),
    ).alert
    assert alert.status == "pending_approval"
    wilts = border["force"]
    cross_border.ask_force(border["supervisor"], alert.id, wilts.id)
    decide_as_seen(border["wilts_supervisor"], alert.id)
    assert reached(alert.id) == {}  # nothing goes before its own force approves
    approve_as_seen(border["other_supervisor"], alert.id)
    assert reached(alert.id) == {"Bath": 1, "Border": 1, "Trowbridge": 1}


def test_a_refusal_says_why_and_sends_nothing(app, border):
    alert = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Fly-tipping", body="B"))
    alert = alert.alert
    wilts = border["force"]
    cross_border.ask_force(border["supervisor"], alert.id, wilts.id)
    from app.services.alerts import AlertInvalid

    with pytest.raises(AlertInvalid, match="Say why"):
        cross_border.decide_for_force(border["wilts_supervisor"], alert.id, approve=False)
    with pytest.raises(NotAllowed, match="Only a supervisor"):
        decide_as_seen(border["wilts_officer"], alert.id)
    # The alert's own force cannot answer for the neighbour.
    with pytest.raises(NotAllowed, match="no such alert"):
        decide_as_seen(border["other_supervisor"], alert.id)
    cross_border.decide_for_force(
        border["wilts_supervisor"], alert.id, approve=False, reason="We sent our own."
    )
    assert reached(alert.id) == {"Bath": 1, "Border": 1}
    (neighbour,) = cross_border.neighbours_of(alert)
    assert (neighbour.ask.status, neighbour.ask.reason) == ("refused", "We sent our own.")
    theirs = signed_in(app, border["wilts_supervisor"], "supervisor")
    token = form_token(theirs, f"/officers/asked/{alert.id}")
    answer = theirs.post(
        f"/officers/asked/{alert.id}",
        data={"csrf_token": token, "decision": "maybe"},
        follow_redirects=True,
    )
    assert "Choose to approve or to refuse." in answer.text  # it was never shown
    # Decided: a second refusal is told so, whatever its reason (a reason's mistake was
    # said first, about a box no longer drawn: an outside check, on rejecting).
    for reason in ("", "a\x00b"):
        with pytest.raises(NotAllowed, match="already been refused"):
            cross_border.decide_for_force(
                border["wilts_supervisor"], alert.id, approve=False, reason=reason
            )


def test_a_cancelled_alert_cannot_be_approved_and_an_area_at_home_asks_nobody(app, border):
    wilts = border["force"]
    home = submit_alert(border["officer"], AlertDraft(shapes=BATH_ONLY, title="Home", body="B"))
    assert cross_border.neighbours_of(home.alert) == []
    with pytest.raises(NotAllowed, match="does not reach"):
        cross_border.ask_force(border["supervisor"], home.alert.id, wilts.id)

    alert = submit_alert(
        border["officer"],
        AlertDraft(shapes=BOTH, title="Missing: Jo", body="B", category="missing_person"),
    ).alert
    cross_border.ask_force(border["supervisor"], alert.id, wilts.id)
    from app.services.alerts import count_waiting_for

    assert count_waiting_for(border["wilts_supervisor"]) == 1
    cancel_alert(border["supervisor"], alert.id)
    # No longer waiting for Wiltshire's decision, and said so on its page.
    assert count_waiting_for(border["wilts_supervisor"]) == 0
    theirs = signed_in(app, border["wilts_supervisor"], "supervisor")
    page = theirs.get(f"/officers/asked/{alert.id}").text
    assert "have stopped this alert" in page and "Approve for our residents" not in page
    with pytest.raises(NotAllowed, match="cancelled this alert"):
        decide_as_seen(border["wilts_supervisor"], alert.id)
    assert reached(alert.id) == {}
    with pytest.raises(NotAllowed, match="cancelled: nothing to ask"):
        cross_border.ask_force(border["supervisor"], alert.id, wilts.id)


def test_once_the_all_clear_has_gone_nobody_new_hears_of_the_danger(app, border):
    wilts = border["force"]
    alert = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Fire", body="B")).alert
    cross_border.ask_force(border["supervisor"], alert.id, wilts.id)
    submit_alert(
        border["officer"],
        AlertDraft(
            audience="parent", parent_id=alert.id, category="all_clear", title="Out", body="B"
        ),
    )
    with pytest.raises(NotAllowed, match="sent the all-clear"):
        decide_as_seen(border["wilts_supervisor"], alert.id)
    assert "Trowbridge" not in reached(alert.id)
    # Refusing is still possible: it closes the question.
    cross_border.decide_for_force(
        border["wilts_supervisor"], alert.id, approve=False, reason="Over now."
    )


def test_the_neighbour_sees_only_what_it_was_asked_on_its_pages(app, border):
    wilts = border["force"]
    asked = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Asked", body="Lock"))
    other = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Not asked", body="B"))

    ours = signed_in(app, border["supervisor"], "supervisor")
    page = ours.get(f"/officers/alerts/{asked.alert.id}").text
    assert "residents</h2>" in page and "Ask Wiltshire Police to send it" in page
    token = form_token(ours, f"/officers/alerts/{asked.alert.id}")
    answer = ours.post(
        f"/officers/alerts/{asked.alert.id}/ask-force",
        data={"csrf_token": token, "force_id": str(wilts.id)},
    )
    assert answer.status_code == 302
    assert "waiting for their decision" in ours.get(f"/officers/alerts/{asked.alert.id}").text
    # Not a force the area reaches, not a number: said, nothing asked.
    bad = ours.post(
        f"/officers/alerts/{asked.alert.id}/ask-force",
        data={"csrf_token": token, "force_id": "99999999999"},
        follow_redirects=True,
    )
    # No force by that number, or its own: "does not reach into that force's area"
    # misled (an outside check).
    assert bad.status_code == 200 and "Choose a neighbouring force from the list." in bad.text
    own = ours.post(
        f"/officers/alerts/{asked.alert.id}/ask-force",
        data={"csrf_token": token, "force_id": str(asked.alert.force_id)},
        follow_redirects=True,
    )
    assert "Choose a neighbouring force from the list." in own.text

    theirs = signed_in(app, border["wilts_supervisor"], "supervisor")
    approvals = theirs.get("/officers/approvals").text
    assert "Asked by other forces" in approvals and "Asked" in approvals
    assert "Not asked" not in approvals
    assert '<span class="nav-count">(1)</span>' in approvals  # the waiting ask counts
    page = theirs.get(f"/officers/asked/{asked.alert.id}")
    assert page.status_code == 200
    assert "Avon and Somerset Police ask you" in page.text and "Lock" in page.text
    # In Welsh, each force is named in Welsh.
    db.session.execute(text("UPDATE forces SET name_cy = 'Avon a Gwlad yr Haf' WHERE is_default"))
    db.session.commit()
    for path in (f"/officers/asked/{asked.alert.id}?lang=cy", "/officers/approvals?lang=cy"):
        welsh = theirs.get(path).text
        assert "Avon a Gwlad yr Haf" in welsh and "Avon and Somerset" not in welsh, path
    # The alert not asked about, and the alert's own page, are not theirs to see.
    assert theirs.get(f"/officers/asked/{other.alert.id}").status_code == 404
    assert theirs.get(f"/officers/alerts/{asked.alert.id}").status_code == 404
    # An officer of theirs does not decide.
    pc = signed_in(app, border["wilts_officer"], "officer")
    assert pc.get(f"/officers/asked/{asked.alert.id}").status_code == 403

    token = form_token(theirs, f"/officers/asked/{asked.alert.id}")
    garbled = theirs.post(
        f"/officers/asked/{asked.alert.id}",
        data={"csrf_token": token, "decision": "maybe", "reason": "x"},
        follow_redirects=True,
    )
    # Said, in the page's language (abort's words were never shown).
    assert "Dewiswch gymeradwyo neu wrthod." in garbled.text
    assert db.session.get(AlertForce, (asked.alert.id, wilts.id)).status == "asked"
    empty = theirs.post(
        f"/officers/asked/{asked.alert.id}",
        data={"csrf_token": token, "decision": "refuse", "reason": "  "},
    )
    # Said in the page's language (the Welsh page the supervisor chose above).
    assert empty.status_code == 400 and "Dywedwch pam" in empty.text
    done = theirs.post(
        f"/officers/asked/{asked.alert.id}",
        data={**approval_form(theirs, f"/officers/asked/{asked.alert.id}"), "decision": "approve"},
        follow_redirects=True,
    )
    assert "mae&#39;n mynd at eich preswylwyr nawr" in done.text  # the Welsh page
    assert reached(asked.alert.id)["Trowbridge"] == 1
    assert (
        "approved: sent to fewer than 5 of their residents"
        in ours.get(f"/officers/alerts/{asked.alert.id}").text
    )
    assert db.session.scalar(select(func.count()).select_from(AlertForce)) == 1


def test_a_neighbours_approval_goes_to_the_count_it_saw_or_not_at_all(
    app, border, make_resident, run_worker
):
    """As a force's own approvals (an outside check: approved for 11, it went to 51):
    the neighbour's approval, unchecked, went to however many of its residents the
    area held by then, and one that said no count went too."""
    alert = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Vans", body="B"))
    alert = alert.alert
    cross_border.ask_force(border["supervisor"], alert.id, border["force"].id)
    theirs = signed_in(app, border["wilts_supervisor"], "supervisor")
    url = f"/officers/asked/{alert.id}"
    seen = approval_form(theirs, url)
    assert seen["expected_residents"] == "0"  # 2 of theirs: hidden, sent as 0
    for n in range(10):  # their residents signed up meanwhile, in the area
        make_resident(postcode=TROWBRIDGE, sms=f"+4477009003{n:02d}", name=f"New {n}")
    for said in (seen, {"csrf_token": seen["csrf_token"]}):
        refused = theirs.post(url, data={**said, "decision": "approve"}, follow_redirects=True)
        assert ("now reaches 12 residents, not fewer than 5" in refused.text) == (said is seen)
        assert ("did not say how many residents" in refused.text) != (said is seen)
        assert db.session.get(AlertForce, (alert.id, border["force"].id)).status == "asked"
    again = approval_form(theirs, url)
    assert again["expected_residents"] == "12"
    assert "Your residents inside the area: <strong>12</strong>" in theirs.get(url).text
    done = theirs.post(url, data={**again, "decision": "approve"})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(AlertForce, (alert.id, border["force"].id)).status == "approved"
    # Refusing needs no count.
    other = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Other", body="B"))
    cross_border.ask_force(border["supervisor"], other.alert.id, border["force"].id)
    cross_border.decide_for_force(
        border["wilts_supervisor"], other.alert.id, approve=False, reason="Ours went."
    )


def test_an_update_waits_while_its_original_is_being_decided(app, border, run_worker):
    """An update to the same people is sent to whoever its original reached: while a
    neighbour's approval of the original is under way (it holds the original), the
    update's own approval waits for it, so it sees the neighbour's residents too."""
    import threading
    import time

    alert = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Flood", body="B")).alert
    update = submit_alert(
        border["officer"],
        AlertDraft(
            audience="parent",
            parent_id=alert.id,
            title="Missing in the flood",
            body="Sam",
            category="missing_person",
        ),
    ).alert
    assert update.status == "pending_approval"
    cross_border.ask_force(border["supervisor"], alert.id, border["force"].id)
    db.session.commit()

    deciding = db.engine.connect()
    decision = deciding.begin()
    deciding.execute(text("SELECT 1 FROM alerts WHERE id = :id FOR UPDATE"), {"id": alert.id})
    outcome: dict = {}

    def approve():
        with app.app_context():
            try:
                approve_as_seen(border["other_supervisor"], update.id)
                outcome["done"] = True
            except Exception as error:  # noqa: BLE001 (reported below)
                outcome["error"] = error

    worker = threading.Thread(target=approve)
    worker.start()
    try:
        # The approval waits for a lock the deciding transaction holds (not merely slow).
        waiting = False
        for _ in range(100):
            # pg_stat_activity is read once a transaction unless told to read it again.
            deciding.execute(text("SELECT pg_stat_clear_snapshot()"))
            # Waiting to lock the original, before anything of the update is written.
            waiting = deciding.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM pg_stat_activity"
                    " WHERE :me = ANY(pg_blocking_pids(pid)) AND query LIKE '%FOR SHARE%')"
                ),
                {"me": deciding.execute(text("SELECT pg_backend_pid()")).scalar()},
            ).scalar()
            if waiting or not worker.is_alive():
                break
            time.sleep(0.05)
        assert waiting and worker.is_alive() and outcome == {}
    finally:
        decision.rollback()
        deciding.close()
        worker.join(30)
    assert outcome == {"done": True}


def test_a_second_forces_start_and_check_pages_are_its_own(app, client, border, run_worker):
    """Found by an outside check: on Wiltshire's pages the header led to "Hear from Avon
    and Somerset Police", and "Check a message" asked whether it was really from Avon
    and Somerset Police; /forces/wiltshire, its feeds' address, was not found."""
    import html

    slug = border["force"].slug
    start = client.get(f"/forces/{slug}/")
    assert start.status_code == 200 and "Hear from Wiltshire Police" in start.text
    assert f'href="/forces/{slug}/check"' in start.text
    assert f'class="brand" href="/forces/{slug}/"' in client.get(f"/forces/{slug}/alerts").text
    path = f"/forces/{slug}/check"
    assert "Is this message really from Wiltshire Police?" in client.get(path).text
    # Another force's alert, checked there, is said to be theirs (the check reads every
    # force's alerts).
    alert = submit_alert(border["officer"], AlertDraft(shapes=BATH_ONLY, title="Vans", body="B"))
    run_worker()
    answer = client.post(
        path, data={"message": alert.alert.reference, "csrf_token": form_token(client, path)}
    )
    assert "Yes, Avon and Somerset Police sent this alert" in html.unescape(answer.text)
    assert client.get("/forces/nowhere/").status_code == 404
    assert "Hear from Avon and Somerset Police" in client.get("/").text


def _via(alert_id: int) -> dict[str, int | None]:
    """The force each resident's message went through (None: the alert's own)."""
    db.session.rollback()
    return dict(
        db.session.execute(
            text(
                "SELECT r.name, d.via_force_id FROM deliveries d JOIN residents r"
                " ON r.id = d.resident_id WHERE d.alert_id = :id"
            ),
            {"id": alert_id},
        ).all()
    )


def test_the_updates_and_all_clear_follow_the_force_that_reached_them(app, border, run_worker):
    """A resident with a home in Bath and a farm near Trowbridge stopped hearing from
    Avon and Somerset, and heard its alert through Wiltshire's approval; its all-clear
    was held to Avon and Somerset's stops, and never reached them (a review)."""
    from app.services.residents import set_forces_heard
    from tests.factories import default_force_id, send_all_clear

    wilts = border["force"]
    both = db.session.scalars(select(Resident).where(Resident.name == "Border")).one()
    set_forces_heard(both, {wilts.id})
    alert = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Fire", body="B")).alert
    assert reached(alert.id) == {"Bath": 1}
    cross_border.ask_force(border["supervisor"], alert.id, wilts.id)
    decide_as_seen(border["wilts_supervisor"], alert.id)
    run_worker()
    assert _via(alert.id) == {"Bath": None, "Trowbridge": wilts.id, "Border": wilts.id}

    update = submit_alert(
        border["officer"],
        AlertDraft(audience="parent", parent_id=alert.id, title="Spreading", body="B"),
    ).alert
    assert _via(update.id) == {"Bath": None, "Trowbridge": wilts.id, "Border": wilts.id}
    # Hearing from Avon and Somerset only now: what is queued through Wiltshire stops.
    both = db.session.get(Resident, both.id)
    set_forces_heard(both, {default_force_id()})
    statuses = dict(
        db.session.execute(
            text(
                "SELECT r.name, d.status FROM deliveries d JOIN residents r"
                " ON r.id = d.resident_id WHERE d.alert_id = :id"
            ),
            {"id": update.id},
        ).all()
    )
    assert statuses == {"Bath": "queued", "Trowbridge": "queued", "Border": "cancelled"}
    set_forces_heard(db.session.get(Resident, both.id), {wilts.id})
    run_worker()

    over = send_all_clear(border["officer"], alert)
    assert reached(over.id) == {"Bath": 1, "Trowbridge": 1, "Border": 1}
    assert _via(over.id)["Border"] == wilts.id
    # Stopping Wiltshire too, they hear no more of it.
    db.session.execute(
        text("INSERT INTO resident_force_stops (resident_id, force_id) VALUES (:r, :f)"),
        {"r": both.id, "f": wilts.id},
    )
    db.session.commit()
    later = submit_alert(
        border["officer"],
        AlertDraft(audience="parent", parent_id=alert.id, title="Again", body="B"),
    )
    assert "Border" not in reached(later.alert.id)


def test_a_follow_up_goes_through_a_force_not_stopped_their_own_first(app, border, run_worker):
    """A resident the alert reached through both forces (a text through their own, an
    e-mail added before the neighbour's late approval through it) who then stopped the
    neighbour: the update reaches them through their own force, and is recorded so (a
    review: it recorded the stopped one, and an update of it would have left them out)."""
    from app.services.residents import set_forces_heard
    from tests.factories import default_force_id

    wilts = border["force"]
    alert = submit_alert(border["officer"], AlertDraft(shapes=BOTH, title="Fire", body="B")).alert
    both = db.session.scalars(select(Resident).where(Resident.name == "Border")).one()
    both.channels.append(
        ResidentChannel(channel="email", address="border@example.invalid", verified_at=func.now())
    )
    db.session.commit()
    cross_border.ask_force(border["supervisor"], alert.id, wilts.id)
    decide_as_seen(border["wilts_supervisor"], alert.id)
    run_worker()
    ways = db.session.execute(
        select(Delivery.channel, Delivery.via_force_id).where(
            Delivery.alert_id == alert.id, Delivery.resident_id == both.id
        )
    ).all()
    assert sorted(ways) == [("email", wilts.id), ("sms", None)]
    set_forces_heard(db.session.get(Resident, both.id), {default_force_id()})
    update = submit_alert(
        border["officer"],
        AlertDraft(audience="parent", parent_id=alert.id, title="Update", body="B"),
    ).alert
    assert reached(update.id)["Border"] == 2
    assert _via(update.id)["Border"] is None
