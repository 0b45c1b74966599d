"""Supervisors see what is waiting and what they approve (issue 12): landing on
Approvals, the count in the menu, the message to the supervisors on duty, the approval
page's words, counts, cost and time, Reject and Cancel told apart, and the all-clear
offered once."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import Alert, AuditEvent, Officer, OutboxMessage, ResidentNotice
from app.services.accounts import create_officer
from tests.factories import PASSWORDS, approval_form, approve_as_seen, form_token, signed_in

BS1_6AD = [-2.588230, 51.451967]


def circle(radius_m=2000):
    return {"kind": "circle", "center": BS1_6AD, "radius_m": radius_m}


def send(client, **payload):
    body = {"shapes": [circle()], "title": "Burglaries", "body": "Lock your doors."} | payload
    response = client.post("/officers/alerts", json=body)
    assert response.status_code == 201, response.json
    return response.json


@pytest.fixture
def street(make_resident):
    """Central Bristol: three on text, one of them also on voice, two by e-mail."""
    make_resident(postcode="BS1 6AD", sms="+447700900001")
    make_resident(postcode="BS1 6AD", sms="+447700900002", voice="+441174960002")
    make_resident(postcode="BS8 1TH", sms="+447700900003", email="a@example.invalid")
    make_resident(postcode="BS8 1TH", sms=None, email="b@example.invalid")


def supervisor(*, email: str, mobile: str | None = None, role: str = "supervisor") -> Officer:
    name = email.split("@")[0].title()
    return create_officer(
        email=email, name=name, role=role, password=PASSWORDS[role], mobile=mobile
    )


def sign_in_response(app, officer: Officer, role: str):
    client = app.test_client()
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post(
        "/sign-in", data={"email": officer.email, "password": PASSWORDS[role], "csrf_token": token}
    )


# --- landing and the menu -------------------------------------------------------------


def test_a_supervisor_lands_on_approvals_only_when_something_waits_for_them(
    app, officer_client, street
):
    boss = supervisor(email="sarge@police.example")
    assert sign_in_response(app, boss, "supervisor").headers["Location"] == "/officers/"

    send(officer_client, category="missing_person")
    assert sign_in_response(app, boss, "supervisor").headers["Location"] == "/officers/approvals"
    # Where they were going still wins.
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text).group(1)
    went = client.post(
        "/sign-in?next=/officers/alerts",
        data={"email": boss.email, "password": PASSWORDS["supervisor"], "csrf_token": token},
    )
    assert went.headers["Location"] == "/officers/alerts"

    # Their own alert waits for someone else: nothing waits for them.
    other = supervisor(email="inspector@police.example")
    own_client = signed_in(app, other, "supervisor")
    db.session.execute(text("UPDATE alerts SET status = 'rejected'"))
    db.session.commit()
    send(own_client, category="missing_person")
    assert sign_in_response(app, other, "supervisor").headers["Location"] == "/officers/"
    assert sign_in_response(app, boss, "supervisor").headers["Location"] == "/officers/approvals"


def test_the_menu_shows_how_many_wait_on_every_page(app, officer_client, street):
    boss_client = signed_in(app, supervisor(email="sarge@police.example"), "supervisor")
    assert "nav-count" not in boss_client.get("/officers/").text
    send(officer_client, category="missing_person")
    send(officer_client, category="missing_person", title="Second")
    for path in ("/officers/", "/officers/alerts", "/officers/inbox", "/analysts/density"):
        page = boss_client.get(path).text
        assert '>Approvals <span class="nav-count">(2)</span></a>' in page, path
    # Officers have no Approvals; nothing to count for them.
    assert ">Approvals" not in officer_client.get("/officers/").text
    admin_client = signed_in(app, supervisor(email="admin@police.example", role="admin"), "admin")
    assert 'Approvals <span class="nav-count">(2)' in admin_client.get("/officers/").text


# --- telling the supervisors on duty ------------------------------------------------


def test_supervisors_on_duty_get_a_text_or_an_email_with_a_link(
    app, officer_client, street, run_worker
):
    texted = supervisor(email="texted@police.example", mobile="07700 900777")
    mailed = supervisor(email="mailed@police.example")
    admin = supervisor(email="admin@police.example", role="admin")
    off_duty = supervisor(email="home@police.example", mobile="07700 900778")
    disabled = supervisor(email="gone@police.example")
    for officer, role in ((texted, "supervisor"), (mailed, "supervisor"), (admin, "admin")):
        signed_in(app, officer, role)
    signed_in(app, disabled, "supervisor")
    disabled.active = False
    gone_home = signed_in(app, off_duty, "supervisor")
    gone_home.post("/sign-out", data={"csrf_token": form_token(gone_home, "/officers/")})
    db.session.commit()

    alert_id = send(officer_client, title="Dog stolen", category="missing_person")["alert_id"]
    run_worker()
    sent = {m.recipient: m for m in db.session.scalars(select(OutboxMessage))}
    assert set(sent) == {"+447700900777", "mailed@police.example", "admin@police.example"}
    link = f"http://127.0.0.1:5000/officers/alerts/{alert_id}"  # PUBLIC_BASE_URL + path
    text_message = sent["+447700900777"]
    assert text_message.channel == "sms"
    assert text_message.body == (
        'URGENT - Missing person alert waiting for your approval: "Dog stolen" by Test Officer,'
        f" to fewer than 5 residents. Approve or reject: {link}"
    )
    mail = sent["mailed@police.example"]
    assert mail.channel == "email"
    assert mail.subject == "URGENT: Missing person alert waiting for your approval: Dog stolen"
    assert link in mail.body
    # A member of staff is not told to call 101 to stop these e-mails (a resident is).
    assert "101" not in mail.body and "To stop" not in mail.body
    notices = db.session.scalars(select(ResidentNotice)).all()
    assert {(n.kind, n.resident_id, n.status) for n in notices} == {
        ("approval_request", None, "delivered")
    }
    told = db.session.scalar(
        select(AuditEvent.details).where(AuditEvent.action == "alert.approval_requested")
    )
    assert told == {"approvers_told": 3}


def test_an_alert_waiting_for_approval_is_marked_urgent_only_for_a_missing_person(
    app, monkeypatch, officer_client, street, run_worker
):
    monkeypatch.setitem(app.config, "APPROVAL_THRESHOLD", 1)
    signed_in(app, supervisor(email="sarge@police.example", mobile="07700 900777"), "supervisor")
    send(officer_client, title="Car crime", mode="exercise")
    run_worker()
    body = db.session.scalar(select(OutboxMessage.body))
    assert body.startswith('EXERCISE. Incident alert waiting for your approval: "Car crime"')
    assert "URGENT" not in body


def test_when_nobody_is_on_duty_every_active_supervisor_is_told_never_the_author(
    app, street, run_worker
):
    author = supervisor(email="author@police.example")
    supervisor(email="one@police.example")
    supervisor(email="two@police.example", mobile="07700 900779")
    idle = supervisor(email="idle@police.example")
    idle.active = False
    db.session.commit()
    send(signed_in(app, author, "supervisor"), category="missing_person")
    run_worker()
    recipients = set(db.session.scalars(select(OutboxMessage.recipient)))
    # The author is signed in, but may not approve their own alert.
    assert recipients == {"one@police.example", "+447700900779"}


def test_the_supervisors_messages_are_queued_only_after_the_request_is_committed(
    app, monkeypatch, officer, officer_client, street
):
    from app.services import notices

    signed_in(app, supervisor(email="sarge@police.example"), "supervisor")
    seen = []

    def enqueue(ledger, ids, **_):
        # A connection of its own sees only what is committed.
        with db.engine.connect() as other:
            seen.append(
                (
                    ledger.name,
                    other.execute(text("SELECT status FROM alerts")).scalar(),
                    other.execute(
                        text("SELECT count(*) FROM resident_notices WHERE id = ANY(:ids)"),
                        {"ids": list(ids)},
                    ).scalar(),
                )
            )

    monkeypatch.setattr(notices.outbound, "enqueue", enqueue)
    send(officer_client, category="missing_person")
    assert seen == [("notices", "pending_approval", 1)]

    # A request that fails after the messages were written keeps neither.
    from app.services.alerts import NotAllowed, submit_alert, submitting

    def refuse(*_args, **_kwargs):
        raise NotAllowed("no")

    monkeypatch.setattr(submitting, "transition", refuse)
    with pytest.raises(NotAllowed):
        submit_alert(officer, shapes=[circle()], title="T", body="B", category="missing_person")
    assert db.session.scalar(text("SELECT count(*) FROM resident_notices")) == 1
    assert db.session.scalar(text("SELECT count(*) FROM alerts")) == 1
    assert len(seen) == 1


# --- what the supervisor approves ---------------------------------------------------


def test_the_approval_page_shows_each_channels_words_count_cost_and_time(
    app, monkeypatch, officer_client, supervisor_client, street
):
    monkeypatch.setitem(app.config, "DENSITY_MIN_COUNT", 2)
    alert_id = send(
        officer_client,
        title="Missing child",
        body="Sam, 7, red coat. Seen near Old Market.",
        category="missing_person",
        question="Have you seen Sam?",
        answer_options=["Yes", "No"],
    )["alert_id"]
    page = supervisor_client.get(f"/officers/alerts/{alert_id}").text
    review = page[page.index('id="review"') : page.index('id="decision-heading"')]
    reference = db.session.get(Alert, alert_id).reference
    # The text as residents will get it, with its public reference and its parts; the
    # e-mail; the call's script.
    assert (
        "Missing child: Sam, 7, red coat. Seen near Old Market.\nHave you seen Sam? "
        f"Reply 1 for Yes, 2 for No.\n- Avon and Somerset Police. Ref {reference}. "
        "Reply STOP to stop."
    ) in review
    assert "2 parts each" in review  # 162 characters with the reference
    assert f"Reference: {reference}\nCheck this message is genuine: http" in review
    assert "Avon and Somerset Police: Missing child" in review  # the e-mail's subject
    assert "Have you seen Sam? Answer here:" in review
    assert "This is a message from Avon and Somerset Police. Missing child." in review
    # Counted now: 3 texts, 2 e-mails, and 1 call, which is hidden as under 2.
    assert "<strong>3 texts</strong>" in review
    assert "<strong>2 e-mails</strong>" in review
    assert "<strong>fewer than 2 calls</strong>" in review
    assert "<strong>1 call" not in review
    # A hidden count is costed at its most (1 call), never exactly.
    assert re.search(r'class="review-cost">at most £0\.2[0-9]</strong>', review)
    assert "· free" in review  # e-mail
    assert re.search(r'class="review-time">under a minute</strong>', review)
    assert re.search(r'class="review-residents">4</strong>', review)
    assert "URGENT" in review
    assert "It will go to <strong>4</strong> residents" in page

    # The list says the same, and that it is urgent.
    listed = supervisor_client.get("/officers/approvals").text
    assert re.search(r'class="review-residents">4</strong>', listed)
    assert "What residents will get: 3 texts, fewer than 2 calls, 2 e-mails" in listed
    assert 'class="tag urgent-tag">URGENT' in listed
    # In Welsh, in Welsh (English words on a Welsh page: an outside check).
    welsh = supervisor_client.get("/officers/approvals?lang=cy").text
    assert "3 neges destun, llai na 2 galwad, 2 e-bost" in welsh
    welsh_review = supervisor_client.get(f"/officers/alerts/{alert_id}?lang=cy").text
    assert "<strong>3 neges destun</strong>" in welsh_review
    # The English words residents get, marked so on the Welsh page (read as Welsh).
    assert '<p class="sample" lang="en-GB">' in welsh_review
    assert not re.search(r"\d (texts|calls|e-mails)\b", welsh + welsh_review)


def test_the_approval_page_plays_the_officers_recording(
    app, officer_client, supervisor_client, street
):
    from tests.test_composing_and_approval import upload, wav

    recording = upload(officer_client, wav(5)).json
    alert_id = send(
        officer_client, category="missing_person", recording_id=recording["id"], channels=["voice"]
    )["alert_id"]
    page = supervisor_client.get(f"/officers/alerts/{alert_id}").text
    assert f'<audio controls preload="none" aria-labelledby="recording-label-{alert_id}"' in page
    assert f'src="{recording["url"]}"' in page
    assert "Your recording, 5 seconds, played twice." in page
    # Only the channel it uses.
    assert f'id="review-{alert_id}-voice"' in page
    assert f'id="review-{alert_id}-sms"' not in page


def test_reject_and_cancel_look_and_read_differently(officer_client, supervisor_client, street):
    alert_id = send(officer_client, category="missing_person")["alert_id"]
    page = supervisor_client.get(f"/officers/alerts/{alert_id}").text
    reject = re.search(r'<button type="submit" class="([^"]+)">Reject and say why</button>', page)
    cancel = re.search(r'<button type="submit" class="([^"]+)">Cancel this alert</button>', page)
    assert reject and cancel
    assert "warning" not in reject.group(1) and "secondary" in reject.group(1)
    assert cancel.group(1) == "button warning"
    assert ">Reject</button>" not in page


def test_a_scheduled_alert_is_approved_for_the_count_its_page_showed_or_not_at_all(
    app, monkeypatch, officer_client, supervisor_client, make_resident
):
    """Found by a re-check: a scheduled alert approved for 1 resident, 24 in its area,
    was approved; only one going now was checked."""
    from datetime import UTC, datetime, timedelta

    from tests.factories import approval_form

    monkeypatch.setitem(app.config, "APPROVAL_THRESHOLD", 1)
    for n in range(8):
        make_resident(postcode="BS1 6AD", sms=f"+4477009006{n:02d}")
    send_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    alert_id = send(officer_client, send_at=send_at)["alert_id"]
    url = f"/officers/alerts/{alert_id}"
    form = approval_form(supervisor_client, url)
    assert form["expected_residents"] == "8"
    refused = supervisor_client.post(
        url + "/approve", data={**form, "expected_residents": "1"}, follow_redirects=True
    )
    assert "now reaches 8 residents, not fewer than 5" in refused.text
    db.session.expire_all()
    assert db.session.get(Alert, alert_id).status == "pending_approval"
    assert supervisor_client.post(url + "/approve", data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(Alert, alert_id).status == "scheduled"


def test_rejecting_what_was_decided_meanwhile_says_so_whatever_the_reason(
    officer_client, supervisor_client, street
):
    """A second supervisor's reject with no reason, the alert approved meanwhile, was
    shown the alert's page with no message at all: the reason's box is drawn only while
    it waits (an outside check). Whether it may be rejected is said first."""
    alert_id = send(officer_client, category="missing_person")["alert_id"]
    token = form_token(supervisor_client, f"/officers/alerts/{alert_id}")
    approve_as_seen(supervisor(email="first@police.example"), alert_id)
    for reason in ("", "   ", "a\x00b"):
        answer = supervisor_client.post(
            f"/officers/alerts/{alert_id}/reject",
            data={"csrf_token": token, "reason": reason},
            follow_redirects=True,
        )
        assert answer.status_code == 200
        assert "nothing to reject" in answer.text, reason
    assert db.session.get(Alert, alert_id).rejection_reason is None


@pytest.mark.parametrize("first", ["reject", "cancel"])
def test_a_decision_taken_meanwhile_is_seen_under_the_lock(app, officer_client, street, first):
    """Approve and Reject pressed at once both won: the alert went to every resident
    and its page read "rejected" (an outside check: 9 tries in 12). The one that waited
    for the lock decided on the alert as it had read it before. Here the second
    decision holds the alert as a request does (read first, in its transaction), while
    the first is taken and committed on another connection."""
    import threading

    from app.models import Delivery
    from app.services.alerts import NotAllowed, cancel_alert
    from app.services.alerts.approval import reject_alert

    alert_id = send(officer_client, category="missing_person")["alert_id"]
    first_id = supervisor(email="first@police.example").id
    second = supervisor(email="second@police.example")
    held = db.session.get(Alert, alert_id)  # as a view reads it, and holds it
    assert held.status == "pending_approval"

    def decide() -> None:
        with app.app_context():
            officer = db.session.get(Officer, first_id)
            if first == "reject":
                reject_alert(officer, alert_id, "Wrong street.")
            else:
                cancel_alert(officer, alert_id)

    meanwhile = threading.Thread(target=decide)
    meanwhile.start()
    meanwhile.join()
    with pytest.raises(NotAllowed):
        approve_as_seen(second, alert_id)
    db.session.expire_all()
    assert db.session.get(Alert, alert_id).status == (
        "rejected" if first == "reject" else "cancelled"
    )
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0
    if first == "cancel":  # nor rejected after it was cancelled
        with pytest.raises(NotAllowed):
            reject_alert(second, alert_id, "Too late.")


def test_the_all_clear_is_offered_until_one_has_gone(officer_client, street, run_worker):
    first = send(officer_client, channels=["sms"])["alert_id"]
    run_worker()
    page = officer_client.get(f"/officers/alerts/{first}").text
    assert "Send the all-clear" in page and "Send an update" in page

    all_clear = send(
        officer_client,
        shapes=[],
        audience="parent",
        parent_id=first,
        category="all_clear",
        title="All clear",
        body="The man has been arrested.",
        channels=["sms"],
    )["alert_id"]
    for alert_id in (first, all_clear):  # the original, and any alert of its thread
        page = officer_client.get(f"/officers/alerts/{alert_id}").text
        assert "Send the all-clear" not in page
        assert "Send an update" in page
        assert "The all-clear has gone to residents" in page
    # Asked for by its address, it is an update instead, and says why.
    form = officer_client.get(f"/officers/?follow_up={first}&kind=all_clear").text
    assert "The all-clear for this alert has gone already: this is an update." in form
    assert '<option value="update" selected>' in form
    assert '<option value="all_clear" selected>' not in form


def test_an_alert_that_never_went_has_no_update_nor_all_clear(
    officer_client, supervisor_client, street
):
    """Found by an outside check: an update of an alert waiting for approval, or of a
    rejected one, drawn to an area went at once (201), and residents had an update to
    an alert they never got. Refused, whichever way it is asked, and nothing written."""
    from app.extensions import db
    from app.models import Alert

    pending = send(officer_client, category="missing_person")["alert_id"]
    follow_ups = (
        {"parent_id": pending, "title": "Update", "body": "Seen in town."},
        {"parent_id": pending, "audience": "parent", "shapes": []},
        {"parent_id": pending, "category": "all_clear", "title": "Found", "body": "Safe."},
    )

    def refused() -> None:
        for extra in follow_ups:
            body = {"shapes": [circle()], "title": "Burglaries", "body": "Lock up."} | extra
            response = officer_client.post("/officers/alerts", json=body)
            assert response.status_code == 400, (extra, response.json)
            assert "has not been sent" in response.json["error"]
        db.session.rollback()
        assert db.session.query(Alert).count() == 1
        page = officer_client.get(f"/officers/?follow_up={pending}")
        assert page.status_code == 302 and page.location.endswith(f"/officers/alerts/{pending}")
        shown = officer_client.get(page.location).text
        assert "That alert has not been sent: only an alert that went can have" in shown

    refused()
    token = re.search(
        r'name="csrf_token" value="([^"]+)"',
        supervisor_client.get(f"/officers/alerts/{pending}").text,
    ).group(1)
    rejected = supervisor_client.post(
        f"/officers/alerts/{pending}/reject",
        data={"reason": "Add what he was wearing.", "csrf_token": token},
    )
    assert rejected.status_code in (200, 302, 303)
    db.session.rollback()
    assert db.session.get(Alert, pending).status == "rejected"
    refused()


def test_a_second_tap_on_approve_says_what_the_first_did(officer_client, supervisor_client, street):
    """Found by an outside check: a double tap on "Approve and send" showed "Approved:
    it is going out now." and "This alert is sending: nothing to approve." together.
    The supervisor's own approval just made is said again; one alert goes."""
    alert_id = send(officer_client, category="missing_person")["alert_id"]
    url = f"/officers/alerts/{alert_id}"
    form = approval_form(supervisor_client, url)
    for _ in range(2):
        assert supervisor_client.post(url + "/approve", data=form).status_code == 302
    page = supervisor_client.get(url).text
    assert "Approved: it is going out now." in page
    assert "nothing to approve" not in page
    # Not this supervisor's approval (another's, or none): told what happened.
    from app.extensions import db
    from app.models import Alert

    db.session.get(Alert, alert_id).decided_by_id = None
    db.session.commit()
    supervisor_client.post(url + "/approve", data=form)
    assert "nothing to approve" in supervisor_client.get(url).text


def test_a_cancelled_all_clear_does_not_count_as_gone(officer_client, street, run_worker):
    first = send(officer_client, channels=["sms"])["alert_id"]
    run_worker()
    all_clear = send(
        officer_client,
        shapes=[],
        audience="parent",
        parent_id=first,
        category="all_clear",
        title="All clear",
        body="B",
        channels=["sms"],
    )["alert_id"]
    token = form_token(officer_client, f"/officers/alerts/{all_clear}")
    officer_client.post(
        f"/officers/alerts/{all_clear}/cancel", data={"csrf_token": token, "confirm": "yes"}
    )
    assert db.session.get(Alert, all_clear).status == "cancelled"
    assert "Send the all-clear" in officer_client.get(f"/officers/alerts/{first}").text


def test_every_e_mail_to_staff_is_known_as_one():
    """Staff e-mails end without the residents' way to stop them: each kind is listed."""
    from app.services.alerts import approval_requests, cross_border
    from app.services.notices import STAFF_KINDS

    assert {approval_requests.NOTICE_KIND, cross_border.NOTICE_KIND} <= STAFF_KINDS


@pytest.mark.parametrize("later", [False, True])
def test_approving_says_so_in_the_supervisors_language(
    app, monkeypatch, officer_client, supervisor_client, street, later
):
    # English words joined ("Approved: " + "it will go at 18:00 on 04 Dec") on a
    # Welsh page (an outside check).
    from datetime import UTC, datetime, timedelta

    monkeypatch.setitem(app.config, "APPROVAL_THRESHOLD", 1)
    send_at = (datetime.now(UTC) + timedelta(days=2)).replace(hour=17, minute=30, second=0)
    extra = {"send_at": send_at.isoformat()} if later else {}
    alert_id = send(officer_client, **extra)["alert_id"]
    url = f"/officers/alerts/{alert_id}"
    supervisor_client.get(url + "?lang=cy")
    answer = supervisor_client.post(url + "/approve", data=approval_form(supervisor_client, url))
    page = supervisor_client.get(answer.headers["Location"]).text
    if later:
        assert "Wedi'i gymeradwyo: bydd yn mynd ar " in page.replace("&#39;", "'")
        assert "Approved" not in page
    else:
        assert "Wedi'i gymeradwyo: mae'n mynd allan nawr." in page.replace("&#39;", "'")
