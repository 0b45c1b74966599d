"""A force's administrator changes its details (name, Welsh name, contact, website,
CAP sender, prices) from the admin pages: saved and audited; each mistake said next to
its field, nothing half-saved; and only their own force's."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Force
from tests.factories import error_tied_to, form_token, signed_in

GOOD = {
    "name": "Avon and Somerset",
    "name_cy": "Avon a Gwlad yr Haf",
    "contact": "Call 101, or 999 in an emergency. Textphone 18001 101.",
    "website": "https://www.avonandsomerset.police.uk/",
    "cap_sender": "alerts@avonandsomerset.police.example",
    "consent_text": "I agree that Avon and Somerset Police may keep my details.",
    "consent_text_cy": "",
    "sms_price": "0.0375",
    "voice_price": "",
}


def post(client, form: dict):
    token = form_token(client, "/admin/force")
    return client.post("/admin/force", data={**form, "csrf_token": token})


def test_an_administrator_changes_the_forces_details(app, make_officer, client):
    admin = make_officer(role="admin")
    staff = signed_in(app, admin, "admin")
    page = staff.get("/admin/force")
    assert page.status_code == 200 and 'value="Avon and Somerset"' in page.text
    saved = post(staff, GOOD)
    assert saved.status_code == 302
    db.session.expire_all()
    force = db.session.get(Force, admin.force_id)
    assert force.contact == GOOD["contact"] and force.name_cy == "Avon a Gwlad yr Haf"
    assert force.sms_price_per_segment == Decimal("0.0375")
    assert force.consent_text == GOOD["consent_text"] and force.consent_text_cy is None
    assert force.voice_price_per_minute is None
    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "force.changed"))
    assert event.actor_id == admin.id
    assert set(event.details) == {
        "contact",
        "website",
        "cap_sender",
        "consent_text",
        "sms_price_per_segment",
    }
    # What each was, and what it became.
    assert event.details["sms_price_per_segment"]["to"] == "0.0375"
    assert event.details["contact"]["to"] == GOOD["contact"]
    assert event.details["contact"]["from"] != GOOD["contact"]
    assert "Saved." in staff.get("/admin/force").text
    # How the public reach the force, in Welsh too: the Welsh block of a published
    # alert said it in English (found by an outside probe).
    welsh = {**GOOD, "contact_cy": "Ffoniwch 101, neu 999 mewn argyfwng."}
    assert post(staff, welsh).status_code == 302
    db.session.expire_all()
    assert db.session.get(Force, admin.force_id).contact_cy == welsh["contact_cy"]
    from app.services import public_feeds

    with app.test_request_context("/"):
        source = public_feeds.feed_source()
    assert source.contact_cy == welsh["contact_cy"]
    post(staff, GOOD)
    # Saving the same again changes nothing, and says so.
    again = post(staff, GOOD)
    assert again.status_code == 302
    assert "Nothing changed." in staff.get("/admin/force").text


def test_every_mistake_is_said_at_its_field_and_nothing_is_saved(app, make_officer):
    admin = make_officer(role="admin")
    staff = signed_in(app, admin, "admin")
    before = db.session.get(Force, admin.force_id).contact
    bad = {
        "name": "\u200b",
        "name_cy": "x" * 101,
        "contact": "",
        "website": "javascript:alert(1)",
        "cap_sender": "not an address",
        "sms_price": "NaN",
        "voice_price": "0.000001",
    }
    refused = post(staff, bad)
    assert refused.status_code == 400
    for field in bad:
        assert f'id="{field}-error"' in refused.text, field
        assert f'href="#{field}"' in refused.text, field
    assert "starting https://" in refused.text
    assert "at most 4 decimal places" in refused.text
    # What was typed is kept in the form, the force unchanged.
    assert 'value="not an address"' in refused.text
    db.session.expire_all()
    assert db.session.get(Force, admin.force_id).contact == before
    # Welsh wording alone would leave English readers agreeing to nothing.
    welsh_only = post(staff, {**GOOD, "consent_text": "", "consent_text_cy": "Rwy'n cytuno."})
    assert welsh_only.status_code == 400 and "in English too" in welsh_only.text
    # Not an address at all, another force's name: said, not a server error.
    broken = post(staff, {**GOOD, "website": "https://["})
    assert broken.status_code == 400 and "starting https://" in broken.text
    assert post(staff, {**GOOD, "sms_price": "11"}).status_code == 400
    assert post(staff, {**GOOD, "sms_price": "-1"}).status_code == 400
    assert post(staff, {**GOOD, "sms_price": "£0.05"}).status_code == 302
    # "Police" is added wherever the name is shown: typed too, it would read twice.
    twice = post(staff, {**GOOD, "name": "Avon and Somerset Police"})
    assert twice.status_code == 400
    assert "without “Police”" in twice.text and "(“Avon and Somerset Police”)" in twice.text
    twice = post(staff, {**GOOD, "name": "Avon and Somerset Constabulary"})
    assert twice.status_code == 400
    assert "without “Constabulary”" in twice.text and "(“Avon and Somerset Police”)" in twice.text
    # "-0" is a price of 0, not "-0" in the audit log.
    assert post(staff, {**GOOD, "sms_price": "-0"}).status_code == 302
    changed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "force.changed").order_by(AuditEvent.id)
    ).all()[-1]
    assert changed.details["sms_price_per_segment"]["to"] == "0"
    twice = post(staff, {**GOOD, "name_cy": "Heddlu Avon a Gwlad yr Haf"})
    assert twice.status_code == 400 and "without “Heddlu”" in twice.text
    # On a Welsh page, in Welsh: each refusal and the field names inside them.
    token = form_token(staff, "/admin/force")
    welsh = staff.post("/admin/force?lang=cy", data={**bad, "csrf_token": token}).text
    assert "Rhowch gyfeiriad llawn y wefan" in welsh and "Cyfeiriad e-bost yw anfonwr CAP" in welsh
    assert "Rhan o neges destun: punnoedd" in welsh and "Munud o alwad: 4 lle degol" in welsh
    assert "Dywedwch sut mae'r cyhoedd" in welsh or "Dywedwch sut mae&#39;r cyhoedd" in welsh
    assert "starting https://" not in welsh and "decimal places" not in welsh
    named = staff.post(
        "/admin/force?lang=cy",
        data={**GOOD, "name": "Avon and Somerset Police", "csrf_token": token},
    ).text
    assert "Rhowch yr enw heb “Police”" in named


def test_an_administrator_changes_only_their_own_force(
    app, make_officer, second_force, monkeypatch
):
    ours = make_officer(role="admin", email="admin@avon.example")
    theirs = make_officer(role="admin", email="admin@wilts.example", force_id=second_force.id)
    staff = signed_in(app, theirs, "admin")
    assert 'value="Wiltshire"' in staff.get("/admin/force").text
    mine = {**GOOD, "name": "Wiltshire", "name_cy": "", "contact": "Ring 101"}
    assert post(staff, mine).status_code == 302
    # Avon's Welsh name is Avon's: not Wiltshire's in Welsh.
    welsh = post(staff, {**mine, "name_cy": "avon a gwlad yr haf"})
    assert welsh.status_code == 400 and "another force&#39;s name" in welsh.text
    # Their own name only: not the neighbour's (their staff would be told "X Police ask").
    taken = post(staff, {**GOOD, "name": "avon and somerset", "contact": "Ring 101"})
    assert taken.status_code == 400 and "another force&#39;s name" in taken.text
    # Nor in other words: the word the pages add, "&", punctuation, the Welsh name
    # (found by an outside probe: "Avon and Somerset Police" was taken).
    for name in ("Avon & Somerset", "Avon and Somerset Police", "Heddlu Avon-and-Somerset"):
        taken = post(staff, {**GOOD, "name": name, "name_cy": "", "contact": "Ring 101"})
        assert taken.status_code == 400 and "another force&#39;s name" in taken.text, name
    # Nor in look-alike letters: a Cyrillic "о" passed, and Wiltshire's texts were
    # signed "Avon and Sоmerset Police" (an outside check); an accent passed too.
    for name, said in (
        ("Avon and S\u043emerset", "a letter of another alphabet"),
        ("Av\u1d0fn and Somerset", "U+1D0F LATIN LETTER SMALL CAPITAL O"),
        ("Avon and \ua731omerset", "U+A731"),
        ("Avon and S\u00f3merset", "another force's name"),
    ):
        taken = post(staff, {**GOOD, "name": name, "name_cy": "", "contact": "Ring 101"})
        assert taken.status_code == 400 and said in error_tied_to(taken.text, "name"), name
    welsh = post(staff, {**mine, "name_cy": "W\u0456ltshire"})  # a Ukrainian "і"
    assert welsh.status_code == 400 and "U+0456" in error_tied_to(welsh.text, "name_cy")
    # Nor another force's CAP sender: its CAP documents would read as theirs.
    db.session.get(Force, ours.force_id).cap_sender = "alerts@avon.example"
    db.session.commit()
    sender = post(staff, {**mine, "cap_sender": "Alerts@Avon.example"})
    assert sender.status_code == 400
    said = error_tied_to(sender.text, "cap_sender")
    assert said.endswith(
        "is another force's CAP sender (Avon and Somerset): give your own force's address."
    )
    assert post(staff, {**mine, "cap_sender": "alerts@wilts.example"}).status_code == 302
    # Nor the sender made for a force that names none (a re-check took Avon's so).
    db.session.get(Force, ours.force_id).cap_sender = None
    db.session.commit()
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://alerts.example.com")
    host = urlsplit(app.config["PUBLIC_BASE_URL"]).hostname
    made = post(staff, {**mine, "cap_sender": f"alerts@{host}"})
    assert made.status_code == 400 and "another force" in error_tied_to(made.text, "cap_sender")
    db.session.expire_all()
    assert db.session.get(Force, second_force.id).contact == "Ring 101"
    assert db.session.get(Force, ours.force_id).contact != "Ring 101"
