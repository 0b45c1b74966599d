"""Teams and permitted areas (issue 13): an officer sends only inside their teams'
permitted areas (the preview says so, the send refuses), sees and cancels only their
teams' alerts, and supervisors approve (and are asked to approve) only for the teams
they supervise. Administrators run teams from the browser, every change audited."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    Alert,
    AuditEvent,
    Delivery,
    Officer,
    OutboxMessage,
    Place,
    ResidentNotice,
    Team,
    alert_teams,
)
from app.services import teams
from tests.factories import (
    approval_form,
    approve_as_seen,
    form_token,
    refused_after_the_lock,
    signed_in,
)

BS1_6AD = [-2.588230, 51.451967]


def circle(radius_m: float):
    return {"kind": "circle", "center": BS1_6AD, "radius_m": radius_m}


def draft(radius_m: float = 300, **fields):
    return {"shapes": [circle(radius_m)], "title": "Burglaries", "body": "Lock up."} | fields


def ward_id(name: str) -> int:
    return db.session.scalar(
        select(Place.id).where(
            Place.kind == "ward",
            Place.name == name,
            Place.properties["lad23cd"].astext == "E06000023",
        )
    )


def make_team(admin, name: str, *, members=(), supervisors=(), wards=()) -> Team:
    team = teams.create_team(admin, name)
    teams.set_members(admin, team.id, [str(o.id) for o in members])
    teams.set_supervisors(admin, team.id, [str(o.id) for o in supervisors])
    for ward in wards:
        teams.add_place_area(admin, team.id, str(ward_id(ward)))
    return team


@pytest.fixture
def people(make_officer):
    """Two teams' officers and supervisors, and an administrator."""
    return {
        "admin": make_officer(role="admin"),
        "officer_a": make_officer(role="officer", email="a@police.example", name="Ann"),
        "officer_b": make_officer(role="officer", email="b@police.example", name="Bob"),
        "supervisor_a": make_officer(role="supervisor", email="sa@police.example", name="Sue"),
        "supervisor_b": make_officer(role="supervisor", email="sb@police.example", name="Sam"),
    }


@pytest.fixture
def two_teams(people):
    p = people
    central = make_team(
        p["admin"],
        "Bristol Central",
        members=[p["officer_a"], p["supervisor_a"]],
        supervisors=[p["supervisor_a"]],
        wards=["Central"],
    )
    east = make_team(
        p["admin"],
        "Bristol East",
        members=[p["officer_b"], p["supervisor_b"]],
        supervisors=[p["supervisor_b"]],
    )
    return central, east


@pytest.fixture
def street(make_resident):
    make_resident(postcode="BS1 6AD", sms="+447700900001")
    make_resident(postcode="BS1 6AD", sms="+447700900002")
    make_resident(postcode="BS5 9QP", sms="+447700900003")


def client_of(app, people, who: str):
    return signed_in(app, people[who], people[who].role)


def alert_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Alert))


# --- where an officer may send --------------------------------------------------------


def test_a_preview_outside_the_permitted_areas_says_so_and_inside_shows_the_areas(
    app, people, two_teams, street
):
    client = client_of(app, people, "officer_a")
    outside = client.post("/officers/preview", json=draft(2000))
    assert outside.status_code == 400
    assert outside.json["errors"]["area"].startswith(
        "This area is outside the areas your team may send to: Bristol Central (Central (ward))."
    )
    assert "km² of it is outside" in outside.json["error"]
    # Wholly outside (Warminster, in Wiltshire): all of it, not "13 km²" of 12.6.
    far = draft()
    far["shapes"] = [{"kind": "circle", "center": [-2.179, 51.205], "radius_m": 2000}]
    wholly = client.post("/officers/preview", json=far)
    assert wholly.status_code == 400
    assert "All of it is outside. Move it" in wholly.json["errors"]["area"]

    # In Welsh, how much is outside is a sentence of its own: "Less than 0.1",
    # capitalised into the English, began mid-sentence ("Mae Llai na 0.1 km²": an
    # outside check).
    from types import SimpleNamespace

    from shapely.geometry import Point

    from app.i18n import in_language
    from app.services import teams

    circle = Point(358000, 173000).buffer(1000).wkb
    for km2, english, welsh in (
        (0.05, "Less than 0.1 km² of it is outside. Move", "Mae llai na 0.1 km² ohoni y tu"),
        (2.345, " 2.3 km² of it is outside. Move", "Mae 2.3 km² ohoni y tu allan. Symudwch"),
    ):
        found = (SimpleNamespace(describe=lambda: "Bristol Central"), km2)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(teams, "_outside_permitted", lambda *_, found=found: found)
            for language, words in (("en", english), ("cy", welsh)):
                with app.test_request_context("/"), in_language(language):
                    said = teams.area_refusal(None, circle)
                assert words in said, said
                assert "Llai" not in said

    inside = client.post("/officers/preview", json=draft(300))
    assert inside.status_code == 200, inside.json
    assert inside.json["residents"] is None  # two: fewer than 5, hidden
    permitted = inside.json["permitted_area"]
    assert permitted["teams"] == ["Bristol Central"]
    assert permitted["areas"] == ["Central (ward)"]
    assert permitted["geometry"]["type"] in ("Polygon", "MultiPolygon")

    # The ward itself, chosen on the map, is inside its own outline.
    ward = {"shapes": [{"kind": "place", "place_id": ward_id("Central")}]}
    assert client.post("/officers/preview", json=ward).status_code == 200
    easton = {"shapes": [{"kind": "place", "place_id": ward_id("Easton")}]}
    assert "outside the areas" in client.post("/officers/preview", json=easton).json["error"]


def test_an_area_partly_outside_comes_with_its_part_inside_which_is_accepted_and_reaches_the_same(
    app, people, two_teams, street
):
    """A PCSO on a phone refused for a sliver outside had to redraw by hand: the
    refusal carries the part inside (WGS84 polygons the map sends back as its
    shapes), which the preview and the send accept, reaching the residents inside."""
    client = client_of(app, people, "officer_a")
    refused = client.post("/officers/preview", json=draft(2000))
    assert refused.status_code == 400
    inside = refused.json["inside_area"]
    assert inside["type"] == "MultiPolygon" and inside["coordinates"]
    shapes = [{"kind": "polygon", "coordinates": rings} for rings in inside["coordinates"]]
    kept = client.post("/officers/preview", json=draft() | {"shapes": shapes})
    assert kept.status_code == 200, kept.json
    # Inside the ward as the 300 m circle round BS1 6AD is: its two residents there,
    # not the one in BS5 9QP (Easton, outside the ward).
    assert teams.area_refusal(people["officer_a"], _bng(shapes)) is None
    sent = client.post("/officers/alerts", json=draft() | {"shapes": shapes})
    assert sent.status_code == 201, sent.json
    assert sent.json["deliveries"] == 2
    # Wholly outside, nothing is offered; nor to an officer kept to no areas.
    far = draft()
    far["shapes"] = [{"kind": "circle", "center": [-2.179, 51.205], "radius_m": 2000}]
    assert "inside_area" not in client.post("/officers/preview", json=far).json
    assert teams.inside_part(people["officer_b"], _bng(shapes)) is None


def _bng(shapes) -> bytes:
    from geo.areas import area_from_shapes

    return area_from_shapes(shapes).wkb


def test_the_maps_example_postcode_is_inside_the_teams_areas(app, people, two_teams):
    """Found by an outside check: the map's example postcode was the force's, outside
    a team's areas, so trying it was refused. A team's officer is shown one of theirs;
    an officer who may send anywhere, the force's."""
    import re

    from app.models import Postcode
    from app.services import forces

    def example(who: str) -> str:
        page = client_of(app, people, who).get("/officers/").text
        return re.search(r'id="centre-postcode" placeholder="e.g. ([^"]+)"', page).group(1)

    mine = example("officer_a")
    inside = db.session.scalar(
        select(func.ST_Covers(Place.boundary, Postcode.location))
        .select_from(Place)
        .join(Postcode, Postcode.display == mine)
        .where(Place.id == ward_id("Central"))
    )
    assert inside, f"{mine} is outside the team's ward"
    force_wide = example("officer_b")  # Bristol East has no areas: anywhere
    assert force_wide == forces.example_postcode(forces.default_force()) != mine


def test_the_place_search_offers_only_places_inside_the_teams_areas(app, people, two_teams):
    """It offered every ward of the force, and each chosen outside was then refused."""

    def offered(who: str, query: str) -> tuple[set, bool]:
        found = client_of(app, people, who).get(f"/officers/places?q={query}").json
        return {(p["kind"], p["name"]) for p in found["places"]}, found["team_areas_only"]

    assert offered("officer_a", "centr") == ({("ward", "Central")}, True)
    assert offered("officer_a", "clifton") == (set(), True)
    assert offered("officer_a", "bristol") == (set(), True)
    # A place of the force outside the team's areas is named as such, not as a typo.
    elsewhere = client_of(app, people, "officer_a").get("/officers/places?q=clifton").json
    assert "Clifton" in elsewhere["outside_team_areas"]
    typo = client_of(app, people, "officer_a").get("/officers/places?q=cliftno").json
    assert typo["outside_team_areas"] == []
    # Bristol East has no permitted areas: its officer may send anywhere in the force.
    assert ("ward", "Clifton") in offered("officer_b", "clifton")[0]
    assert offered("officer_b", "bristol") == (
        {("district", "City of Bristol")},
        False,
    )  # as pages name it


def test_a_send_outside_the_permitted_areas_is_refused_and_nothing_is_written(
    app, people, two_teams, street
):
    client = client_of(app, people, "officer_a")
    refused = client.post("/officers/alerts", json=draft(2000))
    assert refused.status_code == 400
    assert "outside the areas your team may send to" in refused.json["errors"]["area"]
    # On a Welsh page, in Welsh (the team's and places' names as they are).
    welsh = client.post("/officers/alerts?lang=cy", json=draft(2000)).json["errors"]["area"]
    assert welsh.startswith("Mae'r ardal hon y tu allan i'r ardaloedd y caiff eich tîm")
    client.get("/officers/?lang=en")
    assert alert_count() == 0
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0

    sent = client.post("/officers/alerts", json=draft(300))
    assert sent.status_code == 201, sent.json
    assert sent.json["deliveries"] == 2
    # The alert belongs to its author's team.
    assert db.session.execute(select(alert_teams.c.team_id)).scalars().all() == [two_teams[0].id]


def test_a_team_without_permitted_areas_sends_anywhere_and_so_does_its_member(
    app, people, two_teams, street
):
    east = client_of(app, people, "officer_b")
    assert east.post("/officers/alerts", json=draft(5000)).status_code == 201
    # An officer in a limited team and an unlimited one may send anywhere too.
    teams.set_members(
        people["admin"],
        two_teams[1].id,
        [str(people["officer_a"].id), str(people["officer_b"].id)],
    )
    both = client_of(app, people, "officer_a")
    assert both.post("/officers/preview", json=draft(5000)).json["permitted_area"] is None
    # Admins are force-wide.
    admin = client_of(app, people, "admin")
    assert admin.post("/officers/preview", json=draft(5000)).status_code == 200


def test_a_follow_up_to_an_alerts_residents_needs_the_original_to_be_of_ones_team(
    app, people, two_teams, street
):
    a = client_of(app, people, "officer_a")
    original = a.post("/officers/alerts", json=draft(300, channels=["sms"])).json["alert_id"]
    follow_up = {
        "audience": "parent",
        "parent_id": original,
        "shapes": [],
        "title": "Update",
        "body": "Arrested.",
        "category": "update",
    }
    b = client_of(app, people, "officer_b")
    refused = b.post("/officers/alerts", json=follow_up)
    assert refused.status_code == 400
    assert "another team's" in refused.json["error"]
    assert b.get(f"/officers/?follow_up={original}").status_code == 403
    assert alert_count() == 1
    # Its own team may, even though the residents are the same.
    assert a.post("/officers/alerts", json=follow_up).status_code == 201


def test_an_alert_of_no_team_beyond_ones_areas_is_not_followed_up_to_the_same_people(
    app, people, two_teams, street, make_resident
):
    """An alert of no team (an administrator's) is the whole force's to see, but its
    residents are where it went: an officer kept to Central may not reach them."""
    make_resident(postcode="BS5 6XX", sms="+447700900003")  # Easton, outside Central
    admin = client_of(app, people, "admin")
    wide = admin.post("/officers/alerts", json=draft(3000, channels=["sms"])).json["alert_id"]
    near = admin.post("/officers/alerts", json=draft(150, channels=["sms"])).json["alert_id"]
    a = client_of(app, people, "officer_a")
    before = alert_count()

    def follow_up(parent_id: int) -> dict:
        return {
            "audience": "parent",
            "parent_id": parent_id,
            "shapes": [],
            "title": "Update",
            "body": "Arrested.",
            "category": "update",
        }

    for path in ("/officers/alerts", "/officers/preview"):
        refused = a.post(path, json=follow_up(wide))
        assert refused.status_code == 400, path
        assert "That alert went beyond the areas your team may send to" in refused.json["error"]
    assert alert_count() == before
    # Its page says so instead of offering an update the send would refuse (found by
    # an outside check: the buttons were offered, then the count failed).
    page = a.get(f"/officers/alerts/{wide}").text
    assert "Send an update" not in page and "Send the all-clear" not in page
    assert "That alert went beyond the areas your team may send to" in page
    assert "Send an update" in a.get(f"/officers/alerts/{near}").text
    # One that went inside Central's wards they may follow up.
    assert a.post("/officers/alerts", json=follow_up(near)).status_code == 201
    # Their own alert they may follow up wherever it went, even after the team's
    # areas changed (the all-clear of yesterday's alert).
    own = a.post("/officers/alerts", json=draft(150, channels=["sms"])).json["alert_id"]
    central, _ = two_teams
    admin_officer = people["admin"]
    teams.add_place_area(admin_officer, central.id, str(ward_id("Clifton")))
    (old,) = [area for area in central.areas if area.label.startswith("Central")]
    teams.remove_area(admin_officer, central.id, old.id)
    assert (
        a.post("/officers/alerts", json=follow_up(own) | {"body": "All clear."}).status_code == 201
    )


# --- seeing and cancelling -------------------------------------------------------------


def test_officers_see_and_cancel_only_their_own_teams_alerts(app, people, two_teams, street):
    a = client_of(app, people, "officer_a")
    b = client_of(app, people, "officer_b")
    mine = b.post("/officers/alerts", json=draft(300, send_at=None)).json["alert_id"]
    theirs = a.post("/officers/alerts", json=draft(300, title="Theirs")).json["alert_id"]

    page = b.get("/officers/alerts").text
    assert f"/officers/alerts/{mine}" in page and f"/officers/alerts/{theirs}" not in page
    for path in (f"/officers/alerts/{theirs}", f"/officers/alerts/{theirs}/progress"):
        assert b.get(path).status_code == 403
    assert b.post(f"/officers/alerts/{theirs}/cancel", data={"confirm": "yes"}).status_code == 403
    assert db.session.get(Alert, theirs).status != "cancelled"

    # A team's supervisor sees and cancels the team's alert; an admin sees everything.
    sue = client_of(app, people, "supervisor_a")
    assert sue.get(f"/officers/alerts/{theirs}").status_code == 200
    assert sue.get(f"/officers/alerts/{mine}").status_code == 403
    admin_page = client_of(app, people, "admin").get("/officers/alerts").text
    assert f"/officers/alerts/{mine}" in admin_page and f"/officers/alerts/{theirs}" in admin_page
    assert sue.post(f"/officers/alerts/{theirs}/cancel", data={"confirm": "yes"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Alert, theirs).status == "cancelled"


def test_the_outbox_shows_a_team_only_its_own_alerts_messages(
    app, people, two_teams, street, run_worker
):
    """Its alert's page refused another team's officer, and the outbox showed them its
    messages (an outside check)."""
    a = client_of(app, people, "officer_a")
    b = client_of(app, people, "officer_b")
    theirs = a.post("/officers/alerts", json=draft(300, title="Theirs")).json["alert_id"]
    run_worker()
    sent = db.session.scalars(
        select(OutboxMessage.recipient).where(OutboxMessage.alert_id == theirs)
    ).all()
    assert sent
    assert f"alert {theirs} ·" in a.get("/officers/outbox").text
    page = b.get("/officers/outbox").text
    assert f"alert {theirs} ·" not in page and "Theirs" not in page
    assert b.get(f"/officers/outbox?alert={theirs}").status_code == 403
    assert f"alert {theirs} ·" in client_of(app, people, "admin").get("/officers/outbox").text


def test_an_alert_of_no_team_is_the_forces_and_a_test_belongs_to_its_authors_team(
    app, people, two_teams, make_officer, street
):
    loner = make_officer(role="officer", email="loner@police.example")
    loose = signed_in(app, loner, "officer")
    alert_id = loose.post("/officers/alerts", json=draft(2000)).json["alert_id"]
    assert db.session.scalars(select(alert_teams.c.team_id)).all() == []
    for who in ("officer_a", "officer_b"):
        assert client_of(app, people, who).get(f"/officers/alerts/{alert_id}").status_code == 200
    a = client_of(app, people, "officer_a")
    test = a.post("/officers/alerts/test", json=draft(channels=["email"])).json["alert_id"]
    assert db.session.scalars(
        select(alert_teams.c.team_id).where(alert_teams.c.alert_id == test)
    ).all() == [two_teams[0].id]
    assert client_of(app, people, "officer_b").get(f"/officers/alerts/{test}").status_code == 403


# --- approving ----------------------------------------------------------------------


def test_supervisors_are_asked_and_approve_only_for_the_teams_they_supervise(
    app, people, two_teams, street
):
    sue = client_of(app, people, "supervisor_a")  # signed in: on duty
    sam = client_of(app, people, "supervisor_b")
    a = client_of(app, people, "officer_a")
    alert_id = a.post("/officers/alerts", json=draft(category="missing_person")).json["alert_id"]
    assert db.session.get(Alert, alert_id).status == "pending_approval"
    told = db.session.scalars(select(ResidentNotice.address)).all()
    assert told == ["sa@police.example"]

    assert "Burglaries" not in sam.get("/officers/approvals").text
    assert "Burglaries" in sue.get("/officers/approvals").text
    assert sam.post(f"/officers/alerts/{alert_id}/approve").status_code == 403
    assert sam.post(f"/officers/alerts/{alert_id}/reject", data={"reason": "No"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(Alert, alert_id).status == "pending_approval"

    form = approval_form(sue, f"/officers/alerts/{alert_id}")
    assert sue.post(f"/officers/alerts/{alert_id}/approve", data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(Alert, alert_id).status == "sending"
    approved = db.session.scalar(
        select(AuditEvent.actor_id).where(AuditEvent.action == "alert.approved")
    )
    assert approved == people["supervisor_a"].id


def test_the_service_refuses_an_approval_for_another_team_too(app, people, two_teams, street):
    from app.services.alerts import NotAllowed

    a = client_of(app, people, "officer_a")
    alert_id = a.post("/officers/alerts", json=draft(category="missing_person")).json["alert_id"]
    with pytest.raises(NotAllowed, match="Bristol Central's: a supervisor of that team"):
        approve_as_seen(people["supervisor_b"], alert_id)


def test_a_team_without_a_supervisor_asks_the_administrators(app, people, make_officer, street):
    admin = people["admin"]
    make_team(admin, "Night turn", members=[people["officer_a"]])
    client_of(app, people, "supervisor_b")  # on duty, but not this team's
    a = client_of(app, people, "officer_a")
    a.post("/officers/alerts", json=draft(category="missing_person"))
    assert db.session.scalars(select(ResidentNotice.address)).all() == [admin.email]


# --- the admin pages ------------------------------------------------------------------


def test_an_admin_makes_a_team_and_every_change_is_audited(app, people):
    admin = client_of(app, people, "admin")
    token = form_token(admin, "/admin/teams")
    made = admin.post("/admin/teams", data={"name": "  Bristol   Central ", "csrf_token": token})
    assert made.status_code == 302
    team = db.session.scalar(select(Team))
    assert team.name == "Bristol Central"
    again = admin.post("/admin/teams", data={"name": "bristol central", "csrf_token": token})
    assert again.status_code == 400
    assert "There is a team called “Bristol Central” already." in again.text
    empty = admin.post("/admin/teams", data={"name": "  ", "csrf_token": token})
    assert empty.status_code == 400 and "Give the team a name" in empty.text
    welsh = admin.post("/admin/teams?lang=cy", data={"name": "  ", "csrf_token": token})
    assert "Rhowch enw i&#39;r tîm" in welsh.text  # the page's language (it was English)
    admin.get("/admin/teams?lang=en")

    base = f"/admin/teams/{team.id}"
    officer, sue = people["officer_a"], people["supervisor_a"]
    admin.post(f"{base}/members", data={"officers": [officer.id, sue.id], "csrf_token": token})
    admin.post(f"{base}/supervisors", data={"officers": [sue.id], "csrf_token": token})
    bad = admin.post(f"{base}/supervisors", data={"officers": [officer.id], "csrf_token": token})
    assert (
        "Only supervisors or admins of this force can be supervisors, and someone "
        "chosen is not" in admin.get(bad.headers["Location"]).text
    )
    admin.post(f"{base}/areas", data={"place": ward_id("Central"), "csrf_token": token})
    admin.post(f"{base}/areas", data={"place": "999999", "csrf_token": token})
    admin.post(f"{base}/name", data={"name": "Central NPT", "csrf_token": token})
    page = admin.get(base).text
    assert "Choose a ward or district of the force from the list." in page
    # A refused name comes back in its box, by its error (the old name came back, what
    # was typed lost: an outside check).
    refused = admin.post(f"{base}/name", data={"name": "Central \u202eNPT", "csrf_token": token})
    assert refused.status_code == 400
    assert 'id="name-error"' in refused.text and "Central \u202eNPT" in refused.text
    # "²" is a digit to str.isdigit(), not to int(): refused as any other wrong choice.
    for path, field in (("areas", "place"), ("members", "officers"), ("supervisors", "officers")):
        odd = admin.post(f"{base}/{path}", data={field: "²", "csrf_token": token})
        assert odd.status_code == 302, path
        assert "from the list" in admin.get(odd.headers["Location"]).text
    assert "Central NPT" in page and "Central (ward)" in page

    db.session.expire_all()
    team = db.session.get(Team, team.id)
    assert {o.id for o in team.members} == {officer.id, sue.id}
    assert [o.id for o in team.supervisors] == [sue.id]
    assert team.area is not None
    events = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.subject_type == "team").order_by(AuditEvent.id)
    ).all()
    assert events == [
        "team.created",
        "team.members_changed",
        "team.supervisors_changed",
        "team.area_added",
        "team.renamed",
    ]
    area_id = team.areas[0].id
    removed = admin.post(f"{base}/areas/{area_id}/remove", data={"csrf_token": token})
    db.session.expire_all()
    assert db.session.get(Team, team.id).area is None
    # Its last area: said that its members may now send anywhere (it was silent).
    assert (
        "It was the team&#39;s last area: its members may now send anywhere"
        in admin.get(removed.headers["Location"]).text
    )

    # Members emptied: those now in no team are named, as free to send anywhere (it
    # said only "Members saved": an outside check).
    emptied = admin.post(f"{base}/members", data={"csrf_token": token})
    said = admin.get(emptied.headers["Location"]).text
    assert "are in no team now: they may send anywhere in the force" in said
    assert officer.name in said

    # Without the CSRF token nothing changes; non-admins are refused.
    admin.environ_base.pop("HTTP_X_CSRFTOKEN")
    assert admin.post("/admin/teams", data={"name": "No token"}).status_code == 400
    for who in ("officer_a", "supervisor_a"):
        assert client_of(app, people, who).get("/admin/teams").status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Team)) == 1


def test_two_admins_making_the_same_team_at_once_are_told_not_given_a_500(app, people, monkeypatch):
    """Found by an outside probe: the second of two identical posts at the same moment
    passed the name check before the first was committed, broke the unique name, and
    got a 500 (a wordless page for an invitation). It is told what happened, and
    nothing of it is written."""
    admin = client_of(app, people, "admin")
    token = form_token(admin, "/admin/teams")
    assert admin.post("/admin/teams", data={"name": "Race", "csrf_token": token}).status_code == 302
    # The second post's check ran before the first was committed: it saw no team.
    monkeypatch.setattr(teams, "_named_alike", lambda name: None)
    second = admin.post("/admin/teams", data={"name": "Race", "csrf_token": token})
    assert second.status_code == 409
    assert "Someone else did the same at the same moment. Reload the page" in second.text
    monkeypatch.undo()
    assert db.session.scalars(select(Team.name)).all() == ["Race"]  # once
    assert admin.get("/admin/teams").status_code == 200  # the session goes on


def test_a_refusal_names_a_few_of_many_areas_and_counts_the_rest(app_ctx):
    """Twelve wards made a refusal thirteen lines long on a phone (an outside check);
    the map draws every one of them."""
    from app.services.teams import PermittedArea

    wards = tuple(f"Ward {n:02d} (ward)" for n in range(12))
    many = PermittedArea(frozenset({1}), ("Bristol Central",), wards)
    assert many.describe() == (
        "Bristol Central (Ward 00 (ward), Ward 01 (ward), Ward 02 (ward), and 9 more)"
    )
    few = PermittedArea(frozenset({1}), ("Bristol Central",), wards[:4])
    assert few.describe().count("(ward)") == 4 and "more" not in few.describe()


def test_two_admins_naming_a_team_alike_at_once_get_the_refusal_not_an_error(app, people):
    """Both found "Central" free; the second insert broke the unique index (a 500).
    Here the first admin's naming holds the force's lock while this one waits: when it
    gets it, the name is taken, and it is refused as a name taken before."""
    admin = people["admin"]
    said = refused_after_the_lock(
        app,
        f"team-names:{admin.force_id}",
        lambda: teams.create_team(db.session.get(Officer, admin.id), "central"),
        teams.TeamRefused,
        "INSERT INTO teams (name, force_id) VALUES ('Central', :force)",
        {"force": admin.force_id},
    )
    assert said == ["There is a team called “Central” already."]  # the team's own name
    assert db.session.scalar(select(func.count()).select_from(Team)) == 1


def test_the_team_pages_name_roles_as_the_other_pages_do_in_the_pages_language(app, people):
    """Found by an outside check: the team's tick boxes said "(officer)", "(admin)" (the
    codes, in English on a Welsh page), where every other page names the role."""
    admin = client_of(app, people, "admin")
    team = teams.create_team(people["admin"], "Bristol Central")
    english = admin.get(f"/admin/teams/{team.id}").text
    assert 'Ann <span class="muted">(Officer)</span>' in english
    assert 'Sue <span class="muted">(Supervisor)</span>' in english
    welsh = admin.get(f"/admin/teams/{team.id}?lang=cy").text
    overview = admin.get("/admin/teams").text
    admin.get("/admin/teams?lang=en")
    assert "(officer)" not in welsh and "(supervisor)" not in welsh
    assert 'Sue <span class="muted">(Goruchwyliwr)</span>' in welsh
    assert "<li>Ann (Swyddog)</li>" in overview  # in no team yet, on the page left Welsh


def test_team_names_that_read_alike_are_one_name(app, people):
    """Found by an outside check: "Centrаl" (a Cyrillic "а"), "Ｃｅｎｔｒａｌ" (full
    width) and "STRASSE" beside "Straße" were each a team of their own, side by side
    in the invite form's list, where an admin may put a new officer in the wrong team.
    A letter of another alphabet is refused; a name that reads as another team's is
    refused naming that team; full-width letters are kept as the letters they are."""
    admin = db.session.get(Officer, people["admin"].id)
    teams.create_team(admin, "Central")
    with pytest.raises(teams.TeamRefused, match="a letter of another alphabet"):
        teams.create_team(admin, "Centr\u0430l")
    with pytest.raises(teams.TeamRefused, match="There is a team called “Central” already"):
        teams.create_team(admin, "\uff23\uff45\uff4e\uff54\uff52\uff41\uff4c")
    with pytest.raises(teams.TeamRefused, match="There is a team called “Central” already"):
        teams.create_team(admin, "Céntral")
    # Nor with marks that show nothing in it (a review): a joiner, a variation selector,
    # a grapheme joiner, a blank Braille cell.
    for unseen in ("Cent\u200dral", "Cent\u200cral", "Central\ufe0f", "Cent\u034fral"):
        with pytest.raises(teams.TeamRefused, match="There is a team called “Central” already"):
            teams.create_team(admin, unseen)
    # Dashes and digits of other kinds read as ours (an outside check).
    teams.create_team(admin, "Team-1")
    for alike in ("Team\u20101", "Team\u2013\u0661"):
        with pytest.raises(teams.TeamRefused, match="There is a team called “Team-1” already"):
            teams.create_team(admin, alike)
    # And marks that read as the keyboard's: a phone's curly apostrophe and quotes, a
    # minus sign, a division slash (outside checks, a review).
    teams.create_team(admin, 'St Paul\'s "Bath/Wells"')
    for alike in (
        "St Paul\u2019s \u201cBath/Wells\u201d",
        'St Paul\u00b4s "Bath\u2215Wells"',
        "St Paul\u02bcs \u2033Bath\u2044Wells\u2033",
        # And past any list (a review): an Armenian apostrophe, a reversed prime, a
        # Hebrew geresh and gershayim, a Greek koronis (stored as a space and an accent).
        "St Paul\u055as \u05f4Bath/Wells\u05f4",
        'St Paul\u2035s "Bath/Wells"',
        'St Paul\u05f3s "Bath/Wells"',
        'St Paul\u1fbds "Bath/Wells"',
    ):
        with pytest.raises(teams.TeamRefused, match="There is a team called “St Paul's"):
            teams.create_team(admin, alike)
    with pytest.raises(teams.TeamRefused, match="There is a team called “Team-1” already"):
        teams.create_team(admin, "Team\u22121")
    # Signs whose names say MINUS among other words are not minus signs (a plus-minus
    # sign was refused as "Team -1": a review).
    teams.create_team(admin, "Team\u00b11")
    teams.create_team(admin, "Team\u22131")
    # ß is Latin, not another alphabet's: said as not English or Welsh (a review).
    with pytest.raises(teams.TeamRefused, match="“ß”.*not an English or Welsh letter"):
        teams.create_team(admin, "Straße")
    strasse = teams.create_team(admin, "Strasse")
    with pytest.raises(teams.TeamRefused, match="There is a team called “Strasse” already"):
        teams.create_team(admin, "STRASSE")
    north = teams.create_team(admin, "\uff2e\uff4f\uff52\uff54\uff48")
    assert north.name == "North"
    with pytest.raises(teams.TeamRefused, match="There is a team called “Central” already"):
        teams.rename_team(admin, north.id, "CENTRAL")
    assert teams.rename_team(admin, strasse.id, "STRASSE").name == "STRASSE"  # itself
    db.session.rollback()
    assert sorted(db.session.scalars(select(Team.name))) == [
        "Central",
        "North",
        "STRASSE",
        'St Paul\'s "Bath/Wells"',
        "Team-1",
        "Team\u00b11",
        "Team\u22131",
    ]


def test_a_role_change_and_a_teams_members_saved_at_once_leave_no_analyst_in_a_team(
    app, people, two_teams, monkeypatch
):
    """Found by a review: an officer made an analyst while another admin saved a team's
    members with them in it ended an analyst in the team (the two took no lock in
    common). The members' save waits for the role change, or the role change for it."""
    import threading

    from app.dao import teams as teams_dao
    from app.models import Officer, team_members
    from app.services.accounts import change_role

    central, _east = two_teams
    bob = people["officer_b"]
    slow, real = threading.Event(), teams_dao.set_links

    def set_links_slowly(*args):
        done = real(*args)
        slow.set()
        time.sleep(1.0)  # a slow request, its transaction open
        return done

    monkeypatch.setattr(teams_dao, "set_links", set_links_slowly)
    members = [str(people["officer_a"].id), str(people["supervisor_a"].id), str(bob.id)]
    admin_id, team_id = people["admin"].id, central.id

    def saving() -> None:
        with app.app_context():
            teams.set_members(db.session.get(Officer, admin_id), team_id, members)

    thread = threading.Thread(target=saving)
    thread.start()
    assert slow.wait(10)
    change_role(db.session.get(Officer, admin_id), bob.id, "analyst")
    thread.join(10)
    db.session.rollback()
    assert db.session.get(Officer, bob.id).role == "analyst"
    held = select(team_members.c.team_id).where(team_members.c.officer_id == bob.id)
    assert list(db.session.scalars(held)) == []


def test_an_account_given_a_role_no_team_holds_leaves_its_teams(app, people, two_teams):
    """Found by an outside check: an officer made an analyst stayed in their team
    (their page said "Role: Analyst … Teams: Bristol Central", which the invite form
    refuses), and made an officer again was held to its area without a word. A role
    change leaves the teams the new role may not be in, audited, and the admin is
    told."""
    from app.models import team_members, team_supervisors

    def audited_count(action: str) -> int:
        db.session.rollback()
        return db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        )

    def links(table, who: str) -> set[int]:
        db.session.rollback()
        officer_id = people[who].id
        return set(
            db.session.scalars(select(table.c.team_id).where(table.c.officer_id == officer_id))
        )

    changes = audited_count("team.members_changed")
    admin = client_of(app, people, "admin")
    page = f"/admin/officers/{people['supervisor_a'].id}"
    token = form_token(admin, page)
    # A supervisor made an officer: still a member, no longer a supervisor.
    made = admin.post(page + "/role", data={"role": "officer", "csrf_token": token})
    assert made.status_code == 302
    said = admin.get(page).text
    assert "They no longer supervise Bristol Central: only supervisors and admins do." in said
    assert links(team_members, "supervisor_a") == {two_teams[0].id}
    assert links(team_supervisors, "supervisor_a") == set()
    # Then an analyst: in no team.
    made = admin.post(page + "/role", data={"role": "analyst", "csrf_token": token})
    assert made.status_code == 302
    said = admin.get(page).text
    assert "They are no longer a member of Bristol Central: an analyst is in no team." in said
    assert links(team_members, "supervisor_a") == set()
    assert audited_count("team.members_changed") == changes + 1
    # The same role again changes nothing, and says nothing of teams.
    again = admin.post(page + "/role", data={"role": "analyst", "csrf_token": token})
    assert again.status_code == 302
    said = admin.get(page).text
    assert "no longer" not in said and "in no team:" not in said
    # Made an officer again, in no team: the admin is told it may send anywhere (it
    # was not: an outside check).
    made = admin.post(page + "/role", data={"role": "officer", "csrf_token": token})
    assert made.status_code == 302
    said = admin.get(page).text
    assert "They are in no team: they may send anywhere in the force." in said
