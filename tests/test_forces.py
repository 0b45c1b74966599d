"""Many forces in one installation (issue 16): a resident's places each belong to the
force whose area holds them; an officer previews and sends only to their own force's
places; every staff route, tried by staff of another force, shows nothing of the
first force's and finds none of its alerts, accounts, teams or imports."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, text

from app.cli.demo import SECOND_FORCE
from app.dao.places import find_postcode
from app.dao.targeting import Audience, count_targets, preview_area
from app.extensions import db
from app.models import (
    MAX_ID,
    Alert,
    AuditEvent,
    Force,
    Officer,
    OutboxMessage,
    Reply,
    Resident,
    ResidentChannel,
    ResidentLocation,
    ResidentNotice,
    StaffSession,
    Team,
)
from app.models.officer import AccountLink
from app.services.accounts import AccountError, invite_officer
from app.services.alerts import AlertDraft, submit_alert
from app.services.authorisation import ENDPOINTS, MATRIX_ROLES, access
from app.services.forces import ForceRefused, add_force
from app.services.postcode_check import PostcodeRefused, check_postcode
from app.services.resident_import import create_import, run_import
from tests.factories import default_force_id, form_token, postcode_place, signed_in
from tests.test_authorisation_matrix import World, request_for, staff_rules
from tests.test_residents import page_token, resident_client  # noqa: F401 (a fixture)

BATH = "BA1 1RG"  # Bath and North East Somerset: Avon and Somerset
TROWBRIDGE = "BA14 6AA"  # Wiltshire, in the same postcode area
# Around both: 15 km from between Bath and Trowbridge.
BOTH = [{"kind": "circle", "center": [-2.28, 51.35], "radius_m": 15_000}]


def _force_of_places(resident) -> dict[str, int | None]:
    rows = db.session.execute(
        select(ResidentLocation.postcode, ResidentLocation.force_id).where(
            ResidentLocation.resident_id == resident.id
        )
    ).all()
    return dict(rows)


def _resident_at(*postcodes: str, sms: str) -> Resident:
    """A resident with places at these postcodes, whichever force's (or none's) they
    are: as an installation's residents were before a force was added."""
    resident = Resident(name="Border", confirmed_at=func.now())
    for shown in postcodes:
        postcode = find_postcode(shown.replace(" ", ""))
        resident.locations.append(
            ResidentLocation(postcode=postcode.postcode, location=postcode.location)
        )
    resident.channels.append(ResidentChannel(channel="sms", address=sms, verified_at=func.now()))
    db.session.add(resident)
    db.session.commit()
    return resident


def test_a_place_is_the_force_whose_districts_hold_it(app_ctx, make_resident):
    default = default_force_id()
    # With one force, every place is its own: a single-force installation as before.
    border = _resident_at(BATH, TROWBRIDGE, sms="+447700900101")
    assert set(_force_of_places(border).values()) == {default}
    # The second force added: the place in its districts moves to it, and only that one.
    wilts, moved = add_force(**SECOND_FORCE)
    assert moved == 1
    assert _force_of_places(border) == {"BA11RG": default, "BA146AA": wilts.id}
    targets = dict(
        db.session.execute(
            text(
                "SELECT l.postcode, t.force_id FROM targets t JOIN resident_locations l"
                " ON l.id = t.location_id WHERE t.resident_id = :r"
            ),
            {"r": border.id},
        ).all()
    )
    assert targets == {"BA11RG": default, "BA146AA": wilts.id}
    # A place saved later gets its force at once.
    later = make_resident(postcode=TROWBRIDGE, sms="+447700900102")
    assert _force_of_places(later) == {"BA146AA": wilts.id}


def test_adding_a_force_refuses_what_it_cannot_use(app_ctx, second_force):
    for fields, words in (
        ({"code": "X1", "name": "Nowhere"}, "not a police force area code"),
        ({"code": "E23000038", "name": "Again"}, "already a force with the code"),
        ({"code": "E23000099", "name": "Unmapped"}, "No boundary is loaded"),
        ({"code": "E23000037", "name": "  "}, "Give the force's name"),
        ({"code": "E23000037", "name": "Glos", "slug": "Bad Slug!"}, "slug"),
        ({"code": "E23000037", "name": "Wiltshire"}, "already a force at /forces/wiltshire"),
    ):
        with pytest.raises(ForceRefused, match=words):
            add_force(contact="101", **fields)
    assert db.session.scalar(select(func.count()).select_from(Force)) == 2


def test_an_officer_reaches_only_their_own_forces_places(
    app, make_officer, make_resident, second_force
):
    default = default_force_id()
    make_resident(postcode=BATH, also=(TROWBRIDGE,), sms="+447700900111", name="Border")
    make_resident(postcode=BATH, sms="+447700900112", name="Bath only")
    make_resident(postcode=TROWBRIDGE, sms="+447700900113", name="Wiltshire only")
    ours = make_officer(role="officer", email="ours@police.example")
    theirs = make_officer(role="officer", email="theirs@wilts.example", force_id=second_force.id)
    # The same circle, over both forces' places: each officer counts their own.
    for force_id, expected in ((default, 2), (second_force.id, 2)):
        audience = Audience(force_id=force_id, area_wkb=_area(BOTH))
        assert count_targets(db.session, audience)["residents"] == expected
        fast = preview_area(db.session, audience, cell_m=500, min_count=0)
        assert fast.residents == expected
    # And the send reaches exactly those: the border resident once from each force.
    sent_ours = submit_alert(ours, AlertDraft(shapes=BOTH, title="Ours", body="B"))
    sent_theirs = submit_alert(theirs, AlertDraft(shapes=BOTH, title="Theirs", body="B"))
    assert sent_ours.alert.force_id == default and sent_theirs.alert.force_id == second_force.id
    reached = {
        alert_id: sorted(names)
        for alert_id, names in db.session.execute(
            text(
                "SELECT d.alert_id, array_agg(r.name) FROM deliveries d"
                " JOIN residents r ON r.id = d.resident_id GROUP BY d.alert_id"
            )
        ).all()
    }
    assert reached == {
        sent_ours.alert.id: ["Bath only", "Border"],
        sent_theirs.alert.id: ["Border", "Wiltshire only"],
    }


def _area(shapes) -> bytes:
    from geo.areas import area_from_shapes

    return area_from_shapes(shapes).wkb


def test_registration_takes_a_postcode_of_any_force_and_names_them(app_ctx):
    with pytest.raises(PostcodeRefused, match="outside the area Avon and Somerset Police covers"):
        check_postcode(TROWBRIDGE)
    add_force(**SECOND_FORCE)
    checked = check_postcode(TROWBRIDGE)
    assert checked.in_force and checked.force_names == ["Wiltshire"]
    assert check_postcode(BATH).force_names == ["Avon and Somerset"]
    # Gloucester is neither's: the refusal names both.
    with pytest.raises(PostcodeRefused, match="Avon and Somerset Police or Wiltshire Police cover"):
        check_postcode("GL1 1AD")


def test_an_address_has_one_account_whichever_force(app_ctx, make_officer, second_force):
    make_officer(role="officer", email="taken@police.example")
    admin = make_officer(role="admin", email="admin@wilts.example", force_id=second_force.id)
    # Refused without saying the other force has it (an outside check).
    with pytest.raises(AccountError, match="cannot have an account here"):
        invite_officer(admin, email="taken@police.example", name="Someone", role="officer")


@pytest.mark.timeout(900)
def test_staff_of_another_force_find_nothing_of_the_first_on_any_route(
    app, make_officer, make_resident, second_force
):
    """Every staff route, tried by every role of the second force with the first
    force's alerts, accounts, teams and imports: never found (404) or refused (403),
    and no page shows anything of the first force's."""
    world = World(app, make_officer, make_resident)
    # A resident's reply to one of its alerts, and a message the outbox caught.
    db.session.add(
        Reply(
            provider_ref="SM-forces-test",
            alert_id=world.shared["own"],
            channel="sms",
            address="+447700900001",
            body="Marker reply from a resident",
            kind="message",
        )
    )
    db.session.add(
        OutboxMessage(
            alert_id=world.shared["own"],
            channel="sms",
            recipient="+447700900001",
            body="Marker outbox message",
        )
    )
    db.session.commit()
    seen = {
        "titles": list(db.session.scalars(select(Alert.title))),
        "emails": [o.email for o in world.staff.values()]
        + ["own@police.example", "other@police.example"],
        "teams": ["Own team", "Other team", "Spare team"],
        "import": ["ZZ99 9ZZ"],
        "residents": ["Marker reply", "Marker outbox", "+447700900001", "900001"],
    }
    staff = {
        role: make_officer(role=role, email=f"{role}@wilts.example", force_id=second_force.id)
        for role in MATRIX_ROLES
    }
    # The same routes with ids that name nothing: another force's must look the same.
    nothing = SimpleNamespace(
        shared={"own": MAX_ID},
        alert=lambda scope: MAX_ID,
        asked_alert=lambda: MAX_ID,
        spare_officer=SimpleNamespace(id=MAX_ID),
        import_id=MAX_ID,
        spare_team=SimpleNamespace(id=MAX_ID),
        reply_id=MAX_ID,
        ward_id=world.ward_id,
    )
    tried = 0
    for role in MATRIX_ROLES:
        client = signed_in(app, staff[role], role)
        for rule in staff_rules(app):
            ids = set(rule.arguments) & {"alert_id", "officer_id", "import_id", "team_id"}
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                answer = request_for(world, client, rule, method, "own", role)
                where = (role, method, rule.rule, answer.status_code)
                assert answer.status_code < 500, where
                if ids:
                    absent = request_for(nothing, client, rule, method, "own", role)
                    assert answer.status_code == absent.status_code, where
                    # Not found, never a redirect to a page that says so: a change
                    # posted to another force's account went unaudited (an outside check).
                    assert answer.status_code in (403, 404), where
                elif access(role, ENDPOINTS[rule.endpoint]) == "no":
                    assert answer.status_code == 403, where
                body = answer.get_data(as_text=True)
                for kind, words in seen.items():
                    for word in words:
                        assert word not in body, (*where, kind, word)
                tried += 1
    assert tried > 200
    # Nothing of the first force's changed hands: no decision, no cancellation by them.
    strangers = {o.id for o in staff.values()}
    assert not set(db.session.scalars(select(Alert.decided_by_id))) & strangers
    assert not set(db.session.scalars(select(Alert.cancelled_by_id))) & strangers
    firsts = [*world.staff.values(), world.own_author, world.other_author, world.spare_officer]
    db.session.expire_all()
    assert all(o.active for o in firsts) and {o.role for o in firsts} >= {"officer", "admin"}
    links = select(func.count()).select_from(AccountLink)
    assert not db.session.scalar(
        links.where(
            AccountLink.created_by_id.in_(strangers),
            AccountLink.officer_id.in_([o.id for o in firsts]),
        )
    )
    firsts_teams = select(Team).where(Team.force_id == default_force_id())
    assert {t.name for t in db.session.scalars(firsts_teams)} == {
        "Own team",
        "Other team",
        "Spare team",
    }
    # Their own actions are in their own force's audit log, not the first force's.
    logged = db.session.execute(
        select(AuditEvent.force_id).where(AuditEvent.actor_id.in_(strangers)).distinct()
    ).scalars()
    assert set(logged) <= {second_force.id}


def test_a_change_posted_to_another_forces_account_is_not_found_and_audited(
    app, make_officer, second_force
):
    """Found by an outside check: another force's administrator posting a change of
    role, mobile, password or sign-in to an account of the first was answered with a
    redirect to a page saying there is no such account; nothing changed, but the posts
    left no trace (only the redirect's page, if followed, was audited)."""
    account = make_officer(role="officer", email="pc@avon.example")
    stranger = make_officer(role="admin", email="admin@wilts.example", force_id=second_force.id)
    client = signed_in(app, stranger, "admin")
    posts = {
        f"/admin/officers/{account.id}/role": {"role": "analyst"},
        f"/admin/officers/{account.id}/mobile": {"mobile": "07700 900555"},
        f"/admin/officers/{account.id}/reset": {},
        f"/admin/officers/{account.id}/disable": {},
    }
    for path, form in posts.items():
        assert client.post(path, data=form).status_code == 404, path
    refused = db.session.scalars(
        select(AuditEvent.details).where(
            AuditEvent.action == "access.refused", AuditEvent.actor_id == stranger.id
        )
    ).all()
    assert sorted(event["route"] for event in refused) == sorted(
        [
            "/admin/officers/<int:officer_id>/role",
            "/admin/officers/<int:officer_id>/mobile",
            "/admin/officers/<int:officer_id>/reset",
            "/admin/officers/<int:officer_id>/<any(disable, enable):action>",
        ]
    )
    db.session.expire_all()
    assert db.session.get(type(account), account.id).role == "officer"


def test_an_answer_posted_to_another_forces_reply_is_not_found_and_audited(
    app, make_officer, make_resident, second_force
):
    """Found by an outside check: another force's officer posting an answer to a
    resident's reply of the first force was redirected ("That reply cannot be
    answered"), the post unaudited. Not found, audited as a refusal; nothing sent."""
    resident = make_resident(postcode="BS1 6AD", sms="+447700900171")
    reply = Reply(
        provider_ref="SM-answer-other-force",
        channel="sms",
        address="+447700900171",
        body="Who do I call?",
        kind="message",
        resident_id=resident.id,
    )
    db.session.add(reply)
    db.session.commit()
    stranger = make_officer(role="officer", email="pc@wilts.example", force_id=second_force.id)
    client = signed_in(app, stranger, "officer")
    posted = client.post(f"/officers/replies/{reply.id}/answer", data={"words": "Call 101."})
    assert posted.status_code == 404
    refused = db.session.scalars(
        select(AuditEvent.details).where(
            AuditEvent.action == "access.refused", AuditEvent.actor_id == stranger.id
        )
    ).all()
    assert [event["route"] for event in refused] == ["/officers/replies/<int:reply_id>/answer"]
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_an_import_is_checked_against_its_administrators_force(app_ctx, make_officer, second_force):
    admin = make_officer(role="admin", email="admin@wilts.example", force_id=second_force.id)
    record = create_import(
        admin,
        filename="wilts.csv",
        content=f"name,postcode,mobile\nIn,{TROWBRIDGE},07700 900120\nOut,{BATH},07700 900121\n",
        notify=False,
    )
    run_import(record.id, dry_run=True)
    db.session.expire_all()
    report = db.session.get(type(record), record.id).report
    assert report["accepted"] == 1, report
    assert "outside the force area: Bath and North East Somerset" in str(report["rejected"])


def test_the_registration_form_says_which_forces_alert_a_place(app, client, second_force):
    found = postcode_place(client, TROWBRIDGE)
    assert found.status_code == 200
    assert found.json["forces"] == "Alerts for this place come from: Wiltshire."
    home = postcode_place(client, BATH).json
    assert home["forces"] == "Alerts for this place come from: Avon and Somerset."
    outside = postcode_place(client, "GL1 1AD")
    assert outside.status_code == 400
    assert "Avon and Somerset Police or Wiltshire Police cover" in outside.json["error"]


def test_each_force_publishes_its_own_alerts_pages_and_feeds(
    app, client, make_officer, make_resident, second_force, run_worker
):
    make_resident(postcode=BATH, sms="+447700900131")
    make_resident(postcode=TROWBRIDGE, sms="+447700900132")
    ours = make_officer(role="officer", email="ours@police.example")
    theirs = make_officer(role="officer", email="theirs@wilts.example", force_id=second_force.id)
    mine = submit_alert(
        ours, AlertDraft(shapes=BOTH, title="Bath burglaries", body="Lock up.")
    ).alert
    wilts = submit_alert(
        theirs, AlertDraft(shapes=BOTH, title="Trowbridge thefts", body="Lock sheds.")
    ).alert
    run_worker()
    # The default force's pages: its alert only, at the plain addresses.
    listed = client.get("/alerts").text
    assert "Bath burglaries" in listed and "Trowbridge thefts" not in listed
    assert client.get(f"/alerts/{wilts.reference}").status_code == 404
    # The second force's, under /forces/<slug>/: its own, its name, links kept under it.
    theirs_listed = client.get("/forces/wiltshire/alerts")
    assert theirs_listed.status_code == 200
    assert "Trowbridge thefts" in theirs_listed.text and "Bath burglaries" not in theirs_listed.text
    assert f'href="/forces/wiltshire/alerts/{wilts.reference}"' in theirs_listed.text
    page = client.get(f"/forces/wiltshire/alerts/{wilts.reference}")
    assert page.status_code == 200 and "Wiltshire Police" in page.text
    assert "Avon and Somerset" not in page.text
    assert client.get(f"/forces/wiltshire/alerts/{mine.reference}").status_code == 404
    cap = client.get(f"/forces/wiltshire/alerts/{wilts.reference}/cap.xml").text
    assert "<senderName>Wiltshire Police</senderName>" in cap
    assert f"/forces/wiltshire/alerts/{wilts.reference}" in cap
    feed = client.get("/forces/wiltshire/alerts/feed/en.atom").text
    assert wilts.reference in feed and mine.reference not in feed
    rss = client.get("/forces/wiltshire/alerts/feed/en.rss").text
    assert wilts.reference in rss and mine.reference not in rss and "Wiltshire Police" in rss
    assert mine.reference in client.get("/alerts/feed/en.rss").text
    assert wilts.reference not in client.get("/alerts/feed/en.rss").text
    assert mine.reference in client.get("/alerts/feed/cap.atom").text
    assert wilts.reference not in client.get("/alerts/feed/cap.atom").text
    # Its title names it once; a page not found under its address is its page; its
    # sign-up form's postcode check answers in JSON even when the page has expired.
    assert "<title>Alerts – Wiltshire Police</title>" in theirs_listed.text
    missing = client.get("/forces/wiltshire/alerts/feed/en.json")
    assert missing.status_code == 404
    assert "Wiltshire Police" in missing.text and "Avon and Somerset" not in missing.text
    expired = client.post("/register/postcode", data={"postcode": TROWBRIDGE})
    assert expired.status_code == 400 and expired.json["reason"] == "expired"
    # No such force; the default force's slug leads to its one address (a link built
    # from the slug its admin's page names answered 404: an outside check).
    assert client.get("/forces/nowhere/alerts").status_code == 404
    moved = client.get("/forces/avon-and-somerset/alerts?page=2")
    assert (moved.status_code, moved.headers["Location"]) == (308, "/alerts?page=2")
    moved = client.get(f"/forces/avon-and-somerset/alerts/{mine.reference}/cap.xml")
    assert moved.headers["Location"] == f"/alerts/{mine.reference}/cap.xml"
    assert client.get("/forces/avon-and-somerset/").headers["Location"] == "/"
    # "Is this message genuine?" knows every force's alerts, says whose, and links to
    # the right one.
    token = form_token(client, "/check")
    checked = client.post("/check", data={"message": wilts.reference, "csrf_token": token})
    assert "Yes, Wiltshire Police sent this alert" in checked.text
    assert f"/forces/wiltshire/alerts/{wilts.reference}" in checked.text


def test_an_officer_reading_another_forces_public_pages_stays_signed_in_and_reads_theirs(
    app, make_officer, make_resident, second_force, run_worker
):
    """Found by an outside check: a public page of another force is scoped to it, the
    officer was not found there, and their session ended as "disabled": reading
    Wiltshire's alerts signed an Avon and Somerset officer out (and the other way)."""
    make_resident(postcode=BATH, sms="+447700900131")
    make_resident(postcode=TROWBRIDGE, sms="+447700900132")
    ours = make_officer(role="officer", email="ours@police.example")
    theirs = make_officer(role="officer", email="theirs@wilts.example", force_id=second_force.id)
    submit_alert(ours, AlertDraft(shapes=BOTH, title="Bath burglaries", body="Lock up."))
    submit_alert(theirs, AlertDraft(shapes=BOTH, title="Trowbridge thefts", body="Lock sheds."))
    run_worker()
    for officer, pages, other_title, own_title in (
        (ours, "/forces/wiltshire/alerts", "Trowbridge thefts", "Bath burglaries"),
        (theirs, "/alerts", "Bath burglaries", "Trowbridge thefts"),
    ):
        client = signed_in(app, officer, "officer")
        listed = client.get(pages)
        # That force's page, not the officer's force's.
        assert other_title in listed.text and own_title not in listed.text
        assert client.get(f"{pages}/NOPE0").status_code == 404
        assert client.get(f"{pages}/feed/en.atom").status_code == 200
        # Still signed in, on their own force's pages.
        own = client.get("/officers/alerts")
        assert own.status_code == 200, own.headers.get("Location")
        assert own_title in own.text and other_title not in own.text
        db.session.rollback()
        ended = db.session.scalars(
            select(StaffSession.ended_reason).where(StaffSession.officer_id == officer.id)
        ).all()
        assert ended == [None]
    # A supervisor's menu counts their own force's alerts waiting, on any force's page.
    supervisor = make_officer(role="supervisor", email="sup@police.example")
    waiting = submit_alert(
        make_officer(role="officer", email="ours2@police.example"),
        AlertDraft(shapes=BOTH, title="Needs approval", body="Wait.", category="missing_person"),
    ).alert
    assert waiting.status == "pending_approval"
    client = signed_in(app, supervisor, "supervisor")
    for page in ("/officers/alerts", "/forces/wiltshire/alerts"):
        assert 'Approvals <span class="nav-count">(1)</span>' in client.get(page).text, page


def test_each_forces_analysts_count_their_own_residents(app, make_resident, second_force):

    from datetime import date

    from app.dao import density as density_dao
    from app.dao import timeline as timeline_dao
    from app.services import figures

    default = default_force_id()
    for n in range(3):
        make_resident(postcode=BATH, sms=f"+44770090014{n}")
    make_resident(postcode=TROWBRIDGE, sms="+447700900150")
    make_resident(postcode=BATH, also=(TROWBRIDGE,), sms="+447700900151")
    figures.refresh("timeline")
    figures.refresh("density")

    def registered(force_id: int) -> int:
        weeks = timeline_dao.count_weekly(
            "registered", None, date(2000, 1, 3), date(2100, 1, 4), force_id=force_id
        )
        return sum(n for _, _, n in weeks)

    def in_squares(force_id: int) -> int:
        squares = density_dao.find_square_counts(db.session, cell_m=1000, force_id=force_id)
        return sum(square.residents for square in squares)

    # The border resident counts for both; everyone else for their own force only.
    assert (registered(default), registered(second_force.id)) == (4, 2)
    assert (in_squares(default), in_squares(second_force.id)) == (4, 2)


def test_a_resident_in_two_forces_chooses_which_to_hear_from(
    resident_client,  # noqa: F811 (the fixture imported above)
    second_force,
):
    client = resident_client
    token = page_token(client, "/my-alerts")
    added = add_with_consent(client, token, label="Farm", postcode=TROWBRIDGE)
    assert added.status_code == 302, added.text
    page = client.get("/my-alerts").text
    assert "Police forces" in page
    assert "Avon and Somerset Police, for: Home" in page and "Wiltshire Police, for: Farm" in page
    default = default_force_id()
    audience = {
        force_id: Audience(force_id=force_id, area_wkb=_area(BOTH))
        for force_id in (default, second_force.id)
    }
    bristol = Audience(
        force_id=default,
        area_wkb=_area([{"kind": "circle", "center": [-2.58823, 51.45197], "radius_m": 500}]),
    )

    def reached() -> tuple[int, int]:
        return (
            count_targets(db.session, bristol)["residents"],
            count_targets(db.session, audience[second_force.id])["residents"],
        )

    assert reached() == (1, 1)
    # Wiltshire stopped: its officers no longer reach the farm; Avon and Somerset's
    # still reach home.
    saved = client.post(
        "/my-alerts",
        data={"csrf_token": token, "forces_shown": "1", "forces": [str(default)]},
    )
    assert saved.status_code == 302
    assert reached() == (1, 0)
    page = client.get("/my-alerts").text
    assert f'id="force-{second_force.id}" name="forces" value="{second_force.id}" >' in page
    # Not none at all: that is pausing.
    refused = client.post("/my-alerts", data={"csrf_token": token, "forces_shown": "1"})
    assert refused.status_code == 400
    assert "Keep at least one police force" in refused.text
    assert reached() == (1, 0)
    # And back.
    client.post(
        "/my-alerts",
        data={
            "csrf_token": token,
            "forces_shown": "1",
            "forces": [str(default), str(second_force.id)],
        },
    )
    assert reached() == (1, 1)


def add_with_consent(client, token, *, label, postcode, route="/my-alerts"):
    """Add a place in a force the resident does not hear from: the page asks for that
    force's statement to be ticked, and it is."""
    form = {"csrf_token": token, "label": label, "postcode": postcode}
    asked = client.post(route, data=form)
    assert asked.status_code == 400 and 'name="place_consent"' in asked.text, asked.text
    key = re.search(r'name="place_consent_key" value="([0-9a-f]+)"', asked.text).group(1)
    return client.post(route, data=form | {"place_consent": "yes", "place_consent_key": key})


def test_a_place_in_another_forces_area_is_added_with_its_consent(
    resident_client,  # noqa: F811 (the fixture imported above)
    second_force,
):
    """A resident of Avon and Somerset adding a farm in Wiltshire reads and agrees to
    Wiltshire's statement first, and it is kept with what they agreed at sign-up."""
    client = resident_client
    own = "I agree that Wiltshire Police may hold my details under its own privacy notice."
    second_force.consent_text = own
    db.session.commit()
    resident = db.session.scalars(select(Resident)).one()
    token = page_token(client, "/my-alerts")
    form = {"csrf_token": token, "label": "Farm", "postcode": TROWBRIDGE}
    for route in ("/my-alerts", "/my-alerts/places"):
        asked = client.post(route, data=form)
        assert asked.status_code == 400
        assert "Alerts for that place come from Wiltshire Police" in asked.text
        assert own in asked.text and f'value="{TROWBRIDGE}"' in asked.text  # kept
        # Its language switch opens "my alerts" (/my-alerts/places takes only forms:
        # the link was a 405).
        assert 'class="language-switch" href="/my-alerts?lang=cy"' in asked.text
        assert client.get("/my-alerts?lang=cy").status_code == 200
        client.get("/my-alerts?lang=en")
        # Not ticked, or ticked for words no longer shown: asked again, nothing added.
        for extra in (
            {},
            {"place_consent": "yes"},
            {"place_consent": "yes", "place_consent_key": "0" * 16},
        ):
            again = client.post(route, data=form | extra)
            assert again.status_code == 400 and own in again.text
            # Ticked for other words: told they changed, not asked as if never ticked.
            changed = "changed what you agree to after the page showed it"
            assert (changed in again.text) == ("place_consent_key" in extra)
    db.session.expire_all()
    assert len(resident.locations) == 1 and resident.later_consents == []
    added = add_with_consent(client, token, label="Farm", postcode=TROWBRIDGE)
    assert added.status_code == 302
    db.session.expire_all()
    assert [loc.label for loc in resident.locations] == ["Home", "Farm"]
    [consent] = resident.later_consents
    assert (consent.force_id, consent.statement) == (second_force.id, own)
    assert (
        db.session.scalar(select(func.count()).where(AuditEvent.action == "resident.consent_given"))
        == 1
    )
    data = client.get("/my-alerts/data").text
    assert own in data and "And, adding a place" in data
    assert f"“{own}” (Wiltshire Police, " in data.replace("&#39;", "'")
    assert "<span lang=" not in data  # in the page's language
    # On a Welsh page, statements agreed to in English are marked English, for a
    # screen reader to read them so; one agreed to in Welsh, on an English page, Welsh.
    from app.i18n import in_language
    from app.services import forces
    from app.services.consent import consent_statement

    with in_language("en"):
        resident.consent_text = consent_statement([forces.default_force()])
    db.session.commit()
    welsh = client.get("/my-alerts/data?lang=cy").text.replace("&#39;", "'")
    assert f'“<span lang="en">{own}</span>” (Heddlu Wiltshire, ' in welsh
    assert '“<span lang="en">I agree that Avon and Somerset Police may keep' in welsh
    with in_language("cy"):
        resident.consent_text = cymraeg = consent_statement([forces.default_force()])
    db.session.commit()
    assert f"“{cymraeg}”" in client.get("/my-alerts/data").text.replace("&#39;", "'")
    english = client.get("/my-alerts/data?lang=en").text
    assert '“<span lang="cy">' in english and '<span lang="en">' not in english
    resident.consent_text = "Words no longer shown anywhere."  # not known: not marked
    db.session.commit()
    assert "<span lang=" not in client.get("/my-alerts/data").text
    download = json.loads(client.get("/my-alerts/data.json").data)
    assert [later["statement"] for later in download["consent"]["later"]] == [own]
    assert [later["forces"] for later in download["consent"]["later"]] == ["Wiltshire Police"]
    # Agreed once, a second place of that force (or the first again, after removing
    # it) is added without asking; nor is a place of a force they hear from.
    second = client.post(
        "/my-alerts", data={"csrf_token": token, "label": "Shop", "postcode": "BA14 6AB"}
    )
    assert second.status_code == 302, second.text
    third = client.post("/my-alerts", data={"csrf_token": token, "label": "Work", "postcode": BATH})
    assert third.status_code == 302, third.text


def test_the_command_line_makes_a_forces_first_administrator(app_ctx, runner, second_force):
    made = runner.invoke(
        args=["officers", "create", "--email", "admin@wilts.example", "--name", "W"]
        + ["--role", "admin", "--force", "wiltshire"],
        input="a kettle on the hob\na kettle on the hob\n",
    )
    assert made.exit_code == 0, made.output
    officer = db.session.scalars(
        select(Officer).where(Officer.email == "admin@wilts.example")
    ).one()
    assert officer.force_id == second_force.id
    unknown = runner.invoke(
        args=["officers", "create", "--email", "x@wilts.example", "--name", "X"]
        + ["--role", "admin", "--force", "nowhere"],
        input="a kettle on the hob\na kettle on the hob\n",
    )
    assert unknown.exit_code != 0 and "no force 'nowhere'" in unknown.output
    assert "avon-and-somerset, wiltshire" in unknown.output
    listed = runner.invoke(args=["forces", "list"]).output
    assert "E23000038  wiltshire" in listed and "(default)" in listed


def test_what_has_no_officer_is_the_force_of_the_residents_place(
    app, make_officer, make_resident, second_force, run_worker
):
    from app.services.registration import consent_statement
    from app.services.residents import set_forces_heard, set_paused

    wilts_resident = make_resident(postcode=TROWBRIDGE, sms="+447700900161", name="W")
    border = make_resident(postcode=BATH, also=(TROWBRIDGE,), sms="+447700900162")
    # A resident's own action is in their place's force's audit log.
    set_paused(wilts_resident, True)
    logged = db.session.scalars(
        select(AuditEvent.force_id).where(AuditEvent.action == "resident.paused")
    ).one()
    assert logged == second_force.id
    # A text back with no alert is their place's force's.
    db.session.add(
        Reply(
            provider_ref="SM-no-alert",
            resident_id=border.id,
            channel="sms",
            address="+447700900162",
            body="Hello?",
            kind="message",
        )
    )
    db.session.commit()
    assert db.session.scalar(select(Reply.force_id)) == default_force_id()
    # A follow-up to the people a force's alert reached leaves out who stopped the force.
    theirs = make_officer(role="officer", email="theirs@wilts.example", force_id=second_force.id)
    sent = submit_alert(theirs, AlertDraft(shapes=BOTH, title="Sheds", body="Lock sheds.")).alert
    run_worker()
    again = Audience(parent_alert_id=sent.id, force_id=second_force.id)
    assert count_targets(db.session, again)["residents"] == 1  # the border resident
    set_forces_heard(border, {default_force_id()})
    assert count_targets(db.session, again)["residents"] == 0
    # Registering, a resident agrees to every force of the installation keeping them.
    assert "Avon and Somerset Police and Wiltshire Police may keep" in consent_statement()


def test_a_forces_teams_are_offered_its_own_districts_and_wards(app_ctx, second_force):
    from app.services import forces, teams

    with forces.scoped(second_force.id):
        theirs = teams.find_area_places()
    assert {p["name"] for p in theirs} == {"Swindon", "Wiltshire"}  # no wards shipped
    ours = teams.find_area_places()
    assert {p["kind"] for p in ours} == {"district", "ward"}
    assert "Swindon" not in {p["name"] for p in ours}
    assert {p["district"] for p in ours if p["kind"] == "ward"} <= {
        "Bath and North East Somerset",
        "Bristol, City of",
        "North Somerset",
        "Somerset",
        "South Gloucestershire",
    }


def test_a_resident_agrees_to_the_wording_of_the_forces_of_their_postcode(
    app, client, second_force
):
    from app.services.registration import consent_statement
    from tests.factories import csrf_token

    own = "I agree that Wiltshire Police may hold my details under its own privacy notice."
    second_force.consent_text = own
    db.session.commit()
    # Typed, the postcode's forces' statement replaces every force's on the form.
    found = postcode_place(client, TROWBRIDGE).json
    assert (found["consent"], found["consent_for"]) == (own, str(second_force.id))
    bath = postcode_place(client, BATH).json
    assert bath["consent"].startswith("I agree that Avon and Somerset Police may keep")
    assert own not in bath["consent"]
    # Before a postcode: the page's own force's. Wiltshire's page named every force of
    # the installation, Avon and Somerset first, and that wording was kept (an outside
    # check).
    assert own not in client.get("/register").text
    wiltshire_page = client.get("/forces/wiltshire/register").text
    assert own in wiltshire_page and "Avon and Somerset Police" not in wiltshire_page
    # On a Welsh page its English-only words are marked English, for screen readers;
    # the service's own sentence, in Welsh there, is not.
    welsh = client.get("/forces/wiltshire/register?lang=cy").text
    assert f'id="consent-statement" lang="en">{own}<' in welsh.replace("&#39;", "'")
    assert postcode_place(client, TROWBRIDGE).json["consent_lang"] == "en"
    assert 'id="consent-statement">' in client.get("/register").text
    client.get("/register?lang=en")
    assert 'id="consent-statement">' in client.get("/forces/wiltshire/register").text
    # Its hint's example is a Wiltshire postcode, not Bristol's BS1 6AD.
    example = re.search(r"For example, ([A-Z0-9 ]+)\.", wiltshire_page).group(1)
    assert postcode_place(client, example).json["consent_for"] == str(second_force.id)
    assert "Avon and Somerset Police may keep" in consent_statement()

    def sign_up(postcode: str, phone: str, consent_for, *, page="/register", **more):
        data = {
            "postcode": postcode,
            "channels": ["sms"],
            "sms_phone": phone,
            "consent": "yes",
            "csrf_token": csrf_token(client),
            **more,
        }
        if consent_for is not None:
            data["consent_for"] = consent_for
        answer = client.post(page, data=data)
        if answer.status_code != 302:
            return answer
        db.session.expire_all()
        return db.session.scalars(
            select(Resident.consent_text)
            .join(ResidentChannel)
            .where(ResidentChannel.address == f"+44{phone[1:].replace(' ', '')}")
        ).one()

    # The page said it showed Wiltshire's statement: that is what was agreed to.
    assert sign_up(TROWBRIDGE, "07700 900171", str(second_force.id)) == own
    # Without JavaScript, Wiltshire's own page showed Wiltshire's words.
    assert sign_up(TROWBRIDGE, "07700 900172", None, page="/forces/wiltshire/register") == own
    # Avon and Somerset's page showed its own: a Trowbridge resident is shown
    # Wiltshire's to tick, as is a page that claims other forces, or sends a key that
    # is not the words' (one that cleans to nothing included).
    for consent_for, more in (
        (None, {}),
        (f"{second_force.id},1,x", {}),
        (str(second_force.id), {"consent_key": "\x00"}),
    ):
        refused = sign_up(TROWBRIDGE, "07700 900173", consent_for, **more)
        assert refused.status_code == 400, (consent_for, more)
        assert own in refused.text and f'value="{second_force.id}"' in refused.text
        assert not _ticked(refused.text)
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(ResidentChannel)
            .where(ResidentChannel.address == "+447700900173")
        )
        == 0
    )
    # A refused form keeps the statement of the postcode typed.
    refused = client.post(
        "/register",
        data={"postcode": TROWBRIDGE, "csrf_token": csrf_token(client)},
    )
    assert refused.status_code == 400
    assert own in refused.text and f'value="{second_force.id}"' in refused.text


def test_a_resident_confirms_on_their_forces_page_whichever_form_they_used(app, second_force):
    """Found by an outside check: a Wiltshire resident who signed up on Avon and
    Somerset's form confirmed on Avon and Somerset's pages, beside a code from
    Wiltshire Police."""
    from tests.factories import csrf_token

    client = app.test_client()
    client.get("/register")
    found = postcode_place(client, TROWBRIDGE).json
    answer = client.post(
        "/register",
        data={
            "postcode": TROWBRIDGE,
            "channels": ["sms"],
            "sms_phone": "07700 900174",
            "consent": "yes",
            "consent_for": found["consent_for"],
            "consent_key": found["consent_key"],
            "csrf_token": csrf_token(client),
        },
    )
    assert answer.status_code == 302, answer.text
    confirm = client.get("/register/confirm").text
    brand = re.search(r'class="brand"[^>]*>([^<]*)<', confirm).group(1)
    assert brand.startswith("Wiltshire Police"), brand
    # So is the page its e-mail link opens, in a browser of its own (a re-check).
    from app.services.residents import set_channel

    resident = db.session.scalars(
        select(Resident).join(ResidentChannel).where(ResidentChannel.address == "+447700900174")
    ).one()
    set_channel(resident, "email", "wilts@example.invalid")
    body = db.session.scalars(
        select(ResidentNotice.body).where(ResidentNotice.kind == "verify_email")
    ).one()
    link = re.search(r"/confirm-email/\S+", body).group(0)
    page = app.test_client().get(link).text
    brand = re.search(r'class="brand"[^>]*>([^<]*)<', page).group(1)
    assert brand.startswith("Wiltshire Police"), brand


def _ticked(page: str) -> bool:
    """Whether the sign-up form's consent box is ticked."""
    return "checked" in page.split('id="consent"', 1)[1].split(">", 1)[0]


def _hidden(page: str, name: str) -> str:
    return page.split(f'name="{name}"', 1)[1].split('value="', 1)[1].split('"', 1)[0]


def test_a_resident_is_asked_again_when_the_words_changed_after_the_page_was_shown(
    app, client, second_force
):
    from tests.factories import csrf_token

    page = client.get("/register").text
    shown_key = _hidden(page, "consent_key")
    found = postcode_place(client, TROWBRIDGE).json
    assert found["consent_key"] and found["consent_key"] != shown_key
    # Wiltshire's administrator changes its wording while the form is open.
    changed = "I agree that Wiltshire Police may keep my details under its new notice."
    second_force.consent_text = changed
    db.session.commit()
    data = {
        "postcode": TROWBRIDGE,
        "channels": ["sms"],
        "sms_phone": "07700 900181",
        "consent": "yes",
        "consent_for": found["consent_for"],
        "consent_key": found["consent_key"],
        "csrf_token": csrf_token(client),
    }
    answer = client.post("/register", data=data)
    assert answer.status_code == 400
    assert "Read them again, and tick the box" in answer.text
    assert db.session.scalar(select(func.count()).select_from(Resident)) == 0
    # The form now shows the new words, unticked, with their key.
    assert changed in answer.text and not _ticked(answer.text)
    new_key = _hidden(answer.text, "consent_key")
    assert new_key not in (found["consent_key"], "")
    # Agreed to as shown: kept as shown.
    data |= {"consent_key": new_key, "csrf_token": csrf_token(client)}
    assert client.post("/register", data=data).status_code == 302
    assert db.session.scalars(select(Resident.consent_text)).one() == changed
    # The code names the force they will hear from, not the installation's first (an
    # outside check: "your code to confirm alerts from Avon and Somerset Police").
    from app.models import ResidentNotice

    (code_text,) = db.session.scalars(
        select(ResidentNotice.body).where(ResidentNotice.kind == "verify_code")
    )
    assert "confirm alerts from Wiltshire Police" in code_text, code_text

    def with_a_wrong_number(consent_for: str, key: str):
        return client.post(
            "/register",
            data={
                "postcode": TROWBRIDGE,
                "channels": ["sms"],
                "sms_phone": "not a number",
                "consent": "yes",
                "consent_for": consent_for,
                "consent_key": key,
                "csrf_token": csrf_token(client),
            },
        )

    # Without JavaScript: every force's words ticked, with a mistake elsewhere. The
    # form shown again says the postcode's words, so it is not ticked for them.
    every = client.get("/register").text
    refused = with_a_wrong_number("", _hidden(every, "consent_key"))
    assert refused.status_code == 400 and changed in refused.text
    assert not _ticked(refused.text)
    # With the words unchanged, a mistake elsewhere keeps the tick.
    kept = with_a_wrong_number(
        _hidden(refused.text, "consent_for"), _hidden(refused.text, "consent_key")
    )
    assert kept.status_code == 400 and _ticked(kept.text)


# Who the targets table should hold, by its definition, with each place's force and
# without the forces a resident stopped (migrations 0034, 0036).
TARGETS_BY_DEFINITION = """
SELECT c.resident_id, l.id, c.channel, c.address, l.force_id
FROM resident_channels c
JOIN residents r ON r.id = c.resident_id AND r.paused_at IS NULL
JOIN resident_locations l ON l.resident_id = c.resident_id
WHERE c.unsubscribed_at IS NULL AND c.verified_at IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM resident_force_stops s
                  WHERE s.resident_id = c.resident_id AND s.force_id = l.force_id)
ORDER BY 1, 2, 3, 4
"""
TARGETS = """
SELECT resident_id, location_id, channel, address, force_id FROM targets ORDER BY 1, 2, 3, 4
"""
SQUARES = """
SELECT force_id, i, j, group_ids, channels, n FROM target_squares WHERE n <> 0
ORDER BY 1, 2, 3, 4, 5
"""


@pytest.fixture
def force_areas_restored(app_ctx):
    """The force areas' properties as they were after the test (tests move districts
    between forces; the boundaries are reference data no test's clean-up empties)."""
    kept = db.session.execute(text("SELECT id, properties FROM places WHERE kind = 'force'")).all()
    yield
    db.session.rollback()
    for place_id, properties in kept:
        db.session.execute(
            text("UPDATE places SET properties = CAST(:p AS jsonb) WHERE id = :id"),
            {"p": json.dumps(properties), "id": place_id},
        )
    db.session.commit()


def _move_district(district: str, to: int) -> None:
    """The newest force areas changed as a reloaded boundary would change them: the
    district named by force `to` and no other."""
    db.session.execute(
        text(
            """
            UPDATE places p SET properties = jsonb_set(p.properties, '{constituent_lad23cd}',
                CASE WHEN f.id = :to
                     THEN (p.properties -> 'constituent_lad23cd') || to_jsonb(CAST(:d AS text))
                     ELSE (p.properties -> 'constituent_lad23cd') - CAST(:d AS text) END)
            FROM forces f
            WHERE p.kind = 'force' AND p.code = f.code
              AND p.release = (SELECT max(release) FROM places q
                               WHERE q.kind = 'force' AND q.code = f.code)
            """
        ),
        {"d": district, "to": to},
    )


def test_a_reloaded_force_area_moves_places_targets_and_squares_together(
    app_ctx, make_resident, second_force, force_areas_restored
):
    from app.dao.forces import reassign_location_forces

    default = default_force_id()
    stays = make_resident(postcode=TROWBRIDGE, sms="+447700900201")
    moves = make_resident(postcode=BATH, sms="+447700900202", email="moves@example.invalid")
    both = make_resident(postcode=BATH, also=(TROWBRIDGE,), sms="+447700900203")
    # A resident of Bath who had stopped hearing from Wiltshire (when their Trowbridge
    # place was Wiltshire's, say).
    stopped = make_resident(postcode=BATH, sms="+447700900204")
    db.session.execute(
        text("INSERT INTO resident_force_stops (resident_id, force_id) VALUES (:r, :f)"),
        {"r": stopped.id, "f": second_force.id},
    )
    db.session.commit()
    bath_district = db.session.scalar(
        text("SELECT admin_district_code FROM postcodes WHERE postcode = 'BA11RG'")
    )

    # Places whose postcode no district holds (not in the directory): one on Salisbury
    # Plain, inside Wiltshire's area; one in the Bristol Channel, in no force's area,
    # nearest Avon and Somerset's. Their force is lost, as if never decided.
    for point in ((-1.85, 51.25), (-3.3, 51.3)):
        db.session.execute(
            text(
                "INSERT INTO resident_locations (resident_id, label, postcode, location)"
                " VALUES (:r, 'Field', 'ZZ99 9ZZ', ST_Transform(ST_SetSRID("
                "ST_MakePoint(:x, :y), 4326), 27700))"
            ),
            {"r": stays.id, "x": point[0], "y": point[1]},
        )
    db.session.execute(
        text("UPDATE resident_locations SET force_id = NULL WHERE postcode = 'ZZ99 9ZZ'")
    )
    db.session.commit()

    _move_district(bath_district, to=second_force.id)
    moved = reassign_location_forces()
    db.session.commit()

    assert moved == 5  # the Bath places of moves, both and stopped; the two fields
    assert sorted(
        db.session.execute(
            text(
                "SELECT ST_X(ST_Transform(location, 4326)) > -2, force_id"
                " FROM resident_locations WHERE postcode = 'ZZ99 9ZZ'"
            )
        ).all()
    ) == [(False, default), (True, second_force.id)]
    assert _force_of_places(moves) == {"BA11RG": second_force.id}
    assert _force_of_places(both) == {"BA11RG": second_force.id, "BA146AA": second_force.id}
    assert _force_of_places(stays)["BA146AA"] == second_force.id
    # Every place is the force location_force() gives it, one by one.
    assert not db.session.scalar(
        text(
            "SELECT count(*) FROM resident_locations"
            " WHERE force_id IS DISTINCT FROM location_force(postcode, location)"
        )
    )
    # The targets are what their definition says: the stopped resident's Bath place no
    # longer reaches them (it is now Wiltshire's), the others are Wiltshire's.
    assert (
        db.session.execute(text(TARGETS)).all()
        == db.session.execute(text(TARGETS_BY_DEFINITION)).all()
    )
    assert not db.session.scalar(
        text("SELECT count(*) FROM targets WHERE resident_id = :r"), {"r": stopped.id}
    )
    # The squares counted ahead are what a count from scratch gives.
    kept = db.session.execute(text(SQUARES)).all()
    assert {row.force_id for row in kept} == {second_force.id}
    db.session.execute(text("SELECT recount_target_squares()"))
    assert db.session.execute(text(SQUARES)).all() == kept
    db.session.rollback()

    # Moved back: the stopped resident hears from Avon and Somerset again.
    _move_district(bath_district, to=default)
    assert reassign_location_forces() == 3
    db.session.commit()
    assert _force_of_places(stopped) == {"BA11RG": default}
    assert (
        db.session.execute(text(TARGETS)).all()
        == db.session.execute(text(TARGETS_BY_DEFINITION)).all()
    )
    assert db.session.scalar(
        text("SELECT count(*) FROM targets WHERE resident_id = :r"), {"r": stopped.id}
    )
    kept = db.session.execute(text(SQUARES)).all()
    db.session.execute(text("SELECT recount_target_squares()"))
    assert db.session.execute(text(SQUARES)).all() == kept
    # Nothing to move: nothing changes.
    assert reassign_location_forces() == 0


def test_reassigning_waits_for_a_residents_change_and_never_deadlocks_with_it(
    app, app_ctx, make_resident, second_force, force_areas_restored
):
    """A sign-up writes targets, then places; reassigning holds places, targets and
    squares together. It takes none of them while a change is under way, so the change
    finishes (here: it holds targets, then asks for places) and reassigning follows."""
    import threading

    from app.dao.forces import reassign_location_forces

    make_resident(postcode=BATH, sms="+447700900211")
    bath_district = db.session.scalar(
        text("SELECT admin_district_code FROM postcodes WHERE postcode = 'BA11RG'")
    )
    _move_district(bath_district, to=second_force.id)
    db.session.commit()

    other = db.engine.connect()
    change = other.begin()
    other.execute(text("SET lock_timeout = '10s'"))
    other.execute(text("LOCK TABLE targets IN ROW EXCLUSIVE MODE"))
    result: dict = {}

    def reassign():
        with app.app_context():
            try:
                result["moved"] = reassign_location_forces()
                db.session.commit()
            except Exception as error:  # noqa: BLE001 (reported below)
                result["error"] = error
                db.session.rollback()

    worker = threading.Thread(target=reassign)
    worker.start()
    worker.join(0.5)
    assert worker.is_alive()  # waiting, holding nothing
    # The change goes on to the places: not deadlocked, not kept waiting.
    other.execute(text("LOCK TABLE resident_locations IN ROW EXCLUSIVE MODE"))
    change.commit()
    other.close()
    worker.join(30)
    assert not worker.is_alive()
    assert result == {"moved": 1}


def test_reassigning_gives_up_clearly_when_residents_never_pause(
    app, app_ctx, runner, make_resident, second_force, monkeypatch
):
    from app.services.forces import reassign_places

    make_resident(postcode=BATH, sms="+447700900221")
    monkeypatch.setitem(app.config, "FORCE_REASSIGN_WAIT_SECONDS", 1)
    other = db.engine.connect()
    change = other.begin()
    other.execute(text("LOCK TABLE targets IN ROW EXCLUSIVE MODE"))
    try:
        with pytest.raises(ForceRefused, match="Try again at a quieter time"):
            reassign_places()
        answer = runner.invoke(args=["forces", "reassign"])
        assert answer.exit_code == 1 and "quieter time" in answer.output
    finally:
        change.rollback()
        other.close()
    # Once they pause, it goes.
    answer = runner.invoke(args=["forces", "reassign"])
    assert answer.exit_code == 0 and "0 residents' places" in answer.output


def test_an_unsubscribe_page_names_the_forces_whose_e_mails_it_stops(
    client, make_resident, second_force
):
    """Found by an outside probe: the link in a Wiltshire alert's e-mail said it stopped
    "Avon and Somerset Police" alerts. It stops e-mails from every force the resident
    hears from, so it names them, and a one-force resident's page is that force's."""
    from app.services.dispatch import unsubscribe_token

    wilts = make_resident(postcode=TROWBRIDGE, sms=None, email="w@example.invalid")
    border = make_resident(postcode=BATH, also=(TROWBRIDGE,), sms=None, email="b@example.invalid")
    page = client.get(f"/unsubscribe/{unsubscribe_token(wilts.id, 'email', 'w@example.invalid')}")
    assert "You will no longer get Wiltshire Police alerts by e-mail" in page.text
    assert "Avon and Somerset" not in page.text
    link = f"/unsubscribe/{unsubscribe_token(border.id, 'email', 'b@example.invalid')}"
    both = "Avon and Somerset Police and Wiltshire Police"
    assert f"You will no longer get {both} alerts by e-mail" in client.get(link).text
    # The page's button: its answer by a redirect, so Back and Forward past it ask
    # nothing (an outside check); reloaded, it says they stopped already.
    done = client.post(link)
    assert done.status_code == 302 and done.location.endswith(link)
    shown = client.get(done.location)
    assert shown.status_code == 200 and f"We won't e-mail you {both} alerts any more" in shown.text
    assert "stopped already" not in shown.text
    assert "stopped already" in client.get(link).text
    # Nothing in the address says "just stopped": opened again from the history, or
    # with ?done=1 as it once was, it says they stopped already (a review).
    assert "stopped already" in client.get(f"{link}?done=1").text


def test_deleting_ones_details_names_every_force_one_heard_from(app, make_resident, second_force):
    """Found by an outside check: a resident with a place in Wiltshire too was told
    only that Avon and Somerset would send no more."""
    from app.residents import SESSION_KEY
    from tests.factories import csrf_token

    border = make_resident(postcode=BATH, also=(TROWBRIDGE,), sms=None, email="d@example.invalid")
    reference = str(border.reference)
    db.session.commit()
    browser = app.test_client()
    with browser.session_transaction() as session:
        session[SESSION_KEY] = reference
    gone = browser.post("/my-alerts/delete", data={"csrf_token": csrf_token(browser)})
    # Said on a page of its own (answered from the post, a reload sent it again).
    assert gone.status_code == 302 and gone.headers["Location"] == "/my-alerts/deleted"
    gone = browser.get("/my-alerts/deleted")
    assert gone.status_code == 200 and "Your details are deleted" in gone.text
    assert (
        "You will get no more alerts from Avon and Somerset Police and Wiltshire Police"
        in gone.text
    )


def test_an_answer_page_is_the_page_of_the_alerts_force(
    client, make_officer, make_resident, second_force, run_worker
):
    from app.services.dispatch import answer_token

    make_resident(postcode=TROWBRIDGE, sms=None, email="w@example.invalid")
    theirs = make_officer(role="officer", email="q@wilts.example", force_id=second_force.id)
    draft = AlertDraft(
        shapes=[{"kind": "circle", "center": [-2.2094, 51.3148], "radius_m": 3000}],
        title="Seen this van?",
        body="A white van.",
        question="Seen it?",
        answer_options=["Yes", "No"],
    )
    submit_alert(theirs, draft=draft)
    run_worker()
    delivery_id = db.session.scalar(text("SELECT id FROM deliveries"))
    page = client.get(f"/answer/{answer_token(delivery_id)}").text
    assert "Wiltshire Police" in page and "Avon and Somerset" not in page


def test_the_check_says_whose_alert_another_forces_reference_is(
    app, client, make_officer, make_resident, second_force
):
    """The check answers for every force's alerts; on Avon and Somerset's page a
    Wiltshire reference was "ours" (found by an outside probe)."""
    make_resident(postcode=TROWBRIDGE, sms="+447700900113", name="Wiltshire only")
    theirs = make_officer(role="officer", email="theirs@wilts.example", force_id=second_force.id)
    alert = submit_alert(theirs, AlertDraft(shapes=BOTH, title="Theirs", body="B")).alert
    token = form_token(client, "/check")
    answer = client.post("/check", data={"message": alert.reference, "csrf_token": token}).text
    assert "that reference is ours" not in answer
    assert "Yes, Wiltshire Police sent this alert" in answer
    assert "theirs, not Avon and Somerset Police’s" in answer.replace("&#39;", "'")
    assert "Read the alert on their website" in answer
    copied = client.post(
        "/check",
        data={"message": f"Pay now at bit.ly/x Ref {alert.reference}", "csrf_token": token},
    ).text
    assert "one of Wiltshire Police’s alerts, not Avon and Somerset Police’s" in copied
    welsh = client.post(
        "/check?lang=cy", data={"message": alert.reference, "csrf_token": token}
    ).text
    assert "Ie, Heddlu Wiltshire a anfonodd y rhybudd hwn" in welsh


def test_a_force_with_no_wards_loaded_is_told_so_on_its_reach_page(app, make_officer, second_force):
    """Found by an outside probe: Wiltshire's reach page drew an empty map, saying so
    only in the legend's small print ("0 wards drawn")."""
    theirs = make_officer(role="analyst", email="analyst@wilts.example", force_id=second_force.id)
    page = signed_in(app, theirs, "analyst").get("/analysts/penetration").text
    assert 'id="no-wards"' in page and "No wards of Wiltshire are loaded" in page
    ours = signed_in(app, make_officer(role="analyst", email="a@avon.example"), "analyst")
    assert 'id="no-wards"' not in ours.get("/analysts/penetration").text


def test_a_second_forces_residents_see_its_name_from_signing_up_to_their_page(
    app, client, make_resident, run_worker, second_force
):
    """Found by an outside check: from Wiltshire's start page, "Sign up" and "Change or
    stop your alerts" led to pages headed Avon and Somerset ("Call Avon and Somerset
    Police on 101"), and a Wiltshire resident's own page was headed so too."""
    from tests.test_residents import opened_page

    start = client.get("/forces/wiltshire/").text
    assert 'href="/forces/wiltshire/register"' in start
    assert 'href="/forces/wiltshire/manage"' in start
    brand = 'class="brand" href="/forces/wiltshire/">Wiltshire Police'
    for page in ("/forces/wiltshire/register", "/forces/wiltshire/manage"):
        assert brand in client.get(page).text, page
    assert "Call Wiltshire Police on 101" in client.get("/forces/wiltshire/manage").text
    for missing in ("/forces/avon-and-somerset/manage", "/forces/nowhere/manage"):
        assert client.get(missing).status_code == 404
    make_resident(postcode=TROWBRIDGE, sms="+447700900171")
    opened_page(client, "+447700900171", run_worker)
    own = client.get("/my-alerts").text
    assert brand in own and "Avon and Somerset Police" not in own
