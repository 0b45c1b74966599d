"""A cross-border alert on two supervisors' phones (390x844, touch): Avon and
Somerset's sergeant asks Wiltshire from the alert's page; Wiltshire's sergeant finds
it waiting in Approvals, sees the area on a map and how many of their residents it
reaches, and approves; the first sergeant's page then says how many were sent it.
axe-core checks each page; nothing scrolls sideways."""

import pytest
from playwright.sync_api import expect

from app.services.alerts import AlertDraft, submit_alert
from tests.browser.axe import axe_violations
from tests.browser_fixtures import _new_page, sideways, sign_in_officer

pytestmark = pytest.mark.browser

BOTH = [{"kind": "circle", "center": [-2.28, 51.35], "radius_m": 15_000}]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "has_touch": True,
    "is_mobile": True,
    "device_scale_factor": 2,
}


def test_two_forces_supervisors_send_an_alert_across_the_border(
    app, browser, request, live_server, page, make_officer, make_resident, second_force
):
    make_resident(postcode="BA1 1RG", sms="+447700901401")
    make_resident(postcode="BA14 6AA", sms="+447700901402")
    officer = make_officer(role="officer", email="pc@avon.example")
    ours = make_officer(role="supervisor", email="sgt@avon.example")
    theirs = make_officer(role="supervisor", email="sgt@wilts.example", force_id=second_force.id)
    alert = submit_alert(
        officer, AlertDraft(shapes=BOTH, title="Van thefts", body="Lock up.")
    ).alert

    sign_in_officer(app, page, ours)
    page.goto(f"/officers/alerts/{alert.id}")
    forces = page.locator("#forces")
    expect(forces).to_contain_text("Wiltshire Police: not asked.")
    assert axe_violations(page) == []
    forces.get_by_role("button", name="Ask Wiltshire Police to send it to their residents").click()
    expect(page.locator(".flash")).to_contain_text("Asked Wiltshire Police")
    expect(page.locator("#forces")).to_contain_text("waiting for their decision")
    assert sideways(page) <= 0

    context, wilts = _new_page(browser, request, live_server, **PHONE)
    try:
        sign_in_officer(app, wilts, theirs)
        wilts.goto("/officers/approvals")
        expect(wilts.get_by_role("button", name="Menu (1)")).to_be_visible()
        wilts.get_by_role("link", name="Van thefts").click()
        expect(wilts.get_by_role("heading", name="Van thefts")).to_be_visible()
        expect(wilts.locator("main")).to_contain_text("Avon and Somerset Police ask you")
        # The alert's area is on the map (alert-area.js keeps it as CA.alertArea).
        wilts.wait_for_function(
            "() => window.CA && CA.alertArea && CA.alertArea.getLayers().length === 1"
        )
        assert sideways(wilts) <= 0
        assert axe_violations(wilts) == []
        # Refusing without a reason is refused, saying so, next to the box.
        wilts.get_by_label("Or refuse: why? The other force sees this.").fill(" ")
        wilts.evaluate("document.getElementById('reason').removeAttribute('required')")
        wilts.get_by_role("button", name="Refuse and say why").click()
        expect(wilts.locator(".error-summary")).to_contain_text("Say why")
        wilts.get_by_role("button", name="Approve for our residents").click()
        expect(wilts.locator(".flash")).to_contain_text("going to your residents now")
        assert wilts.console_errors == []
    finally:
        context.close()

    page.reload()
    expect(page.locator("#forces")).to_contain_text(
        "approved: sent to fewer than 5 of their residents."
    )
    assert page.console_errors == []
