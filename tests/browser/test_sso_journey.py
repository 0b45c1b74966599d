"""Single sign-on in Chromium on a phone: "Sign in with …" goes to the force's
identity provider (a real one, on loopback), the officer approves there, and arrives
back signed in on the officers' page."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import Officer
from tests.browser.axe import axe_violations
from tests.browser_fixtures import sideways, staff_menu
from tests.oidc_provider import sso_configured

pytestmark = pytest.mark.browser


@pytest.fixture
def provider(app, app_ctx, live_server):
    with sso_configured(app, public_base_url=live_server, auto_approve=False) as provider:
        yield provider


def test_an_officer_signs_in_through_the_identity_provider(page, provider, live_server):
    page.goto("/sign-in")
    button = page.get_by_role("link", name="Sign in with Loopback ID")
    expect(button).to_be_visible()
    box = button.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44
    assert sideways(page) <= 0
    assert axe_violations(page) == []

    button.tap()
    # On the provider's own page, on loopback, with the PKCE challenge in the URL.
    expect(page).to_have_url(re.compile(rf"^{re.escape(provider.issuer)}/authorize\?"))
    assert "code_challenge_method=S256" in page.url
    expect(page.get_by_role("heading", name="Loopback identity provider")).to_be_visible()
    page.get_by_role("button", name="Approve").tap()

    expect(page).to_have_url(f"{live_server}/officers/")
    staff_menu(page)
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    db.session.rollback()
    [officer] = db.session.scalars(select(Officer)).all()
    assert (officer.email, officer.role) == ("pc.jones@police.example", "officer")
    assert page.console_errors == []


def test_a_person_in_no_mapped_group_is_told_why_on_the_sign_in_page(page, provider, live_server):
    provider.user["roles"] = ["Finance"]
    page.goto("/sign-in")
    page.get_by_role("link", name="Sign in with Loopback ID").tap()
    page.get_by_role("button", name="Approve").tap()
    expect(page).to_have_url(f"{live_server}/sign-in")
    expect(page.get_by_role("status")).to_contain_text(
        "Your account is not in a group that may use Community Alerts."
    )
    assert axe_violations(page) == []
