"""Administrators: teams, their members and supervisors, and the areas they may send
to. The rules are services/teams.py's; these views only translate HTTP.

Registered on the admin blueprint by register_teams(bp) (app/admin/__init__.py), so
that this module does not import its package (an import cycle)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth import role_required
from app.services import authorisation, teams

ADMINS = authorisation.roles_for("admin.teams")


def teams_list():
    overview = teams.teams_overview()
    return render_template("admin/teams.html", error=None, name="", **overview)


def create_team():
    name = request.form.get("name", "")[:300]
    try:
        team = teams.create_team(current_user, name)
    except teams.TeamRefused as refusal:
        page = render_template(
            "admin/teams.html", error=str(refusal), name=name, **teams.teams_overview()
        )
        return page, 400
    flash(
        _(
            "The team “%(name)s” is made. Add its members, supervisors and areas.",
            name=team.name,
        )
    )
    return redirect(url_for("admin.team", team_id=team.id))


def _team_or_404(team_id: int):
    return teams.find_team(team_id) or abort(404)


def team(team_id: int, **kept):
    """The team's page; `kept`: a refused name and why, shown again in its box (it came
    back as the old name, what was typed lost: an outside check)."""
    found = _team_or_404(team_id)
    return render_template("admin/team.html", team=found, **kept, **teams.team_page(found))


def _then_back(team_id: int, change, done: str):
    _team_or_404(team_id)
    try:
        message = change()
    except teams.TeamRefused as refusal:
        flash(str(refusal))
    else:
        flash(message or done)
    return redirect(url_for("admin.team", team_id=team_id))


def rename_team(team_id: int):
    name = request.form.get("name", "")[:300]
    _team_or_404(team_id)
    try:
        renamed = teams.rename_team(current_user, team_id, name)
    except teams.TeamRefused as refusal:
        return team(team_id, typed_name=name, name_error=str(refusal)), 400
    flash(_("The team is now called “%(name)s”.", name=renamed.name))
    return redirect(url_for("admin.team", team_id=team_id))


def team_members(team_id: int):
    chosen = request.form.getlist("officers")[:1000]

    def saved() -> str:
        team = teams.set_members(current_user, team_id, chosen)
        free = teams.without_a_team(team.removed_ids)
        if not free:
            return _("Members saved.")
        # Said, as removing a team's last area says it (an outside check).
        return _(
            "Members saved. %(names)s are in no team now: they may send anywhere in the "
            "force. Add them to a team to limit them again.",
            names=", ".join(free),
        )

    return _then_back(team_id, saved, "")


def team_supervisors(team_id: int):
    chosen = request.form.getlist("officers")[:1000]
    return _then_back(
        team_id,
        lambda: teams.set_supervisors(current_user, team_id, chosen) and None,
        _("Supervisors saved."),
    )


def add_team_area(team_id: int):
    place = request.form.get("place", "")[:20]
    return _then_back(
        team_id,
        lambda: _(
            "%(area)s added.",
            area=teams.area_label_shown(teams.add_place_area(current_user, team_id, place).label),
        ),
        "",
    )


def remove_team_area(team_id: int, area_id: int):
    def removed() -> str:
        label = teams.area_label_shown(teams.remove_area(current_user, team_id, area_id))
        if not teams.sends_anywhere(team_id):
            return _("%(area)s removed.", area=label)
        # Said: the team's officers may now send anywhere (it happened silently: an
        # outside check).
        return _(
            "%(area)s removed. It was the team's last area: its members may now send "
            "anywhere in the force. Add an area to limit them again.",
            area=label,
        )

    return _then_back(team_id, removed, "")


ROUTES = (
    ("/teams", teams_list, "teams", ("GET",)),
    ("/teams", create_team, "create_team", ("POST",)),
    ("/teams/<int:team_id>", team, "team", ("GET",)),
    ("/teams/<int:team_id>/name", rename_team, "rename_team", ("POST",)),
    ("/teams/<int:team_id>/members", team_members, "team_members", ("POST",)),
    ("/teams/<int:team_id>/supervisors", team_supervisors, "team_supervisors", ("POST",)),
    ("/teams/<int:team_id>/areas", add_team_area, "add_team_area", ("POST",)),
    (
        "/teams/<int:team_id>/areas/<int:area_id>/remove",
        remove_team_area,
        "remove_team_area",
        ("POST",),
    ),
)


def register_teams(bp) -> None:
    """Add the team pages to the admin blueprint."""
    for rule, view, endpoint, methods in ROUTES:
        bp.add_url_rule(rule, endpoint, role_required(*ADMINS)(view), methods=list(methods))
