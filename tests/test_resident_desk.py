"""A resident who calls 101 is found by the whole number or e-mail they gave, and their
channel stopped or their details deleted by an administrator, each step audited: a
resident who hears only by landline had no way to stop the calls, and nobody at 101
could (an outside check)."""

from __future__ import annotations

from lxml import html
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Resident, ResidentChannel
from tests.factories import error_tied_to, form_token, signed_in


def look_up(staff, typed: str):
    token = form_token(staff, "/admin/residents")
    return staff.post("/admin/residents", data={"contact": typed, "csrf_token": token})


def test_an_administrator_finds_a_caller_stops_their_calls_and_deletes_them(
    app, make_officer, make_resident
):
    ivy = make_resident(sms=None, email=None, voice="+441174960709", name="Ivy")
    ivy_id = ivy.id
    make_resident(sms="+447700900123", name="Someone else")
    admin = make_officer(role="admin")
    staff = signed_in(app, admin, "admin")
    page = look_up(staff, "0117 496 0709")
    assert page.status_code == 200
    assert "Ivy" in page.text and "Someone else" not in page.text
    assert "+441174960709" not in page.text and "+441••••••709" in page.text  # masked
    # Each button says whose messages it stops, to a screen reader among several found.
    buttons = [
        " ".join(b.text_content().split()) for b in html.fromstring(page.text).iter("button")
    ]
    assert buttons[-3:] == ["Find", "Stop these (Calls, Ivy)", "Delete their details (Ivy)"]
    looked = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "resident.looked_up")
    ).all()
    assert [(e.actor_id, e.subject_id) for e in looked] == [(admin.id, str(ivy.reference))]

    token = form_token(staff, "/admin/residents")
    stop = {"reference": str(ivy.reference), "channel": "voice", "csrf_token": token}
    done = staff.post("/admin/residents/stop", data=stop)
    assert done.status_code == 302 and "Calls stopped." in staff.get("/admin/residents").text
    assert db.session.scalar(
        select(ResidentChannel.unsubscribed_at).where(ResidentChannel.resident_id == ivy.id)
    )
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "resident.unsubscribed_by_staff")
    ).one()
    assert (event.actor_id, event.details) == (admin.id, {"channel": "voice"})
    staff.post("/admin/residents/stop", data=stop)
    assert "Calls were stopped already." in staff.get("/admin/residents").text

    # Deleting needs the box ticked: nothing goes without it.
    gone = {"reference": str(ivy.reference), "csrf_token": token}
    staff.post("/admin/residents/delete", data=gone)
    assert db.session.get(Resident, ivy_id) is not None
    staff.post("/admin/residents/delete", data={**gone, "confirm": "yes"})
    db.session.expire_all()
    assert db.session.get(Resident, ivy_id) is None
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[-2:] == ["resident.deleted_by_staff", "resident.deleted"]
    assert "Nobody registered with this force" in look_up(staff, "0117 496 0709").text


def test_a_number_that_is_not_one_is_said_and_another_forces_admin_finds_nobody(
    app, make_officer, make_resident, second_force
):
    make_resident(sms="+447700900123", name="Avon's")
    staff = signed_in(app, make_officer(role="admin"), "admin")
    refused = look_up(staff, "hello")
    assert refused.status_code == 400 and error_tied_to(refused.text, "contact")
    assert "Enter the caller" in look_up(staff, "   ").text
    wilts = make_officer(role="admin", email="admin@wilts.example", force_id=second_force.id)
    theirs = signed_in(app, wilts, "admin")
    found = look_up(theirs, "07700 900123")
    assert "Avon&#39;s" not in found.text and "Nobody registered with this force" in found.text
    # Nor can they act on the resident by their reference.
    resident = db.session.scalars(select(Resident)).one()
    token = form_token(theirs, "/admin/residents")
    theirs.post(
        "/admin/residents/stop",
        data={"reference": str(resident.reference), "channel": "sms", "csrf_token": token},
    )
    assert "not registered with this force" in theirs.get("/admin/residents").text
    assert db.session.scalar(select(ResidentChannel.unsubscribed_at)) is None
    theirs.post(
        "/admin/residents/delete",
        data={"reference": str(resident.reference), "confirm": "yes", "csrf_token": token},
    )
    assert db.session.scalars(select(Resident)).one() == resident
    # Each attempt is recorded as a refusal, as another force's page is (none was).
    db.session.rollback()
    refused = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "access.refused")
    ).all()
    assert [(e.actor_id, e.details["route"]) for e in refused] == [
        (wilts.id, "/admin/residents/stop"),
        (wilts.id, "/admin/residents/delete"),
    ]
    # Not an officer's page.
    officer = signed_in(app, make_officer(), "officer")
    assert officer.get("/admin/residents").status_code == 403


def test_a_stop_or_deletion_at_one_forces_desk_is_in_the_other_forces_log(
    app, make_officer, make_resident, second_force
):
    """Found by an outside check: Avon's desk stopped a border resident's texts, which
    stopped Wiltshire's too, and Wiltshire's log had nothing of it. Each other force the
    resident hears from has the event, saying which force's staff did it."""
    border = make_resident(postcode="BA1 1LN", also=("BA14 8AA",), sms="+447700900777")
    staff = signed_in(app, make_officer(role="admin"), "admin")
    token = form_token(staff, "/admin/residents")
    reference = str(border.reference)
    staff.post(
        "/admin/residents/stop",
        data={"reference": reference, "channel": "sms", "csrf_token": token},
    )
    staff.post(
        "/admin/residents/delete",
        data={"reference": reference, "confirm": "yes", "csrf_token": token},
    )
    theirs = db.session.scalars(
        select(AuditEvent).where(AuditEvent.force_id == second_force.id).order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.actor_id, e.details) for e in theirs] == [
        (
            "resident.unsubscribed_by_neighbour",
            None,
            {"resident": reference, "by_force": "Avon and Somerset", "channel": "sms"},
        ),
        (
            "resident.deleted_by_neighbour",
            None,
            {"resident": reference, "by_force": "Avon and Somerset"},
        ),
    ]
    wilts = signed_in(
        app, make_officer(role="admin", email="a@wilts.example", force_id=second_force.id), "admin"
    )
    page = wilts.get("/admin/audit").text
    assert "stopped at their request, by another force&#39;s staff" in page
