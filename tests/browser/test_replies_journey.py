"""Residents answer back, and the officer follows it on a phone: a quick question
written with the alert, answers and confirmations counted on the alert's page, a text
in the inbox with its number masked, answered with one tap."""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from app.extensions import db
from app.models import OutboxMessage
from app.services.alerts import submit_alert
from tests.browser.axe import axe_violations

pytestmark = pytest.mark.browser

TOKEN = "test-auth-token"  # noqa: S105
AREA = [{"kind": "circle", "center": [-2.588230, 51.451967], "radius_m": 800}]


def text_in(page, live_server, number: str, body: str, sid: str) -> int:
    """A resident's text, posted to our webhook signed as Twilio signs it."""
    url = live_server + "/callbacks/twilio/inbound-sms"
    form = {"MessageSid": sid, "From": number, "To": "+447700900999", "Body": body}
    signature = RequestValidator(TOKEN).compute_signature(url, form)
    answer = page.request.post(url, form=form, headers={"X-Twilio-Signature": signature})
    return answer.status


def test_officer_asks_sees_answers_and_answers_a_text_from_the_inbox(
    page, sign_in_page, make_resident, worker_process, live_server, app, monkeypatch
):
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", live_server)
    for n in range(6):
        make_resident(sms=f"+4477009011{n:02d}")
    officer = sign_in_page("officer")

    # Writing the question shows it in the text residents will get, counted in parts.
    expect(page.locator("#map .leaflet-overlay-pane path").first).to_be_visible()
    page.get_by_label("Title").fill("Shed break-ins")
    page.get_by_label("Message", exact=True).fill("Sheds broken into on Elm Road last night.")
    page.get_by_text("Ask residents to answer (optional)").tap()
    page.get_by_label("Question").fill("Did you see anything?")
    page.get_by_label("Answer 1 (reply 1)").fill("Yes")
    page.get_by_label("Answer 2 (reply 2)").fill("No")
    page.get_by_text("Text message as residents see it").tap()
    expect(page.locator("#preview-sms")).to_contain_text(
        "Did you see anything? Reply 1 for Yes, 2 for No."
    )

    alert = submit_alert(
        officer,
        shapes=AREA,
        title="Shed break-ins",
        body="Sheds broken into on Elm Road last night.",
        question="Did you see anything?",
        answer_options=["Yes", "No"],
        confirm_receipt=True,
    ).alert
    page.goto(f"/officers/alerts/{alert.id}")
    expect(page.locator("#status")).to_have_text("finished sending", timeout=20_000)
    for n in range(5):
        assert text_in(page, live_server, f"+4477009011{n:02d}", "1", f"SM{n:032x}") == 200
    assert (
        text_in(page, live_server, "+447700901105", "Is it safe to go out?", "SM" + "f" * 32) == 200
    )

    # The answers are counted live, without reloading the page.
    expect(page.locator('#answers [data-option="1"]')).to_have_text("5", timeout=15_000)
    expect(page.locator("#answers")).to_contain_text("Did you see anything?")
    # An answer confirms receipt too; the resident who only wrote words has not.
    receipt = page.locator('#receipt tr[data-channel="sms"]')
    expect(receipt.locator(".confirmed")).to_have_text("5")
    expect(receipt.locator(".not_confirmed")).to_have_text("1")
    page.reload()
    page.get_by_role("link", name=re.compile(r"Replies to this alert \(1 new\)")).tap()

    reply = page.locator(".inbox-reply")
    expect(reply).to_have_count(1)
    expect(reply).to_contain_text("Is it safe to go out?")
    expect(reply).to_contain_text("+447••••••105")
    expect(page.locator("main")).not_to_contain_text("+447700901105")
    expect(reply.locator(".tag-new")).to_be_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    assert axe_violations(page) == []

    reply.get_by_text("Answer", exact=True).tap()
    reply.get_by_role(
        "button", name="If someone is in danger or a crime is happening now, call 999."
    ).tap()
    expect(page.locator(".flash")).to_contain_text("Your answer is on its way.")
    # Said to a screen reader: focused, though the page then scrolls to the reply (the
    # scroll took the focus: an outside check).
    page.wait_for_load_state("load")
    page.wait_for_timeout(100)
    expect(page.locator("main > .flash")).to_be_focused()
    assert page.evaluate("location.hash").startswith("#reply-")
    expect(page.locator(".tag-new")).to_have_count(0)  # read now
    with app.app_context():
        for _ in range(100):
            db.session.rollback()
            sent = db.session.scalars(
                select(OutboxMessage).where(OutboxMessage.recipient == "+447700901105")
            ).all()
            if len(sent) == 2:
                break
            page.wait_for_timeout(100)
        assert "call 999" in sent[-1].body
    assert page.console_errors == []
