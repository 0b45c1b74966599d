"""Teams (neighbourhood policing teams) and the areas they may send to.

The rules (README, "Teams and permitted areas"):

- An officer belongs to one or more teams; a supervisor supervises teams. "Their
  teams" are the teams they belong to or supervise.
- A team's permitted areas are wards, districts or drawn shapes; its `area` is their
  union. Officers send only inside the union of their teams' permitted areas. A team
  with none limits nothing: an officer with such a team (or with no team, or an
  administrator) may send anywhere in the force.
- An alert belongs to its author's teams when it was written (alert_teams, written by
  a trigger). An alert of no team (its author was in none) is the force's: any
  officer may see it.
- Administrators only change teams, and every change is audited.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from shapely import wkb as shapely_wkb
from sqlalchemy import select

from app.dao import places as places_dao
from app.dao import teams as teams_dao
from app.dao.audit import create_audit_event
from app.dao.locks import lock_until_commit
from app.extensions import db
from app.models import Alert, Officer, Team, TeamArea, team_members, team_supervisors
from app.services import forces
from app.services.text import checked_field, other_alphabet_refusal, plain_letters, whole_number
from app.services.transaction import transaction
from geo.areas import MAX_AREA_POINTS, MAX_SHAPES, MAX_VERTICES_PER_SHAPE, wholly_outside
from geo.names import reading_order

MAX_NAME = 80
# Roles that may be a team's supervisor.
SUPERVISOR_ROLES = ("supervisor", "admin")
# Roles that belong to teams (an analyst's reports are force-wide).
MEMBER_ROLES = ("officer", "supervisor", "admin")
# Roles that see and act on every team's alerts.
FORCE_WIDE_ROLES = ("admin",)
# Along a permitted area's edge, metres an alert's area may stray (a ward chosen
# on the map is the very outline; a circle drawn to the edge is a few metres off).
EDGE_TOLERANCE_M = 25


class TeamRefused(ValueError):
    """A change to a team that cannot be made, with the reason."""


@dataclass(frozen=True)
class StaffTeams:
    member: frozenset[int]
    supervised: frozenset[int]

    @property
    def all(self) -> frozenset[int]:
        return self.member | self.supervised


def teams_of(officer: Officer) -> StaffTeams:
    return StaffTeams(
        frozenset(teams_dao.member_team_ids(officer.id)),
        frozenset(teams_dao.supervised_team_ids(officer.id)),
    )


def team_names_of(officer: Officer) -> dict[str, list[str]]:
    """The names of the teams an officer is in and supervises, for their account page:
    with none, an officer may send anywhere in the force, and nothing said so (an
    outside check)."""
    names = {team.id: team.name for team in find_teams()}
    of = teams_of(officer)
    return {
        "member": sorted(names[i] for i in of.member if i in names),
        "supervised": sorted(names[i] for i in of.supervised if i in names),
    }


def is_force_wide(officer: Officer) -> bool:
    return officer.role in FORCE_WIDE_ROLES


# --- which alerts -----------------------------------------------------------------


def is_own_team_alert(officer: Officer, alert: Alert) -> bool:
    """Whether the alert is of this officer's teams: they wrote it, it is of a team
    they belong to or supervise, or it is of no team (and of their force)."""
    if alert.force_id != officer.force_id:
        return False
    if alert.created_by_id == officer.id:
        return True
    alert_teams = teams_dao.alert_team_ids(alert.id)
    return not alert_teams or bool(alert_teams & teams_of(officer).all)


def is_supervised_alert(officer: Officer, alert: Alert) -> bool:
    """Whether the alert is of a team this officer supervises (or of no team), of
    their force."""
    if alert.force_id != officer.force_id:
        return False
    alert_teams = teams_dao.alert_team_ids(alert.id)
    return not alert_teams or bool(alert_teams & teams_of(officer).supervised)


def visible_alerts_clause(officer: Officer):
    """A filter for the alerts this officer may see: their force's, and of those, for
    an officer who is not force-wide, their teams'."""
    own_force = Alert.force_id == officer.force_id
    if is_force_wide(officer):
        return own_force
    return own_force & teams_dao.visible_alerts_clause(officer.id, set(teams_of(officer).all))


def supervised_alerts_clause(officer: Officer):
    """A filter for the alerts this officer approves for: their force's, and of those,
    for an officer who is not force-wide, their supervised teams'."""
    own_force = Alert.force_id == officer.force_id
    if is_force_wide(officer):
        return own_force
    return own_force & teams_dao.alerts_of_teams_clause(set(teams_of(officer).supervised))


def find_alerts_seen_by(officer: Officer, limit: int = 100) -> list[Alert]:
    """The newest alerts this officer may see, newest first."""
    return teams_dao.find_alerts(limit=limit, where=visible_alerts_clause(officer))


def team_names_by_alert(alert_ids: list[int]) -> dict[int, list[str]]:
    return teams_dao.team_names_by_alert(alert_ids)


def alert_team_names(alert: Alert) -> list[str]:
    return teams_dao.team_names(teams_dao.alert_team_ids(alert.id))


def approvers_for(alert: Alert) -> list[Officer] | None:
    """The supervisors of the alert's teams (active), or None when the alert is of no
    team (any supervisor may approve it)."""
    alert_teams = teams_dao.alert_team_ids(alert.id)
    if not alert_teams:
        return None
    return teams_dao.supervisors_of(alert_teams)


# --- where an officer may send ------------------------------------------------------


@dataclass(frozen=True)
class PermittedArea:
    """Where an officer may send: `team_ids` whose areas' union limits them, or None
    for anywhere in the force; with the teams' names and areas' labels to say so."""

    team_ids: frozenset[int] | None
    team_names: tuple[str, ...] = ()
    area_labels: tuple[str, ...] = ()

    @property
    def limited(self) -> bool:
        return self.team_ids is not None

    def describe(self) -> str:
        """The teams, with their areas: the first few named, the rest counted (twelve
        wards made a refusal thirteen lines on a phone: an outside check; the map
        draws them all)."""
        teams = ", ".join(self.team_names)
        labels = list(self.area_labels)
        if len(labels) > 4:
            labels = [*labels[:3], gettext("and %(count)s more", count=len(labels) - 3)]
        areas = ", ".join(labels)
        return f"{teams} ({areas})" if areas else teams


# A ward's or district's area is kept labelled as "Ashley (ward)": its kind is said in
# the page's language when shown (English on Welsh pages: an outside check).
AREA_KINDS = {"ward": _l("ward"), "district": _l("district")}


def area_label_shown(label: str) -> str:
    """A team area's label in the page's language: "Ashley (ward)" / "Ashley (ward)"
    in Welsh too, "Bath and North East Somerset (dosbarth)"; a drawn shape's name as
    given."""
    name, _, kind = label.rpartition(" (")
    kind = kind.removesuffix(")")
    if name and kind in AREA_KINDS:
        # In reading order, as the search offered it ("Bristol, City of" read so once
        # chosen: an outside check).
        return gettext("%(name)s (%(kind)s)", name=reading_order(name), kind=AREA_KINDS[kind])
    return label


def permitted_area(officer: Officer) -> PermittedArea:
    if is_force_wide(officer):
        return PermittedArea(None)
    team_ids = set(teams_of(officer).all)
    if not teams_dao.permitted_teams_limited(team_ids):
        return PermittedArea(None)
    teams = [t for t in teams_dao.find_teams() if t.id in team_ids]
    labels = sorted({area_label_shown(area.label) for team in teams for area in team.areas})
    return PermittedArea(frozenset(team_ids), tuple(t.name for t in teams), tuple(labels))


def area_refusal(officer: Officer, area_wkb: bytes) -> str | None:
    """Why this officer may not send to this area (BNG WKB), or None if they may."""
    found = _outside_permitted(officer, area_wkb)
    if found is None:
        return None
    permitted, outside = found
    if wholly_outside(shapely_wkb.loads(area_wkb).area / 1e6, outside):
        # "13 km² of it is outside" of a 12.6 km² circle read as more than all of it
        # (an outside check): all of it is said so.
        return gettext(
            "This area is outside the areas your team may send to: %(permitted)s. All "
            "of it is outside. Move it, or ask an administrator to add the area to your "
            "team.",
            permitted=permitted.describe(),
        )
    # Its own sentence in each language: capitalised into the English, "Less than 0.1"
    # began mid-sentence in the Welsh ("Mae Llai na 0.1 km²…": an outside check).
    how_much = (
        gettext("Less than 0.1 km² of it is outside.")
        if outside < 0.1
        else gettext("%(km2)s km² of it is outside.", km2=km2_words(outside))
    )
    return gettext(
        "This area is outside the areas your team may send to: %(permitted)s. "
        "%(outside)s Move or shrink it, or ask an administrator to add the area to your "
        "team.",
        permitted=permitted.describe(),
        outside=how_much,
    )


# How far the part inside is simplified for the map, tried in turn: both well within
# EDGE_TOLERANCE_M, so the simplified part is still accepted.
INSIDE_SIMPLIFY_M = (5, 15)
# A part smaller than this (a strip along the edge, of an area drawn outside) is not
# offered: 100 m by 100 m.
INSIDE_LEAST_KM2 = 0.01


def inside_part(officer: Officer, area_wkb: bytes) -> dict | None:
    """The part of an area (BNG WKB) inside the officer's teams' permitted areas, as a
    WGS84 GeoJSON MultiPolygon the map can draw and send back as its shapes; None when
    they are kept to no areas, no part is inside, or the part is too intricate to send
    as drawn shapes. An area refused for a sliver outside need not be redrawn by hand
    on a phone: the map offers to keep this part."""
    permitted = permitted_area(officer)
    if not permitted.limited:
        return None
    for simplify_m in INSIDE_SIMPLIFY_M:
        found = teams_dao.area_inside_geojson(set(permitted.team_ids), area_wkb, simplify_m)
        if found is None or found[1] < INSIDE_LEAST_KM2:
            return None
        geometry = json.loads(found[0])

        sizes = [sum(len(ring) for ring in polygon) for polygon in geometry["coordinates"]]
        if (
            sizes
            and len(sizes) <= MAX_SHAPES
            and max(sizes) <= MAX_VERTICES_PER_SHAPE
            and sum(sizes) <= MAX_AREA_POINTS
        ):
            return geometry
    return None


def follow_up_refusal(officer: Officer, alert: Alert, area_wkb: bytes | None) -> str | None:
    """Why this officer may not follow up, to the same people, this alert that went to
    this area (BNG WKB; None: no area on record), or None if they may. An alert of no
    team may have gone anywhere, and its people are where it went: an officer kept to
    their teams' areas may follow it up only if it went inside them. Their own alerts
    and their teams' they may follow up wherever they went (an all-clear after a ward
    was taken off the team, say)."""
    if alert.created_by_id == officer.id or teams_dao.alert_team_ids(alert.id):
        return None
    found = _outside_permitted(officer, area_wkb)
    if found is None:
        return None
    permitted, _ = found
    return gettext(
        "That alert went beyond the areas your team may send to: %(permitted)s. A team "
        "whose areas cover it, or a supervisor for the whole force, can follow it up.",
        permitted=permitted.describe(),
    )


def _outside_permitted(officer: Officer, area_wkb: bytes | None):
    """(the officer's permitted area, km² of the area outside it) when some of it is
    outside (all of it, when there is no area), else None."""
    permitted = permitted_area(officer)
    if not permitted.limited:
        return None
    if area_wkb is None:
        return permitted, float("inf")
    outside = teams_dao.area_outside_km2(set(permitted.team_ids), area_wkb, EDGE_TOLERANCE_M)
    return (permitted, outside) if outside > 0 else None


def targetable_places(officer: Officer, force, query: str) -> tuple[list[dict], bool, list[str]]:
    """The places named like `query` this officer may send to (their force's; inside
    their teams' permitted areas when they have any), whether they are so kept, and,
    when none is found so, the names of the force's places like it outside those areas
    (an outside check: "Mendip" and a typo got the same answer)."""
    permitted = permitted_area(officer)
    inside = teams_dao.permitted_union(set(permitted.team_ids)) if permitted.limited else None
    found = places_dao.find_targetable_places(
        force, query, inside=inside, tolerance_m=EDGE_TOLERANCE_M
    )
    elsewhere: list[str] = []
    if permitted.limited and not found:
        elsewhere = [p["name"] for p in places_dao.find_targetable_places(force, query)][:3]
    # Named as the pages name them ("City of Bristol", not ONS's "Bristol, City of").
    found = [{**place, "name": reading_order(place["name"])} for place in found]
    return found, permitted.limited, [reading_order(name) for name in elsewhere]


def km2_words(km2: float) -> str:
    """An area in km² as a person reads it: "0.4", "3.2", "707", "less than 0.1".

    >>> [km2_words(x) for x in (0.004, 0.44, 3.25, 706.79, 12345.6)]
    ['less than 0.1', '0.4', '3.2', '707', '12,346']
    """
    if km2 < 0.1:
        return gettext("less than 0.1")
    return f"{km2:,.1f}" if km2 < 10 else f"{km2:,.0f}"


def example_postcode(officer: Officer) -> str:
    """A postcode inside the areas the officer may send to, for the map's hint: it
    gave the force's, which may lie outside them (an outside check)."""
    permitted = permitted_area(officer)
    if permitted.limited:
        found = teams_dao.postcode_nearest_middle(set(permitted.team_ids))
        if found is not None:
            return found
    return forces.example_postcode()


def permitted_area_geojson(officer: Officer) -> dict | None:
    """The union of the officer's permitted areas (WGS84 GeoJSON) for the map, or None
    when they may send anywhere in the force."""
    permitted = permitted_area(officer)
    if not permitted.limited:
        return None
    found = teams_dao.permitted_area_geojson(set(permitted.team_ids))
    if found is None:
        return None
    return {
        "teams": list(permitted.team_names),
        "areas": list(permitted.area_labels),
        "geometry": json.loads(found),
    }


# --- administering teams -------------------------------------------------------------


def find_teams() -> list[Team]:
    return teams_dao.find_teams()


def find_team(team_id: int) -> Team | None:
    return db.session.get(Team, team_id)


def _force_districts() -> list[str]:
    force = forces.area_of(forces.current_force())
    return (force.properties.get("constituent_lad23cd") or []) if force else []


def find_area_places() -> list[dict]:
    """The force's districts and wards that can be permitted areas (id, kind, name,
    district)."""
    return teams_dao.find_area_places(_force_districts())


def team_page(team: Team) -> dict:
    """What the admin page of one team shows and offers."""
    districts = _force_districts()
    chosen = {area.place_id for area in team.areas if area.place_id}
    return {
        "staff": teams_dao.find_staff(MEMBER_ROLES),
        "supervisor_choices": teams_dao.find_staff(SUPERVISOR_ROLES),
        "member_ids": {o.id for o in team.members},
        "supervisor_ids": {o.id for o in team.supervisors},
        "places": [p for p in teams_dao.find_area_places(districts) if p["id"] not in chosen],
        "area_geojson": teams_dao.team_area_geojson(team.id),
    }


def teams_overview() -> dict:
    return {
        "teams": find_teams(),
        "without_team": teams_dao.officers_in_no_team(("officer", "supervisor")),
    }


def _name(name: str) -> str:
    errors: dict[str, str] = {}
    cleaned = checked_field(errors, "name", name, gettext("The team's name")) or ""
    if errors:
        raise TeamRefused(errors["name"])
    # Full-width and other compatibility forms as the letters they are ("Ｃｅｎｔｒａｌ").
    cleaned = " ".join(unicodedata.normalize("NFKC", cleaned).split())
    if not cleaned:
        raise TeamRefused(gettext("Give the team a name, such as “Bristol Central”."))
    if len(cleaned) > MAX_NAME:
        raise TeamRefused(gettext("Keep the team's name to %(most)s characters.", most=MAX_NAME))
    # A Cyrillic "а" in "Central" made a second team that reads the same in the invite
    # form's list (an outside check).
    if refused := other_alphabet_refusal(cleaned, gettext("The team's name")):
        raise TeamRefused(refused)
    return cleaned


def _named_alike(name: str) -> Team | None:
    """The force's team whose name reads as this one does (case and accents aside),
    if any: "Straße" and "STRASSE", "Central" and "Ｃｅｎｔｒａｌ" were two teams each, side
    by side in the invite form's list (an outside check)."""
    plain = plain_letters(name)
    return next((team for team in find_teams() if plain_letters(team.name) == plain), None)


def _audit(actor_id: int | None, event: str, team_id: int, details: dict) -> None:
    create_audit_event(
        event, actor_id=actor_id, subject_type="team", subject_id=team_id, details=details
    )


def _one_naming_at_a_time(force_id: int) -> None:
    """A force's teams are named (made or renamed) one at a time: two admins naming a
    team "Central" at once both found the name free, and the second's insert broke the
    unique index (a 500, where "There is a team called … already" was due)."""
    lock_until_commit(db.session, f"team-names:{force_id}")


def create_team(admin: Officer, name: str) -> Team:
    """Raises TeamRefused."""
    name = _name(name)
    with transaction():
        _one_naming_at_a_time(admin.force_id)
        if (other := _named_alike(name)) is not None:
            raise TeamRefused(
                gettext("There is a team called “%(name)s” already.", name=other.name)
            )
        team = Team(name=name, force_id=admin.force_id)
        db.session.add(team)
        db.session.flush()
        _audit(admin.id, "team.created", team.id, {"name": name})
    return team


def _locked_team(team_id: int) -> Team:
    team = db.session.get(Team, team_id, with_for_update=True)
    if team is None:
        raise TeamRefused(gettext("There is no such team."))
    return team


def rename_team(admin: Officer, team_id: int, name: str) -> Team:
    """Raises TeamRefused."""
    name = _name(name)
    with transaction():
        _one_naming_at_a_time(admin.force_id)
        team = _locked_team(team_id)
        other = _named_alike(name)
        if other is not None and other.id != team.id:
            raise TeamRefused(
                gettext("There is a team called “%(name)s” already.", name=other.name)
            )
        before, team.name = team.name, name
        teams_dao.touch_team(team.id)
        _audit(admin.id, "team.renamed", team.id, {"from": before, "to": name})
    return team


# What is said when the people chosen are not from the list, or not of the roles
# (MEMBER_ROLES, SUPERVISOR_ROLES), by what they were chosen as.
_NOT_FROM_LIST = {
    "members": (
        _l("Choose members from the list. Reload the page and try again."),
        _l(
            "Only officers, supervisors or admins of this force can be members, and someone "
            "chosen is not. Reload the page and try again."
        ),
    ),
    "supervisors": (
        _l("Choose supervisors from the list. Reload the page and try again."),
        _l(
            "Only supervisors or admins of this force can be supervisors, and someone chosen "
            "is not. Reload the page and try again."
        ),
    ),
}


def _officer_ids(values: list[str], roles: tuple[str, ...], what: str) -> set[int]:
    not_listed, not_theirs = _NOT_FROM_LIST[what]
    ids = set()
    for value in values:
        officer_id = whole_number(value)
        if officer_id is None:
            raise TeamRefused(str(not_listed))
        ids.add(officer_id)
    staff = {o.id: o for o in teams_dao.find_staff(roles)}
    if ids - set(staff):
        raise TeamRefused(str(not_theirs))
    return ids


def _set_people(
    admin: Officer, team_id: int, values: list[str], links, roles, what: str, action: str
) -> Team:
    """The team's members or supervisors (`links`) are exactly these, audited as
    `action`. Raises TeamRefused."""
    with transaction():
        # After an account's role change, as that takes it (accounts._admin_and_subject):
        # an officer made an analyst while another admin saved the team's members with
        # them in it was an analyst in a team (a review).
        lock_until_commit(db.session, f"administrators:{admin.force_id}")
        team = _locked_team(team_id)
        ids = _officer_ids(values, roles, what)
        added, removed = teams_dao.set_links(links, team.id, ids)
        teams_dao.touch_team(team.id)
        _audit(admin.id, action, team.id, {"added": sorted(added), "removed": sorted(removed)})
    db.session.expire(team)
    team.removed_ids = sorted(removed)  # for the admin's page to say what it means
    return team


def without_a_team(officer_ids: list[int]) -> list[str]:
    """The names of these officers who are members of no team now: they may send
    anywhere in the force (emptying a team's members said only "Members saved": an
    outside check)."""
    return sorted(
        officer.name
        for officer in db.session.scalars(select(Officer).where(Officer.id.in_(officer_ids)))
        if not is_force_wide(officer) and not teams_dao.member_team_ids(officer.id)
    )


def team_for_new_account(value: str, role: str) -> int | None:
    """The team an invited account starts in (chosen from the force's teams), or None
    for none. Raises TeamRefused: a team not of the list, or a role no team holds."""
    if not value:
        return None
    team_id = whole_number(value)
    if team_id is None or team_id not in {team.id for team in find_teams()}:
        raise TeamRefused(gettext("Choose a team from the list. Reload the page and try again."))
    if role not in MEMBER_ROLES:
        raise TeamRefused(
            gettext("An analyst is in no team (their reports cover the force): choose no team.")
        )
    return team_id


def add_new_member(actor_id: int | None, team_id: int, officer_id: int) -> None:
    """A new account joins a team, audited as a change of its members; in the caller's
    transaction."""
    teams_dao.add_link(team_members, team_id, officer_id)
    teams_dao.touch_team(team_id)
    _audit(actor_id, "team.members_changed", team_id, {"added": [officer_id], "removed": []})


def in_no_team(officer: Officer) -> bool:
    """Whether this account sends, in no team, where the force has teams: it may send
    anywhere in the force, and the admin who made it so is told."""
    return (
        officer.role not in FORCE_WIDE_ROLES
        and officer.role in MEMBER_ROLES
        and bool(find_teams())
        and not teams_dao.member_team_ids(officer.id)
        and not teams_dao.supervised_team_ids(officer.id)
    )


def leave_teams_for_role(actor_id: int, officer_id: int, role: str) -> dict[str, list[str]]:
    """An account given `role` leaves the teams that role may not be in: a member's
    (MEMBER_ROLES), a supervisor's (SUPERVISOR_ROLES), each audited as a change of the
    team's people; in the caller's transaction. The names of the teams it left, as a
    member ("members") and as a supervisor ("supervisors"). (An officer made an analyst
    stayed in their team, shown "Analyst … Teams: Bristol Central", which the invite
    form refuses, and made an officer again, was held to its area without a word: an
    outside check.)"""
    left: dict[str, list[str]] = {"members": [], "supervisors": []}
    for what, links, roles in (
        ("members", team_members, MEMBER_ROLES),
        ("supervisors", team_supervisors, SUPERVISOR_ROLES),
    ):
        if role in roles:
            continue
        team_ids = teams_dao.remove_links(links, officer_id)
        for team_id in sorted(team_ids):
            teams_dao.touch_team(team_id)
            changed = {"added": [], "removed": [officer_id]}
            _audit(actor_id, f"team.{what}_changed", team_id, changed)
        left[what] = teams_dao.team_names(team_ids)
    return left


def set_members(admin: Officer, team_id: int, values: list[str]) -> Team:
    """The team's officers are exactly these. Raises TeamRefused."""
    return _set_people(
        admin, team_id, values, team_members, MEMBER_ROLES, "members", "team.members_changed"
    )


def set_supervisors(admin: Officer, team_id: int, values: list[str]) -> Team:
    """The team's supervisors are exactly these. Raises TeamRefused."""
    return _set_people(
        admin,
        team_id,
        values,
        team_supervisors,
        SUPERVISOR_ROLES,
        "supervisors",
        "team.supervisors_changed",
    )


def add_place_area(admin: Officer, team_id: int, value: str) -> TeamArea:
    """A ward or district of the force becomes one of the team's permitted areas.
    Raises TeamRefused."""
    place_id = whole_number(value)
    if place_id is None:
        raise TeamRefused(gettext("Choose a ward or district from the list."))
    districts = _force_districts()
    with transaction():
        team = _locked_team(team_id)
        found = teams_dao.find_place_label(place_id, districts)
        if found is None:
            raise TeamRefused(gettext("Choose a ward or district of the force from the list."))
        kind, name = found
        if any(area.place_id == place_id for area in team.areas):
            raise TeamRefused(gettext("%(name)s is one of the team's areas already.", name=name))
        label = f"{name} ({kind})"
        area = TeamArea(team_id=team.id, place_id=place_id, label=label)
        db.session.add(area)
        db.session.flush()
        teams_dao.refresh_team_area(team.id)
        _audit(admin.id, "team.area_added", team.id, {"area": label, "place_id": place_id})
    db.session.expire(team)
    return area


def sends_anywhere(team_id: int) -> bool:
    """Whether the team has no permitted areas: its officers may send anywhere."""
    return not teams_dao.permitted_teams_limited({team_id})


def remove_area(admin: Officer, team_id: int, area_id: int) -> str:
    """Raises TeamRefused. Returns the area's label."""
    with transaction():
        team = _locked_team(team_id)
        area = db.session.get(TeamArea, area_id)
        if area is None or area.team_id != team.id:
            raise TeamRefused(gettext("That area is not one of the team's. Reload the page."))
        label = area.label
        db.session.delete(area)
        db.session.flush()
        teams_dao.refresh_team_area(team.id)
        _audit(admin.id, "team.area_removed", team.id, {"area": label})
    db.session.expire(team)
    return label
