"""The authorisation matrix (app/services/authorisation.py, and the README's table)
walked: every role × every staff route in the app's URL map × an alert of the
officer's own team and one of another team. What the matrix allows succeeds (2xx or
3xx); everything else is 403. A route in neither the matrix nor the public
blueprints fails the test, so a new route needs a decision."""

from __future__ import annotations

import io
import re
import wave
from itertools import count
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Alert, Place, Reply
from app.services import teams
from app.services.alerts import AlertDraft, submit_alert
from app.services.authorisation import (
    ALL,
    ENDPOINTS,
    MATRIX,
    MATRIX_ROLES,
    NO,
    PUBLIC_BLUEPRINTS,
    TEAM,
    access,
)
from app.services.resident_import import create_import, run_import
from tests.factories import signed_in

ROOT = Path(__file__).resolve().parents[1]
BS1_6AD = [-2.588230, 51.451967]
serial = count(1)


def staff_rules(app):
    return sorted(
        (rule for rule in app.url_map.iter_rules() if rule.endpoint in ENDPOINTS),
        key=lambda rule: (rule.endpoint, rule.rule),
    )


def test_every_route_is_in_the_matrix_or_public(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - {"static"}
    undecided = {
        e for e in endpoints if e not in ENDPOINTS and e.split(".")[0] not in PUBLIC_BLUEPRINTS
    }
    assert not undecided, f"Put these routes in the authorisation matrix: {sorted(undecided)}"
    assert set(ENDPOINTS) <= endpoints, set(ENDPOINTS) - endpoints
    # A follow-up is a send (officers.send) of an alert's residents: tests/test_teams.py.
    assert set(MATRIX) - set(ENDPOINTS.values()) == {"alert.follow_up"}
    assert set(ENDPOINTS.values()) <= set(MATRIX)
    for cells, _covers in MATRIX.values():
        assert len(cells) == len(MATRIX_ROLES) and set(cells) <= {ALL, TEAM, NO}


def test_the_readme_shows_the_matrix():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### The authorisation matrix", 1)[1]
    rows = {}
    for line in section.splitlines():
        found = re.match(r"\| `([a-z._]+)` \|(.+)\|\s*$", line)
        if found:
            cells = [c.strip() for c in found.group(2).split("|")]
            rows[found.group(1)] = tuple(cells[: len(MATRIX_ROLES)])
    words = {"all": ALL, "own team": TEAM, "—": NO}
    assert {a: tuple(words[c] for c in cells) for a, cells in rows.items()} == {
        action: cells for action, (cells, _covers) in MATRIX.items()
    }


def wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x01" * 8000 * 5)
    return buffer.getvalue()


class World:
    """Two teams. Every role's account (but the analyst's: analysts are in no team)
    is in the own team, which the supervisor supervises; alerts of the other team are
    written by its officer."""

    def __init__(self, app, make_officer, make_resident):
        self.app = app
        self.make_officer, self.make_resident = make_officer, make_resident
        self._asked: int | None = None
        make_resident(postcode="BS1 6AD", sms="+447700900001")
        self.staff = {
            role: make_officer(role=role, email=f"{role}@police.example") for role in MATRIX_ROLES
        }
        self.admin = self.staff["admin"]
        self.own_author = make_officer(role="officer", email="own@police.example")
        self.other_author = make_officer(role="officer", email="other@police.example")
        own = teams.create_team(self.admin, "Own team")
        other = teams.create_team(self.admin, "Other team")
        teams.set_members(
            self.admin,
            own.id,
            [str(o.id) for o in (*self.staff.values(), self.own_author) if o.role != "analyst"],
        )
        teams.set_supervisors(
            self.admin, own.id, [str(self.staff["supervisor"].id), str(self.admin.id)]
        )
        teams.set_members(self.admin, other.id, [str(self.other_author.id)])
        self.spare_team = teams.create_team(self.admin, "Spare team")
        self.spare_officer = make_officer(role="officer", email="spare@police.example")
        # A checked import with a rejected row (its report and the rejected rows' CSV).
        self.import_id = create_import(
            self.admin,
            filename="list.csv",
            content="name,postcode,mobile\nJo,ZZ99 9ZZ,07700 900110\n",
            notify=False,
        ).id
        run_import(self.import_id, dry_run=True)
        self.ward_id = db.session.scalar(select(Place.id).where(Place.kind == "ward"))
        # A resident's text to answer (an answer to no reply is not found).
        reply = Reply(
            provider_ref="SM-matrix-reply",
            channel="sms",
            address="+447700900002",
            body="Who do I call?",
            kind="message",
        )
        db.session.add(reply)
        db.session.commit()
        self.reply_id = reply.id
        self.shared = {scope: self.alert(scope) for scope in ("own", "other")}

    def alert(self, scope: str) -> int:
        author = self.own_author if scope == "own" else self.other_author
        sent = submit_alert(
            author,
            AlertDraft(
                shapes=[{"kind": "circle", "center": BS1_6AD, "radius_m": 500}],
                title=f"Alert {next(serial)}",
                body="Lock your doors.",
                category="missing_person",  # waits for approval: approve, reject, cancel
            ),
        )
        return sent.alert.id

    def asked_alert(self) -> int:
        """An alert of a second force (the demo's Wiltshire) whose area reaches into
        ours, which it asks our force to send to our residents: made once, when a
        cross-border route is first tried."""
        if self._asked is None:
            from app.cli.demo import SECOND_FORCE
            from app.dao.forces import find_force_by_code
            from app.services.alerts import cross_border
            from app.services.forces import add_force

            force = find_force_by_code(SECOND_FORCE["code"]) or add_force(**SECOND_FORCE)[0]
            self.make_resident(postcode="BA14 6AA", sms="+447700900002")
            self.make_resident(postcode="BA1 1RG", sms="+447700900003")
            asking = self.make_officer(
                role="supervisor", email="asking@wilts.example", force_id=force.id
            )
            writer = self.make_officer(
                role="officer", email="writer@wilts.example", force_id=force.id
            )
            shapes = [{"kind": "circle", "center": [-2.28, 51.35], "radius_m": 15_000}]
            alert = submit_alert(writer, AlertDraft(shapes=shapes, title="Asked", body="B"))
            cross_border.ask_force(asking, alert.alert.id, self.staff["admin"].force_id)
            self._asked = alert.alert.id
        return self._asked


def request_for(world: World, client, rule, method: str, scope: str | None, role: str):
    """A request the route would accept from someone allowed to use it."""
    values = {}
    for name in rule.arguments:
        if name == "alert_id":
            mutates = rule.endpoint in ("officers.approve", "officers.reject", "officers.cancel")
            if rule.endpoint in ("officers.asked", "officers.decide_asked"):
                values[name] = world.asked_alert()
            else:
                values[name] = world.alert(scope) if mutates else world.shared[scope]
        elif name == "officer_id":
            values[name] = world.spare_officer.id
        elif name == "import_id":
            values[name] = world.import_id
        elif name == "team_id":
            values[name] = world.spare_team.id
        elif name == "reply_id":
            values[name] = world.reply_id
        elif name == "area_id":
            values[name] = 1
        elif name == "place_id":
            values[name] = world.ward_id
        elif name == "action":
            values[name] = "enable"
    path = rule.build(values, append_unknown=False)[1]
    if method == "GET":
        return client.get(path)
    n = next(serial)
    json_bodies = {
        "officers.preview": {"shapes": [{"kind": "circle", "center": BS1_6AD, "radius_m": 500}]},
        "officers.compose": {"title": "T", "body": "B"},
        "officers.templates": {
            "name": f"Template {n}",
            "category": "incident",
            "title": "T",
            "body": "B",
        },
        "officers.send": {
            "shapes": [{"kind": "circle", "center": BS1_6AD, "radius_m": 500}],
            "title": f"Sent {n}",
            "body": "B",
        },
        "officers.send_test": {"title": "T", "body": "B", "channels": ["email"]},
    }
    if rule.endpoint in json_bodies:
        return client.post(path, json=json_bodies[rule.endpoint])
    token = client.environ_base.get("HTTP_X_CSRFTOKEN", "")
    forms = {
        "officers.upload_recording": {"recording": (io.BytesIO(wav()), "message.wav")},
        "officers.reject": {"reason": "Not yet."},
        "admin.import_residents": {
            "file": (io.BytesIO(b"name,postcode\n"), "list.csv"),
            "csrf_token": token,
        },
        "admin.invite": {"email": f"new{n}@police.example", "name": "New", "role": "officer"},
        "admin.set_role": {"role": "officer"},
        "admin.set_officer_mobile": {"mobile": "07700 900555"},
        "admin.create_team": {"name": f"Team {n}"},
        "admin.rename_team": {"name": f"Spare {n}"},
        "admin.add_team_area": {"place": str(world.ward_id)},
        "inbox.answer": {"words": "Thank you."},
        "officers.decide_asked": {"decision": "approve"},
        "admin.force": {"name": "Avon and Somerset", "contact": f"Call 101 ({n})"},
        "admin.residents": {"contact": "07700 900999"},
    }
    return client.post(path, data=forms.get(rule.endpoint, {}))


# Routes that want a tick first: the walk posts none, and is asked for it.
TICK_FIRST = {"officers.cancel", "officers.send_again", "officers.take_down"}


@pytest.mark.timeout(900)
def test_every_role_on_every_route_for_its_own_and_another_teams_alerts(
    app, make_officer, make_resident
):
    world = World(app, make_officer, make_resident)
    checked = []
    for role in MATRIX_ROLES:
        client = signed_in(app, world.staff[role], role)
        for rule in staff_rules(app):
            action = ENDPOINTS[rule.endpoint]
            allowed = access(role, action)
            scopes = ("own", "other") if "alert_id" in rule.arguments else (None,)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                for scope in scopes:
                    expected = allowed == ALL or (allowed == TEAM and scope != "other")
                    answer = request_for(world, client, rule, method, scope, role)
                    where = (role, method, rule.rule, scope, answer.status_code)
                    if expected:
                        # Allowed: answered, or (posted without its tick) asked for it
                        # at the box, as the page does (app/officers._tick_first).
                        asked = (
                            rule.endpoint in TICK_FIRST
                            and answer.status_code == 400
                            and 'name="confirm"' in answer.text
                        )
                        assert 200 <= answer.status_code < 400 or asked, where
                    else:
                        assert answer.status_code == 403, where
                    checked.append((role, rule.endpoint, scope, expected))
    # The walk covered every staff route for every role, and both sides of TEAM.
    assert {endpoint for _, endpoint, _, _ in checked} == set(ENDPOINTS)
    assert ("officer", "officers.cancel", "other", False) in checked
    assert ("supervisor", "officers.approve", "own", True) in checked
    assert ("admin", "officers.approve", "other", True) in checked
    # The team rules held: the other team's alerts were never approved or cancelled by
    # anyone but the admin.
    decided = db.session.scalars(
        select(Alert.decided_by_id).where(Alert.decided_by_id.is_not(None))
    ).all()
    assert set(decided) <= {world.staff["supervisor"].id, world.admin.id}
