"""An administrator runs a team on a phone (390x844): makes it (a missing name is a
clear message), adds a ward as a permitted area, its members and its supervisor, with
axe-core on each page and nothing wider than the screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Team
from tests.browser.axe import axe_violations
from tests.browser_fixtures import sideways, staff_menu

pytestmark = pytest.mark.browser


def test_an_admin_makes_a_team_with_an_area_members_and_a_supervisor(
    app, page, sign_in_page, make_officer
):
    officer = make_officer(role="officer", email="pcso@police.example", name="Pat PCSO")
    sergeant = make_officer(role="supervisor", email="sgt@police.example", name="Sam Sergeant")
    sign_in_page("admin")
    staff_menu(page)
    page.get_by_role("link", name="Teams").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Teams")
    expect(page.get_by_text("Pat PCSO (officer)")).to_be_visible()  # in no team yet
    assert sideways(page) <= 0
    assert axe_violations(page) == []

    page.get_by_role("button", name="Make the team").click()
    expect(page.get_by_role("alert")).to_contain_text("Give the team a name")
    assert axe_violations(page) == []
    page.get_by_label("The team's name").fill("Bristol Central")
    page.get_by_role("button", name="Make the team").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bristol Central")
    assert sideways(page) <= 0
    assert axe_violations(page) == []

    page.get_by_label("Add a ward or district").select_option(label="Central")
    page.get_by_role("button", name="Add the area").click()
    expect(page.get_by_text("Central (ward) added.")).to_be_visible()
    page.get_by_role("group", name="Who is in the team").get_by_label(
        re.compile("Pat PCSO")
    ).check()
    page.get_by_role("button", name="Save the members").click()
    expect(page.get_by_text("Members saved.")).to_be_visible()
    page.get_by_role("group", name="Who approves the team's alerts").get_by_label(
        re.compile("Sam Sergeant")
    ).check()
    page.get_by_role("button", name="Save the supervisors").click()
    expect(page.get_by_text("Supervisors saved.")).to_be_visible()
    assert sideways(page) <= 0
    assert axe_violations(page) == []

    with app.app_context():
        team = db.session.scalar(select(Team))
        assert [o.id for o in team.members] == [officer.id]
        assert [o.id for o in team.supervisors] == [sergeant.id]
        assert [a.label for a in team.areas] == ["Central (ward)"]
        actions = db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.subject_type == "team")
        ).all()
        assert actions == [
            "team.created",
            "team.area_added",
            "team.members_changed",
            "team.supervisors_changed",
        ]
        db.session.remove()

    page.get_by_role("link", name="All teams").click()
    row = page.get_by_role("row", name=re.compile("Bristol Central"))
    expect(row).to_contain_text("Sam Sergeant")
    expect(row).to_contain_text("Central (ward)")
    assert axe_violations(page) == []
    assert page.console_errors == []
