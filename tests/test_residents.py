"""Residents in control, on real PostgreSQL + PostGIS and Redis: proving a phone or an
address is theirs, their own page from a link, their data, leaving, retention, and
importing a list from another system."""

from __future__ import annotations

import contextlib
import csv
import html
import json
import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, text, update

from app.extensions import db, redis_store
from app.models import (
    Alert,
    AuditEvent,
    Delivery,
    Force,
    InterestGroup,
    OutboxMessage,
    Resident,
    ResidentChannel,
    ResidentImport,
    ResidentLocation,
    ResidentNotice,
)
from app.services.alerts import submit_alert
from app.services.resident_import import ImportRefused, import_residents, reason_in_english
from app.services.residents import purge_expired
from tests.factories import (
    PASSWORDS,
    a_wrong_code,
    csrf_token,
    error_tied_to,
    postcode_place,
    send_all_clear,
    signed_in,
    untied_errors,
)

GOOD = {
    "postcode": "bs1 6ad",
    "channels": ["sms", "email"],
    "sms_phone": "07700 900123",
    "email": "sam@example.invalid",
    "consent": "yes",
}
AROUND_BS1 = [{"kind": "circle", "center": [-2.588230, 51.451967], "radius_m": 2000}]


def register(client, **changes):
    data = {k: v for k, v in (GOOD | changes).items() if v is not None}
    data["csrf_token"] = csrf_token(client)
    return client.post("/register", data=data)


def page_token(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def notices_sent(run_worker) -> list[OutboxMessage]:
    run_worker()
    return db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.notice_id.is_not(None)).order_by(OutboxMessage.id)
    ).all()


def code_in(message: OutboxMessage) -> str:
    return re.search(r"\b(\d{6})\b", message.body).group(1)


def link_in(message: OutboxMessage) -> str:
    return re.search(r"https?://\S+", message.body).group(0).rstrip(".)").split("5000", 1)[1]


def alert_addresses(officer) -> set[str]:
    alert = submit_alert(officer, shapes=AROUND_BS1, title="T", body="B").alert
    return set(db.session.scalars(select(Delivery.address).where(Delivery.alert_id == alert.id)))


# --- proving it's them --------------------------------------------------------------


def test_nothing_goes_to_a_channel_until_it_is_confirmed(client, app_ctx, make_officer, run_worker):
    officer = make_officer()
    assert register(client).status_code == 302
    resident = db.session.scalars(select(Resident)).one()
    assert resident.consent_version == "2026-11"
    assert "Avon and Somerset Police may keep these details" in resident.consent_text
    assert resident.consent_given_at is not None
    with pytest.raises(Exception, match="Nobody registered"):
        alert_addresses(officer)  # both channels unconfirmed: nobody to send to
    db.session.rollback()

    sms, email = notices_sent(run_worker)
    assert (sms.channel, sms.recipient, email.channel) == ("sms", "+447700900123", "email")
    page = client.get("/register/confirm")
    assert "Check your messages" in page.text and "Central ward, City of Bristol" in page.text
    assert "07700 900123" in page.text and "+447700900123" not in page.text  # as people write it
    token = page_token(client, "/register/confirm")
    # A code for a way the page has no box for is told where it goes (a 400 with no
    # message: an outside check).
    for odd in ("fax", "voice", "email"):
        told = client.post(
            "/register/confirm",
            data={"csrf_token": token, "channel": odd, "code": code_in(sms)},
            follow_redirects=True,
        )
        assert told.status_code == 200 and "in the box under the phone it was sent to" in told.text
    confirmed = client.post(
        "/register/confirm",
        data={"csrf_token": token, "channel": "sms", "code": code_in(sms)},
        follow_redirects=True,
    ).text
    # The heading says what happened and what comes next; the e-mail is still to confirm.
    assert "Text message confirmed: you're signed up" in confirmed
    assert "What happens next" in confirmed and "Still to confirm" in confirmed
    assert "Check your messages" not in client.get("/register/confirm").text
    # A second tap on Confirm finds it done: the same success, not an empty "Error:".
    again = client.post(
        "/register/confirm",
        data={"csrf_token": token, "channel": "sms", "code": code_in(sms)},
        follow_redirects=True,
    )
    assert again.status_code == 200 and "Text message confirmed" in again.text
    assert "<title>Error:" not in again.text
    assert alert_addresses(officer) == {"+447700900123"}  # the e-mail is still unconfirmed

    path = link_in(email)
    assert client.get(path).status_code == 200  # a scanner following the link confirms nothing
    assert (
        db.session.scalar(
            select(ResidentChannel.verified_at).where(ResidentChannel.channel == "email")
        )
        is None
    )
    client.post(path, data={"csrf_token": page_token(client, path)})
    assert alert_addresses(officer) == {"+447700900123", "sam@example.invalid"}
    # The codes' and links' text is dropped once sent.
    assert db.session.scalar(select(func.count()).where(ResidentNotice.body.is_not(None))) == 0


def test_the_confirm_e_mail_says_once_what_to_do_if_nobody_asked(client, app_ctx, run_worker):
    """Found by an outside check: it said "If you did not sign up, ignore this" and "If
    you did not ask for this, you can ignore it" one after the other, the first to a
    resident changing their address too."""
    register(client)
    (email,) = [n for n in notices_sent(run_worker) if n.channel == "email"]
    assert "If you did not sign up" not in email.body
    assert email.body.count("If you did not ask for this, you can ignore it") == 1


def test_a_code_is_single_use_limited_in_guesses_and_expires(
    app, client, app_ctx, run_worker, monkeypatch
):
    # A new code asked for moments after the last waits for it (the next test), but
    # not when the last takes no more guesses: "Too many wrong codes, ask for a new
    # one" was answered "wait for the code we sent" (an outside check).
    monkeypatch.setitem(app.config, "CODE_RESEND_WAIT_SECONDS", 30)
    register(client, channels=["sms"])
    (sms,) = notices_sent(run_worker)
    code = code_in(sms)
    wrong = a_wrong_code(code)
    token = page_token(client, "/register/confirm")

    def attempt(guess):
        return client.post(
            "/register/confirm", data={"csrf_token": token, "channel": "sms", "code": guess}
        )

    # Nothing, or not six digits, is no guess: it costs no try (tapping Confirm before
    # the text came used them up: an outside check).
    for not_a_code in ("", "abc", "12345", "0000000000", "12\x003456"):
        refused = attempt(not_a_code)
        assert refused.status_code == 400 and "Enter the 6-digit code" in refused.text
    answer = attempt(wrong)
    assert answer.status_code == 400 and "You have 4 more tries." in answer.text
    for _ in range(4):
        attempt(wrong)
    refused = attempt(code)
    assert "Too many wrong codes" in refused.text

    # A new code, at once; it expires after ten minutes.
    answer = client.post(
        "/register/confirm",
        data={"csrf_token": token, "channel": "sms", "action": "resend"},
        follow_redirects=True,
    )
    assert "We sent a code moments ago" not in answer.text
    (_, fresh) = notices_sent(run_worker)
    db.session.execute(
        update(ResidentChannel).values(verify_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    db.session.commit()
    assert "expired" in attempt(code_in(fresh)).text


def test_the_code_box_says_how_a_number_that_replied_stop_gets_its_code(
    app, client, app_ctx, run_worker, monkeypatch
):
    """Found by an outside check: texts to a number that once replied STOP are refused
    by the provider until it sends START, and a resident who stopped texts and left
    waited, signing up again, for a code that could never come, told nothing. Said to
    everyone who waits for a text's code, so it tells nothing of anyone's number."""
    monkeypatch.setitem(app.config, "TWILIO_FROM_NUMBER", "+447700900999")
    register(client, channels=["sms"])
    page = client.get("/register/confirm").text
    assert "text START to 07700 900999 from this phone first" in page
    welsh = client.get("/register/confirm?lang=cy").text
    assert "anfonwch START at 07700 900999" in welsh
    # From a pool of numbers, the one that texted them is not known: any of our texts.
    monkeypatch.setitem(app.config, "TWILIO_FROM_NUMBER", "+447700900998,+447700900999")
    page = client.get("/register/confirm?lang=en").text
    assert "reply START to one of them from this phone first" in page
    assert "07700 90099" not in page.replace("07700 900123", "")


def test_a_code_pasted_with_a_character_nobody_sees_is_the_code(client, app_ctx, run_worker):
    """A code copied from a message may bring a soft hyphen or a zero-width space
    along, which nobody can see to delete (as in a reference on the public check: an
    outside check): the code, not a wrong one."""
    register(client, channels=["sms"])
    (sms,) = notices_sent(run_worker)
    code = code_in(sms)
    token = page_token(client, "/register/confirm")
    client.post(
        "/register/confirm",
        data={
            "csrf_token": token,
            "channel": "sms",
            "code": code[:3] + "\u00ad" + code[3:] + "\u2060",
        },
    )
    db.session.expire_all()
    (channel,) = db.session.scalars(select(ResidentChannel)).all()
    assert channel.verified_at is not None


@pytest.mark.parametrize("zero", [0xFF10, 0x0660, 0x06F0])
def test_a_code_typed_in_full_width_digits_is_the_code(client, app_ctx, run_worker, zero):
    """Some phones' keyboards type １２３４５６, or Arabic-Indic ١٢٣٤٥٦ (which the number
    box took and the code box refused: an outside check): the same code, not a wrong
    one."""
    register(client, channels=["sms"])
    (sms,) = notices_sent(run_worker)
    full_width = code_in(sms).translate({ord(d): zero + int(d) for d in "0123456789"})
    token = page_token(client, "/register/confirm")
    client.post(
        "/register/confirm", data={"csrf_token": token, "channel": "sms", "code": full_width}
    )
    db.session.expire_all()
    (channel,) = db.session.scalars(select(ResidentChannel)).all()
    assert channel.verified_at is not None


def test_a_new_code_asked_for_moments_after_the_last_waits_for_it(
    app, client, app_ctx, run_worker, monkeypatch
):
    """Found by an outside probe: three taps on "Send a new code" spent the number's
    three codes for the hour. Within CODE_RESEND_WAIT_SECONDS of a code, none is sent,
    and the page says to wait for it; the same for a number someone else holds."""
    monkeypatch.setitem(app.config, "CODE_RESEND_WAIT_SECONDS", 30)
    register(client, channels=["sms"])
    assert len(notices_sent(run_worker)) == 1
    token = page_token(client, "/register/confirm")
    for _ in range(3):
        answer = client.post(
            "/register/confirm",
            data={"csrf_token": token, "channel": "sms", "action": "resend"},
            follow_redirects=True,
        )
        assert "We sent a code moments ago" in answer.text
    assert len(notices_sent(run_worker)) == 1
    db.session.execute(
        update(ResidentChannel).values(
            verify_expires_at=ResidentChannel.verify_expires_at - timedelta(seconds=31)
        )
    )
    db.session.commit()
    answer = client.post(
        "/register/confirm",
        data={"csrf_token": token, "channel": "sms", "action": "resend"},
        follow_redirects=True,
    )
    assert "We have sent a new code" in answer.text and len(notices_sent(run_worker)) == 2
    # A sign-up of that same number from elsewhere stores nothing, and answers the same.
    other = app.test_client()
    register(other, channels=["sms"])
    again = other.post(
        "/register/confirm",
        data={
            "csrf_token": page_token(other, "/register/confirm"),
            "channel": "sms",
            "action": "resend",
        },
        follow_redirects=True,
    )
    assert "We sent a code moments ago" in again.text


def test_a_number_gets_at_most_three_codes_an_hour(client, app_ctx, run_worker):
    register(client, channels=["sms"])
    token = page_token(client, "/register/confirm")
    for _ in range(3):
        answer = client.post(
            "/register/confirm",
            data={"csrf_token": token, "channel": "sms", "action": "resend"},
            follow_redirects=True,
        )
    assert "as many codes as we can for now" in answer.text
    assert len(notices_sent(run_worker)) == 3


def test_a_number_nobody_may_have_asked_for_is_sent_six_a_day_and_called_once_a_night(
    app, app_ctx, monkeypatch
):
    """A stranger signing up someone's landline three times an hour had it called 72
    times a day, at 3 a.m. too (an outside check)."""
    from app.services import verification

    monkeypatch.setattr(verification, "CODES_PER_NUMBER_PER_HOUR", 100)
    # The installation's nights (the tests' configuration has none: TestingConfig).
    monkeypatch.setitem(app.config, "CALL_NIGHT_HOURS", verification.NIGHT_HOURS)
    allowed = [verification.allow_to_address("sms", "+447700900555") for _ in range(8)]
    assert allowed == [True] * 6 + [False] * 2
    three_am = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
    calls = [
        verification.allow_to_address("voice", "+441174960555", now=three_am) for _ in range(3)
    ]
    assert calls == [True, False, False]
    noon = datetime(2026, 7, 5, 11, 0, tzinfo=UTC)  # 12:00 BST
    days = [verification.allow_to_address("voice", "+441174960556", now=noon) for _ in range(3)]
    assert days == [True, True, True]
    ten_pm_bst = datetime(2026, 7, 5, 21, 30, tzinfo=UTC)  # 22:30 in the UK
    assert verification.allow_to_address("voice", "+441174960557", now=ten_pm_bst)
    assert not verification.allow_to_address("voice", "+441174960557", now=ten_pm_bst)


def test_manage_links_share_the_numbers_allowance_with_its_notices(app, make_resident, run_worker):
    """Counted apart, strangers had a registered number sent 3 "it already gets alerts"
    notices and 3 manage links in a minute (a re-check)."""
    make_resident(postcode="BS1 6AD", sms="+447700900818")
    for n in range(3):
        stranger = app.test_client()
        stranger.environ_base["REMOTE_ADDR"] = f"192.0.2.{n + 1}"
        register(stranger, channels=["sms"], sms_phone="07700 900818")
    asker = app.test_client()
    answer = asker.post(
        "/manage", data={"csrf_token": csrf_token(asker), "address": "07700 900818"}
    )
    sent = [n for n in notices_sent(run_worker) if n.recipient == "+447700900818"]
    assert len(sent) == 3 and not any("/manage/" in n.body for n in sent)
    # The page says why nothing may come, to everyone (a resident who had used the
    # hour's read it as not signed up: an outside check).
    assert "only a few codes and links an hour" in answer.text


def test_sign_ups_are_limited_per_address(app, client, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "REGISTRATIONS_PER_IP_PER_HOUR", 2)
    one, two, three = ("07700 900001", "07700 900002", "07700 900003")
    # Forms sent back with mistakes count for nothing (an outside check: a few
    # residents on one Wi-Fi correcting theirs used up the hour).
    for _ in range(3):
        assert register(client, channels=["sms"], sms_phone="0770").status_code == 400
    assert register(client, channels=["sms"], sms_phone=one).status_code == 302
    assert register(client, channels=["sms"], sms_phone=two).status_code == 302
    third = register(client, channels=["sms"], sms_phone=three)
    assert third.status_code == 429
    assert "Too many sign-ups from this connection" in third.text
    # An IPv6 connection is its /64: each address of it had an allowance of its own,
    # so one connection had as many as it liked (an outside check).
    for n, number in enumerate(("07700 900004", "07700 900005", "07700 900006")):
        client.environ_base["REMOTE_ADDR"] = f"2001:db8:41::{n + 1}"
        answer = register(client, channels=["sms"], sms_phone=number)
        assert answer.status_code == (302 if n < 2 else 429), n
    client.environ_base["REMOTE_ADDR"] = "2001:db8:42::1"  # another /64
    assert register(client, channels=["sms"], sms_phone="07700 900007").status_code == 302


def test_a_limit_counts_an_ipv6_connection_by_its_64():
    from app.web import client_network

    assert client_network("2001:db8:41::1") == client_network("2001:db8:41:0:ffff::9")
    assert client_network("2001:db8:41::1") == "2001:db8:41::/64"
    assert client_network("2001:db8:41:1::1") != client_network("2001:db8:41::1")
    assert client_network("::ffff:192.0.2.7") == "192.0.2.7" == client_network("192.0.2.7")
    assert client_network("") == ""


def test_a_head_request_does_only_what_its_get_does(
    app, client, app_ctx, make_resident, run_worker, monkeypatch
):
    """Flask answers HEAD with the GET view, and HEAD needs no form token: views that
    took anything but GET for a POST deleted a resident, confirmed an e-mail address
    and opened a one-use link on a HEAD (link scanners, prefetchers and uptime checks
    send them), and counted each HEAD of the sign-up form as a sign-up."""
    monkeypatch.setitem(app.config, "REGISTRATIONS_PER_IP_PER_HOUR", 2)
    for _ in range(3):
        assert client.head("/register").status_code == 200
    assert register(client).status_code == 302  # the HEADs counted as no sign-up
    email = [n for n in notices_sent(run_worker) if n.channel == "email"][-1]
    link = link_in(email)
    assert client.head(link).status_code == 200
    db.session.rollback()
    verified = db.session.scalars(
        select(ResidentChannel.verified_at).where(ResidentChannel.channel == "email")
    ).one()
    assert verified is None  # a HEAD of the link is no click on its button

    make_resident(postcode="BS1 6AD", sms="+447700900001")
    other = app.test_client()
    other.post("/manage", data={"csrf_token": csrf_token(other), "address": "07700 900001"})
    link = link_in(notices_sent(run_worker)[-1])
    for _ in range(2):
        assert other.head(link).status_code == 200
    assert other.get("/my-alerts").status_code == 302  # no HEAD opened the page
    opened = other.post(link, data={"csrf_token": page_token(other, link)})
    assert opened.headers["Location"].endswith("/my-alerts")  # the link was still fresh

    residents = db.session.scalar(select(func.count()).select_from(Resident))
    assert other.head("/my-alerts/delete").status_code == 200
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Resident)) == residents
    assert other.get("/my-alerts").status_code == 200  # still signed in, still there


def test_the_form_shows_the_place_a_postcode_is_in(client, app_ctx):
    from app.services.registration import consent_key

    found = postcode_place(client, "bs16ad").json
    assert found == {
        "postcode": "BS1 6AD",
        "place": "Central ward, City of Bristol",
        "forces": "Alerts for this place come from: Avon and Somerset.",
        # The statement to agree to, for this place's force (the form shows it).
        "consent": "I agree that Avon and Somerset Police may keep these details to send me "
        "alerts, until I ask them to stop.",
        "consent_for": str(db.session.scalar(select(Force.id))),
        # Which words those are: the form sends it back (words changed since are asked
        # again).
        "consent_key": consent_key(
            "I agree that Avon and Somerset Police may keep these details to send me "
            "alerts, until I ask them to stop."
        ),
        # The page's language: nothing to mark.
        "consent_lang": None,
    }
    refused = postcode_place(client, "BA12 9AA")
    assert refused.status_code == 400 and "Wiltshire" in refused.json["error"]
    # Where someone lives is posted, never put in an address (logs and history keep
    # those), and not taken without the form's token either.
    assert client.get("/register/postcode?postcode=bs16ad").status_code == 405
    assert client.post("/register/postcode", data={"postcode": "bs16ad"}).status_code == 400


def test_an_unsubscribed_channel_gets_nothing_from_the_next_alert(
    app_ctx, make_resident, make_officer
):
    resident = make_resident(sms="+447700900001", email="a@example.invalid")
    db.session.execute(
        update(ResidentChannel)
        .where(ResidentChannel.channel == "email")
        .values(unsubscribed_at=func.now())
    )
    db.session.commit()
    assert resident.id
    assert alert_addresses(make_officer()) == {"+447700900001"}


# --- their own page -----------------------------------------------------------------


@pytest.fixture
def resident_client(client, make_resident, run_worker):
    """A client that opened the resident's page from the link we texted."""
    make_resident(postcode="BS1 6AD", sms="+447700900001", groups=("neighbourhood-watch",))
    return opened_page(client, "+447700900001", run_worker)


def opened_page(client, address: str, run_worker):
    """`client`, having asked for a link to the page of the resident with this number
    (or e-mail address) and opened it."""
    typed = address if "@" in address else "0" + address.removeprefix("+44")
    client.post("/manage", data={"csrf_token": csrf_token(client), "address": typed})
    message = notices_sent(run_worker)[-1]
    assert message.recipient == address
    link = link_in(message)
    # A preview spends nothing. (In the resident's language unless the visitor chose.)
    assert re.search("Open my alerts page|Agor tudalen fy rhybuddion", client.get(link).text)
    opened = client.post(link, data={"csrf_token": page_token(client, link)})
    assert opened.status_code == 302 and opened.headers["Location"].endswith("/my-alerts")
    client.environ_base["HTTP_X_CSRFTOKEN"] = page_token(client, "/my-alerts")
    return client


def test_a_link_to_a_residents_page_opens_on_their_forces_page(
    app, app_ctx, make_resident, second_force, run_worker
):
    """A Wiltshire resident's link opened on Avon and Somerset's page, asked for from
    either force's (an outside check)."""
    make_resident(postcode="BA14 6AA", sms="+447700900411")
    for asked_at in ("/manage", f"/forces/{second_force.slug}/manage"):
        browser = app.test_client()
        browser.post(asked_at, data={"csrf_token": csrf_token(browser), "address": "07700900411"})
        link = link_in(notices_sent(run_worker)[-1])
        title = browser.get(link).text.split("</title>")[0]
        assert "Wiltshire Police" in title and "Avon" not in title


def test_asking_for_a_link_never_tells_who_is_registered(client, app_ctx, run_worker):
    answer = client.post(
        "/manage", data={"csrf_token": csrf_token(client), "address": "07700 900999"}
    )
    assert "If that number or address gets our alerts" in answer.text
    assert notices_sent(run_worker) == []
    forged = client.get("/manage/not-a-real-token")
    assert forged.status_code == 400 and "not valid" in forged.text
    unusable = client.post("/manage", data={"csrf_token": csrf_token(client), "address": "07"})
    assert unusable.status_code == 400 and error_tied_to(unusable.text, "address")
    assert client.get("/my-alerts").status_code == 302  # nobody signed in


def test_a_resident_changes_places_groups_and_quiet_hours(resident_client):
    client = resident_client
    token = page_token(client, "/my-alerts")
    outside = client.post("/my-alerts/places", data={"csrf_token": token, "postcode": "BA12 9AA"})
    assert outside.status_code == 400 and "Wiltshire" in outside.text
    client.post(
        "/my-alerts/places", data={"csrf_token": token, "label": "Farm", "postcode": "TA1 1AA"}
    )
    resident = db.session.scalars(select(Resident)).one()
    assert sorted(loc.label for loc in resident.locations) == ["Farm", "Home"]
    again = client.post(
        "/my-alerts/places", data={"csrf_token": token, "label": "Shop", "postcode": "ta11aa"}
    )
    assert again.status_code == 400
    assert "You already get alerts for TA1 1AA, as “Farm”." in html.unescape(again.text)
    # Home is named as the page names it: "Cartref" in Welsh (an outside check).
    home = client.post(
        "/my-alerts/places?lang=cy", data={"csrf_token": token, "postcode": "BS1 6AD"}
    )
    assert home.status_code == 400 and "“Cartref”" in html.unescape(home.text)
    page = client.get("/my-alerts?lang=en").text
    db.session.expire_all()
    assert len(db.session.scalars(select(Resident)).one().locations) == 2
    # Each Remove says which place, by its postcode too: two places of one name read
    # "Remove Home" twice to a screen reader (an outside check).
    assert re.search(r'Remove<span class="visually-hidden"> Farm, TA1 1AA</span>', page)
    unknown = client.post("/my-alerts/groups", data={"csrf_token": token, "groups": ["nope"]})
    assert unknown.status_code == 400 and untied_errors(unknown.text) == []
    client.post("/my-alerts/groups", data={"csrf_token": token, "groups": []})
    bad = client.post(
        "/my-alerts/quiet-hours",
        data={"csrf_token": token, "quiet": "yes", "quiet_from": "7", "quiet_until": ""},
    )
    assert bad.status_code == 400 and "Give both times" in bad.text
    # Both given, one no time of day: said so (it was "Give both times": an outside check).
    late = client.post(
        "/my-alerts/quiet-hours",
        data={"csrf_token": token, "quiet": "yes", "quiet_from": "24:00", "quiet_until": "07:00"},
    )
    assert late.status_code == 400 and "24:00 is not a time of day" in late.text
    assert untied_errors(late.text) == []
    # A NUL is named ("22\x00:00" read "22:00 is not a time of day": an outside check).
    nul = client.post(
        "/my-alerts/quiet-hours",
        data={
            "csrf_token": token,
            "quiet": "yes",
            "quiet_from": "22\x00:00",
            "quiet_until": "7:00",
        },
    )
    said = html.unescape(nul.text)
    assert nul.status_code == 400 and "The start of quiet hours has a null character" in said
    # No time zones, no seconds' fractions, no phone numbers: "22:00+14:00" to "22:00"
    # was saved as quiet hours, and none applied (an outside check).
    for start, end, said in [
        ("22:00+14:00", "22:00", "22:00+14:00 is not a time of day"),
        ("T22", "07:00", "T22 is not a time of day"),
        ("01174960000", "07:00", "01174960000 is not a time of day"),
        ("22:00", "22:00:00", "The start and end of quiet hours must differ"),
        ("10pm", "22:00", "The start and end of quiet hours must differ"),
    ]:
        odd = client.post(
            "/my-alerts/quiet-hours",
            data={"csrf_token": token, "quiet": "yes", "quiet_from": start, "quiet_until": end},
        )
        assert odd.status_code == 400 and said in html.unescape(odd.text), (start, end)
    client.post(
        "/my-alerts/quiet-hours",
        data={"csrf_token": token, "quiet": "yes", "quiet_from": "22:30", "quiet_until": "06:45"},
    )
    db.session.expire_all()
    resident = db.session.scalars(select(Resident)).one()
    assert resident.groups == []
    assert (str(resident.quiet_from), str(resident.quiet_until)) == ("22:30:00", "06:45:00")
    home = next(loc for loc in resident.locations if loc.label == "Home")
    client.post(f"/my-alerts/places/{home.id}/remove", data={"csrf_token": token})
    db.session.expire_all()
    (farm,) = db.session.scalars(select(Resident)).one().locations
    last = client.post(f"/my-alerts/places/{farm.id}/remove", data={"csrf_token": token})
    assert last.status_code == 400 and "your only place" in last.text


def change_contact(client, token: str, channel: str, address: str) -> None:
    """The resident adds or changes a way to reach them on their page; for a number, the
    page then asks for its code (an e-mail address gets a link)."""
    answer = client.post(
        "/my-alerts/channels", data={"csrf_token": token, "channel": channel, "address": address}
    )
    assert answer.status_code == 302
    if channel != "email":
        assert answer.headers["Location"].endswith("/register/confirm")


def test_a_changed_number_gets_alerts_at_the_old_one_until_the_new_one_is_confirmed(
    resident_client, make_officer, run_worker
):
    """A typo in a new number must not leave the resident with no alerts."""
    client = resident_client
    officer = make_officer()
    token = page_token(client, "/my-alerts")
    change_contact(client, token, "sms", "07700 900009")
    assert alert_addresses(officer) == {"+447700900001"}  # still the confirmed number
    page = client.get("/my-alerts").text
    assert "(changing to 07700 900009: alerts come here until you" in html.unescape(page)
    assert "07700 900009" in client.get("/register/confirm").text
    code = notices_sent(run_worker)[-1]
    assert code.recipient == "+447700900009"
    client.post(
        "/register/confirm",
        data={"csrf_token": token, "channel": "sms", "code": code_in(code)},
    )
    assert alert_addresses(officer) == {"+447700900009"}
    channel = db.session.scalars(select(ResidentChannel)).one()
    assert (channel.address, channel.pending_address) == ("+447700900009", None)
    assert channel.verified_at is not None


def test_an_alert_waiting_for_a_resident_goes_to_the_number_they_changed_to(
    resident_client, make_officer, run_worker
):
    """Found by an outside check: two alerts held for a resident's quiet hours went, when
    those ended, to the number they had changed from, which may be someone else's by
    then. What still waits goes to the proved new number."""
    client = resident_client
    officer = make_officer()
    for n in range(2):
        submit_alert(officer, shapes=AROUND_BS1, title=f"Sheds {n}", body="Lock them.")
    db.session.execute(  # held for the quiet hours
        text("UPDATE deliveries SET next_attempt_at = now() + interval '2 hours'")
    )
    db.session.commit()
    token = page_token(client, "/my-alerts")
    change_contact(client, token, "sms", "07700 900009")
    code = notices_sent(run_worker)[-1]
    client.post(
        "/register/confirm", data={"csrf_token": token, "channel": "sms", "code": code_in(code)}
    )
    db.session.rollback()
    waiting = db.session.scalars(
        select(Delivery).where(Delivery.address.in_(["+447700900001", "+447700900009"]))
    ).all()
    assert sorted((d.address, d.status) for d in waiting) == [("+447700900009", "queued")] * 2


def test_a_number_changed_twice_at_a_double_tap_gets_one_code(
    app, resident_client, run_worker, monkeypatch
):
    """Found by an outside probe: the same change sent twice sent two codes."""
    monkeypatch.setitem(app.config, "CODE_RESEND_WAIT_SECONDS", 30)
    token = page_token(resident_client, "/my-alerts")
    change_contact(resident_client, token, "sms", "07700 900009")
    again = resident_client.post(
        "/my-alerts/channels",
        data={"csrf_token": token, "channel": "sms", "address": "07700 900009"},
        follow_redirects=True,
    )
    assert "We sent a code to that number moments ago" in html.unescape(again.text)
    codes = [m for m in notices_sent(run_worker) if m.recipient == "+447700900009"]
    assert len(codes) == 1


def test_a_changed_e_mail_address_is_proved_by_its_link_and_an_old_link_changes_nothing(
    client, app_ctx, make_resident, make_officer, run_worker
):
    make_resident(sms=None, email="old@example.invalid")
    client = opened_page(client, "old@example.invalid", run_worker)
    token = page_token(client, "/my-alerts")
    change_contact(client, token, "email", "new@example.invalid")
    officer = make_officer()
    assert alert_addresses(officer) == {"old@example.invalid"}
    proof = notices_sent(run_worker)[-1]
    assert proof.recipient == "new@example.invalid"
    link = link_in(proof)
    confirmed = client.post(link, data={"csrf_token": page_token(client, link)})
    assert confirmed.status_code == 302 and confirmed.headers["Location"].endswith("/my-alerts")
    db.session.expire_all()
    channel = db.session.scalars(select(ResidentChannel)).one()
    assert (channel.address, channel.pending_address) == ("new@example.invalid", None)
    assert alert_addresses(officer) == {"new@example.invalid"}


def test_a_new_number_must_be_confirmed_and_pausing_stops_everything(
    resident_client, make_officer, run_worker
):
    client = resident_client
    officer = make_officer()
    token = page_token(client, "/my-alerts")
    change_contact(client, token, "voice", "0117 496 0001")
    assert alert_addresses(officer) == {"+447700900001"}  # the landline waits for its code
    call = notices_sent(run_worker)[-1]
    assert call.channel == "voice"
    spoken = re.search(r"is ((?:\d ){5}\d)", call.body).group(1).replace(" ", "")
    client.post("/register/confirm", data={"csrf_token": token, "channel": "voice", "code": spoken})
    assert alert_addresses(officer) == {"+447700900001", "+441174960001"}

    client.post("/my-alerts/pause", data={"csrf_token": token})
    with pytest.raises(Exception, match="Nobody registered"):
        alert_addresses(officer)
    db.session.rollback()
    client.post("/my-alerts/resume", data={"csrf_token": token})
    client.post("/my-alerts/channels/sms/remove", data={"csrf_token": token})
    assert alert_addresses(officer) == {"+441174960001"}


def test_a_pause_or_quiet_hours_on_a_number_another_registration_shares_says_so(
    app, make_resident, run_worker
):
    """An imported list may hold a number twice (sign-up never does): its holder paused
    from the link texted to it and was texted six times after "Nothing will be sent",
    through the other registration (an outside check). The page says so, and how to
    stop every text to it; a number of one's own is told nothing more."""
    make_resident(sms="+447700900611", name="Imported")
    make_resident(sms="+447700900611", name="Signed up")
    make_resident(sms="+447700900612", name="Alone")
    shared = opened_page(app.test_client(), "+447700900611", run_worker)
    note = "Your phone number is also on another registration"
    shared.post("/my-alerts/pause")
    assert note in shared.get("/my-alerts").text
    shared.post(
        "/my-alerts/quiet-hours",
        data={"quiet": "yes", "quiet_from": "22:00", "quiet_until": "07:00"},
    )
    said = shared.get("/my-alerts").text
    assert "Quiet hours saved: 22:00 to 07:00." in said and note in said
    # The other one paused too: nothing comes through it, so nothing is said.
    from app.models import Resident

    other = db.session.scalars(select(Resident).where(Resident.name == "Imported")).one()
    other.paused_at = func.now()
    db.session.commit()
    shared.post("/my-alerts/resume")
    shared.post("/my-alerts/pause")
    assert note not in shared.get("/my-alerts").text
    # From the page's own form, as the page posts them (only the routes said it: an
    # outside re-check); said once, by the paused banner.
    shared.post("/my-alerts/resume")
    other.paused_at = None
    db.session.commit()
    shared.post("/my-alerts", data={"pause": "pause"})
    said = shared.get("/my-alerts").text
    assert "Saved: alerts paused." in said and said.count(note) == 1
    shared.post("/my-alerts", data={"pause": "resume"})
    shared.post(
        "/my-alerts",
        data={"quiet_shown": "1", "quiet": "yes", "quiet_from": "21:00", "quiet_until": "07:00"},
    )
    said = shared.get("/my-alerts").text
    assert "Saved: quiet hours." in said and note in said
    # Deleting one's details says it too, before "no more alerts" is believed.
    assert note in shared.get("/my-alerts/delete").text
    alone = opened_page(app.test_client(), "+447700900612", run_worker)
    assert note not in alone.get("/my-alerts/delete").text
    alone.post("/my-alerts/pause")
    said = alone.get("/my-alerts").text
    assert "Alerts paused." in said and note not in said


def test_a_resident_downloads_their_data_then_deletes_it(resident_client, make_officer, run_worker):
    client = resident_client
    officer = make_officer()
    alert_addresses(officer)
    run_worker()
    data = client.get("/my-alerts/data.json")
    assert data.headers["Content-Disposition"].startswith("attachment")
    exported = json.loads(data.text)
    assert exported["contact"][0]["address"] == "+447700900001"
    assert exported["places"] == [{"label": "Home", "postcode": "BS1 6AD"}]
    assert exported["alerts_sent_to_you"][0]["title"] == "T"
    # With the reference each message carries, to match a text by (none: an outside
    # check), on the page too.
    reference = db.session.scalar(select(Alert.reference))
    assert exported["alerts_sent_to_you"][0]["reference"] == reference
    assert f'data-label="Reference">{reference}<' in client.get("/my-alerts/data").text
    assert exported["groups"] == ["Neighbourhood-Watch"]
    # Someone else asked for alerts on their number, and it was told it gets them
    # already: a notice of no resident's, which kept the number for the notices' 30
    # days after the resident had gone (an outside check).
    from app.services.verification import tell_owners_of

    tell_owners_of({"sms": "+447700900001"})
    db.session.commit()
    told = select(func.count()).select_from(ResidentNotice)
    assert db.session.scalar(told.where(ResidentNotice.resident_id.is_(None))) == 1

    token = page_token(client, "/my-alerts/delete")
    twin = client.application.test_client()  # a double tap: the same cookie, sent twice
    twin.set_cookie("session", client.get_cookie("session").value)
    gone = client.post("/my-alerts/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "Your details are deleted" in gone.text
    # The second tap says so too (it said "your page has closed", as if it had failed:
    # an outside probe).
    second = twin.post("/my-alerts/delete", data={"csrf_token": token}, follow_redirects=True)
    assert second.status_code == 200 and "Your details are deleted" in second.text
    # Only after a deletion: anyone else is sent to the start.
    stranger = client.application.test_client().get("/my-alerts/deleted")
    assert stranger.status_code == 302 and stranger.headers["Location"] == "/"
    assert db.session.scalar(select(func.count()).select_from(Resident)) == 0
    delivery = db.session.scalars(select(Delivery)).one()  # kept for the statistics...
    assert delivery.resident_id is None and delivery.address.startswith("removed:")
    assert "+447700900001" not in delivery.address  # ...without the number
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert db.session.scalar(told) == 0
    events = db.session.scalars(select(AuditEvent.details)).all()
    assert "+447700900001" not in json.dumps(events)
    assert client.get("/my-alerts").status_code == 302


def test_retention_pseudonymises_old_deliveries_and_removes_the_never_confirmed(
    app, app_ctx, make_resident, make_officer, monkeypatch
):
    make_resident(sms="+447700900001")
    alert_addresses(make_officer())
    make_resident(sms="+447700900002", verified=False)
    db.session.execute(text("UPDATE deliveries SET created_at = now() - interval '800 days'"))
    db.session.execute(text("UPDATE residents SET created_at = now() - interval '8 days'"))
    db.session.commit()
    found = purge_expired()
    assert found["deliveries_pseudonymised"] == 1
    assert found["unverified_residents_removed"] == 1
    assert db.session.scalar(select(Delivery.address)).startswith("removed:")
    assert db.session.scalar(select(func.count()).select_from(Resident)) == 1
    assert purge_expired()["deliveries_pseudonymised"] == 0  # once is enough


# --- importing a list ---------------------------------------------------------------

CSV = """name,postcode,mobile,landline,email,groups,label
Ann,BS1 6AD,07700 900101,,ann@example.invalid,Neighbourhood Watch,
Bob,BA12 9AA,07700 900102,,,,
Cat,BS8 1TH,,0117 496 0103,,farm-watch;nosuch,Farm
Dan,TA1 1AA,09011 234567,,,,
Eve,BS1 6AD,07700 900101,,,,
Fay,,,,,,
Gus,TA1 1AA,,,gus@example.invalid,,Shop
Hal,07400 111240,,,hal@example.invalid,,
Ida,BS1 6AD,07400111241,,,ida.resident@example.com,
"""


def test_an_import_matches_e_mail_addresses_whatever_their_letters_case(app_ctx, make_resident):
    """One mailbox is one address, as a sign-up treats it: written in capitals, it is
    the same as a resident's and as an earlier row's (two records, two e-mails an
    alert, and the resident's page link going to the imported one, before)."""
    make_resident(postcode="BS1 6AD", sms=None, email="sam@example.invalid")
    found = import_residents(
        "postcode,email\nBS1 6AD,SAM@Example.invalid\nBS1 6AD,Dup.Case@example.invalid\n"
        "BS1 6AD,dup.case@example.invalid\n",
        filename="cases.csv",
        dry_run=False,
    )
    reasons = {r["row"]: " ".join(map(reason_in_english, r["reasons"])) for r in found.rejected}
    assert reasons == {
        2: "e-mail address already registered",
        4: "e-mail address is the same as on row 3",
    }
    assert found.imported == 1
    assert (
        db.session.scalar(
            select(func.count()).where(func.lower(ResidentChannel.address) == "sam@example.invalid")
        )
        == 1
    )


def test_an_import_reads_the_columns_as_people_and_other_systems_head_them(app_ctx):
    """Found by an outside check: a header "E-mail" (the service's own spelling) was not
    read, and every row with only an e-mail address was refused."""
    found = import_residents(
        "Postcode, E-mail ,Mobile number\nBS1 6AD,jo@example.invalid,\nBS1 6AD,,07700 900456\n",
        filename="headed.csv",
        dry_run=False,
    )
    assert (found.imported, found.rejected) == (2, [])
    addresses = set(db.session.scalars(select(ResidentChannel.address)))
    assert addresses == {"jo@example.invalid", "+447700900456"}
    # Headers that look the same are the same: a zero-width space before a header, a
    # non-breaking hyphen or an en dash in "E-mail", an underscore, full-width letters
    # (the file was refused for want of the columns it showed: an outside check).
    found = import_residents(
        "Postcode,\u200bMobile,E\u2011mail,landline_number\n"
        "BS1 6AD,07700 900457,,\nBS1 6AD,,al@example.invalid,\n"
        "BS1 6AD,,,0117 496 0458\n",
        filename="lookalike.csv",
        dry_run=True,
    )
    assert (found.accepted, found.rejected, found.ignored) == (3, [], [])
    found = import_residents(
        "postcode,E\u2013mail\nBS1 6AD,en@example.invalid\n", filename="d.csv", dry_run=True
    )
    assert (found.accepted, found.ignored) == (1, [])
    # What only looks like ours (letters of another alphabet) is named in the refusal.
    with pytest.raises(ImportRefused) as refused:
        import_residents(
            "postcode,M\u043ebile,Em\u0430il\nBS1 6AD,07700 900459,x@example.invalid\n",
            filename="cyrillic.csv",
            dry_run=True,
        )
    assert "Headers not read: “Em\u0430il”, “M\u043ebile”." in str(refused.value)
    # Two columns for one are named as the file writes them.
    with pytest.raises(ImportRefused) as refused:
        import_residents(
            "postcode,E-mail,Email\nBS1 6AD,a@example.invalid,b@example.invalid\n",
            filename="twice.csv",
            dry_run=True,
        )
    assert "two columns for “email”: “E-mail”, “Email”." in str(refused.value)


def test_an_import_says_when_an_address_is_only_signed_up_not_confirmed(app_ctx, make_resident):
    # "already registered" read as a resident's, though no one had confirmed it (an
    # outside check): said so, and still refused (the sign-up waits for its code).
    make_resident(postcode="BS1 6AD", sms=None, email="waiting@example.invalid", verified=False)
    make_resident(postcode="BS1 6AD", sms=None, email="held@example.invalid")
    found = import_residents(
        "postcode,email\nBS1 6AD,waiting@example.invalid\nBS1 6AD,HELD@example.invalid\n",
        filename="pending.csv",
        dry_run=True,
    )
    reasons = {r["row"]: " ".join(map(reason_in_english, r["reasons"])) for r in found.rejected}
    assert reasons == {
        2: "e-mail address already registered (signed up, not yet confirmed)",
        3: "e-mail address already registered",
    }


def test_an_import_tells_nothing_of_another_forces_residents(app_ctx, make_resident, second_force):
    """Found by an outside check: Avon and Somerset's import of Wiltshire residents'
    numbers and addresses refused them "already registered" (or "signed up, not yet
    confirmed"), where the residents' search said nobody is registered with this force:
    a file of 100,000 rows would list who Wiltshire holds. Another force's residents
    are not seen: each row is this force's own registration."""
    from app.dao.replies import holders_of

    make_resident(postcode="BA14 6AA", sms=None, email="wilts@example.invalid")
    make_resident(postcode="BA14 6AA", sms=None, email="wait@example.invalid", verified=False)
    make_resident(postcode="BS1 6AD", sms=None, email="ours@example.invalid")
    rows = (
        "postcode,email\nBS1 6AD,wilts@example.invalid\nBS1 6AD,WAIT@example.invalid\n"
        "BS1 6AD,ours@example.invalid\n"
    )
    found = import_residents(rows, filename="border.csv", dry_run=True)
    reasons = {r["row"]: " ".join(map(reason_in_english, r["reasons"])) for r in found.rejected}
    assert reasons == {4: "e-mail address already registered"}  # this force's own only
    import_residents(rows, filename="border.csv", dry_run=False)
    assert len(holders_of("wilts@example.invalid", ("email",), unproven_too=True)) == 2


def test_an_import_refuses_a_row_with_more_cells_than_the_header(app_ctx):
    # A name holding a comma, not in quotes, moves the row's cells along: the last
    # were dropped without a word (an outside check). Empty extra cells are nothing.
    found = import_residents(
        "name,postcode,email\nLong,BS1 6AD,long@example.invalid,,,x,y,z\n"
        "Short,BS1 6AD,short@example.invalid,,\n",
        filename="shifted.csv",
        dry_run=True,
    )
    (row,) = found.rejected
    assert row["row"] == 2
    assert " ".join(map(reason_in_english, row["reasons"])) == (
        "more cells than the header row has columns (5 extra): a value with a comma in it "
        "needs quotes around it"
    )
    assert found.accepted == 1


ORGANISATION = "reaches an organisation (an 03 or 055 number), not a home or a mobile"


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("mobile", "0300 123 4567", f"mobile {ORGANISATION}"),
        ("landline", "05511 123456", f"landline {ORGANISATION}"),
        ("landline", "07640 123456", "landline is a pager number, not a home or a mobile"),
        ("mobile", "0117 496 0123", "mobile is not a mobile number (texts need one starting 07)"),
        ("landline", "05612 345678", "landline is an 056 internet phone number"),
        ("landline", "0800 123 4567", "landline is a kind of number we cannot call"),
        ("mobile", "0" * 60, "mobile is too long to be a phone number"),
        ("landline", "0117 496 0123 x5", "landline has an extension"),
    ],
)
def test_an_import_names_what_is_wrong_with_each_number_for_staff(app_ctx, column, value, reason):
    """Found by an outside check: a 055 number was refused as "an 03 number or a
    pager". Each problem now has its own words, for residents and for staff, and
    staff's are found by the problem, not by matching the residents' words."""
    found = import_residents(
        f"postcode,{column}\nBS1 6AD,{value}\n", filename="n.csv", dry_run=True
    )
    (row,) = found.rejected
    assert " ".join(map(reason_in_english, row["reasons"])).startswith(reason)


def test_every_problem_a_number_can_have_has_words_for_staff():
    from app.services import contacts, resident_import

    assert set(contacts.PHONE_PROBLEMS) == set(resident_import.PHONE_PROBLEMS)


def test_an_import_reports_every_rejected_row_and_writes_all_the_rest_at_once(
    app_ctx, make_resident, run_worker
):
    from app.cli.demo import ensure_interest_groups

    ensure_interest_groups()
    make_resident(postcode="BS1 6AD", sms=None, email="gus@example.invalid")
    dry = import_residents(CSV, filename="legacy.csv", dry_run=True)
    reasons = {r["row"]: " ".join(map(reason_in_english, r["reasons"])) for r in dry.rejected}
    assert dry.rows_read == 9 and dry.accepted == 1
    # Reasons for the staff running the import, not the words a resident is shown.
    assert reasons[3] == "postcode outside the force area: Wiltshire"
    assert reasons[4] == "group not known: “nosuch”"
    assert reasons[5] == "mobile is a premium-rate, personal or shared-cost number"
    assert reasons[6] == "mobile is the same as on row 2"
    assert reasons[7].startswith("postcode missing")
    assert reasons[8] == "e-mail address already registered"
    # A cell quoted in a reason is masked as the values are (an address in the groups
    # column); a postcode is not quoted: it is among the row's values, which go after
    # IMPORT_REPORT_DAYS, where a reason stays.
    assert reasons[9] == "postcode not valid"
    assert reasons[10].startswith("group not known: “") and "•••@e•••.com" in reasons[10]
    assert "111240" not in str(dry.rejected) and "ida.resident" not in str(dry.rejected)
    # Each row's values, its contact details masked: the report holds no addresses.
    values = {r["row"]: r["values"] for r in dry.rejected}
    assert values[3] == {
        "name": "Bob",
        "postcode": "BA12 9AA",
        "mobile": "0770••••102",
        "landline": "",
        "email": "",
        "groups": "",
        "label": "",
    }
    assert values[4]["landline"] == "0117••••103" and values[4]["label"] == "Farm"
    assert values[8]["email"] == "g•••@e•••.invalid"
    assert "example.invalid" not in str(dry.rejected)
    assert "900102" not in str(dry.rejected) and "496 0103" not in str(dry.rejected)
    assert db.session.scalar(select(func.count()).select_from(Resident)) == 1  # dry: nothing

    done = import_residents(CSV, filename="legacy.csv", dry_run=False, notify=True)
    assert done.imported == 1 and done.notified == 1
    # Its notices wait on the bulk queue, behind any alert (on the alerts queue they
    # held an alert up 205 s: an outside probe), and the sweeper does not take them for
    # forgotten while they wait there.
    # Nor given up as "not sent in time" an hour later, as a code would be: a large
    # import's notices take that long at a texting rate.
    from app import jobs
    from app.models import ResidentNotice
    from app.services import outbound
    from app.services.notices import NOTICES

    assert (jobs.waiting(), jobs.waiting(jobs.BULK)) == (0, 1)
    db.session.execute(
        text(
            "UPDATE resident_notices SET created_at = now() - interval '1 hour',"
            " updated_at = now() - interval '1 hour'"
        )
    )
    db.session.commit()
    outbound.sweep(NOTICES)
    assert (jobs.waiting(), jobs.waiting(jobs.BULK)) == (0, 1)
    assert db.session.scalars(select(ResidentNotice.status)).all() == ["queued"]
    # Redis emptied, the sweeper puts them back: on the bulk queue still (on the
    # alerts queue, the next alert waited 195 s behind them: an outside check); and so
    # does a retry, and a question to the provider about one.
    redis_store.client.flushdb()
    outbound.sweep(NOTICES)
    assert (jobs.waiting(), jobs.waiting(jobs.BULK)) == (0, 1)
    notice_id = db.session.scalars(select(ResidentNotice.id)).one()
    outbound.enqueue(NOTICES, [notice_id], after_seconds=30)
    outbound.enqueue_reconcile(NOTICES, [notice_id])
    assert jobs.waiting() == 0
    assert (len(jobs.bulk_queue().scheduled_job_registry), jobs.waiting(jobs.BULK)) == (1, 2)
    redis_store.client.flushdb()
    outbound.enqueue(NOTICES, [notice_id])
    ann = db.session.scalars(select(Resident).where(Resident.name == "Ann")).one()
    assert ann.source == "import:legacy.csv" and ann.consent_version == "imported"
    assert {c.channel: c.address for c in ann.channels} == {
        "sms": "+447700900101",
        "email": "ann@example.invalid",
    }
    assert all(c.verified_at for c in ann.channels)
    assert [g.slug for g in ann.groups] == ["neighbourhood-watch"]
    (notice,) = notices_sent(run_worker)
    assert notice.channel == "email" and "/manage" in notice.body


def test_an_unreadable_file_is_refused_whole(app_ctx):
    with pytest.raises(ImportRefused, match="no “postcode” column"):
        import_residents("name,phone\nA,1\n", filename="x.csv", dry_run=True)
    # Found by an outside probe: a header with no rows was "checked" and offered for
    # import, and of two postcode columns the last was used.
    with pytest.raises(ImportRefused, match="a header row but no residents"):
        import_residents("postcode,email\n", filename="x.csv", dry_run=True)
    with pytest.raises(ImportRefused, match="two columns for “postcode”"):
        import_residents(
            "Postcode,email,postcode \nBS1 6AD,a@example.invalid,TA1 1AA\n",
            filename="x.csv",
            dry_run=True,
        )


def test_an_import_reads_what_spreadsheets_save_and_says_what_they_changed(app_ctx):
    """Found by an outside probe: a list saved with semicolons (a European spreadsheet,
    with or without Excel's "sep=;" line) had "no postcode column"; rows of empty cells
    at the end were each rejected; a 5,000-character name was kept (sign-up takes 100)
    and a long label cut short without a word; a number a spreadsheet turned into
    7.7009E+09 was "not a phone number"; a quote left open read the next rows into one
    cell with no hint why."""
    for content in (
        "postcode;email\nBS1 6AD;semi@example.invalid\n",
        "sep=;\npostcode;email\nBS1 6AD;semi@example.invalid\n",
        "postcode,email\nBS1 6AD,semi@example.invalid\n,\n,,\n",
    ):
        report = import_residents(content, filename="s.csv", dry_run=True)
        assert (report.rows_read, report.accepted, report.rejected) == (1, 1, [])
    rows = [
        f"BS1 6AD,,a@example.invalid,{'N' * 101},Home",
        f"BS1 6AD,,b@example.invalid,Sam,{'L' * 41}",
        "BS1 6AD,7.7009E+09,,Sam,Home",
        'BS1 6AD,,c@example.invalid,"Sam, Jones,Home',
        "BS1 6AD,,d@example.invalid,Sam,Home",
    ]
    content = "postcode,mobile,email,name,label\n" + "\n".join(rows) + "\n"
    report = import_residents(content, filename="x.csv", dry_run=True)
    reasons = {r["row"]: " ".join(map(reason_in_english, r["reasons"])) for r in report.rejected}
    assert reasons[2] == "name longer than 100 characters"
    assert reasons[3] == "label longer than 40 characters"
    assert "changed by a spreadsheet" in reasons[4] and "format the column as text" in reasons[4]
    assert "line break" in reasons[5] and "quote mark" in reasons[5]
    assert report.accepted == 0 and report.rows_read == 4  # the last row is in row 5's cell
    written = import_residents(
        "postcode,email,label\nBS1 6AD,e@example.invalid," + "L" * 40 + "\n",
        filename="y.csv",
        dry_run=False,
    )
    assert written.imported == 1
    assert db.session.scalar(select(ResidentLocation.label)) == "L" * 40


def upload_csv(client, content: str, filename: str):
    """An administrator's client uploads a list on the import page."""
    from io import BytesIO

    return client.post(
        "/admin/import",
        data={
            "csrf_token": page_token(client, "/admin/import"),
            "file": (BytesIO(content.encode()), filename),
        },
        content_type="multipart/form-data",
    )


def test_a_one_row_import_reads_one_row(client, app_ctx, sign_in, run_worker):
    # "1 rows read" (an outside check).
    sign_in("admin")
    answer = upload_csv(client, "postcode,email\nBS1 6AD,one@example.invalid\n", "one.csv")
    assert answer.status_code == 302
    run_worker()
    page = client.get(answer.headers["Location"]).text
    assert re.search(r"<strong>1</strong> row read:", page), page[:3000]


def test_a_file_the_csv_reader_cannot_read_says_which_line_and_what_to_do(
    app, client, app_ctx, sign_in, monkeypatch
):
    # Rows ending in a carriage return alone, as an old Mac spreadsheet saves them, are
    # rows like any others.
    old_mac = import_residents(
        "postcode,email\rBS1 6AD,mac@example.invalid\r", filename="mac.csv", dry_run=True
    )
    assert (old_mac.rows_read, old_mac.accepted) == (1, 1)
    # A cell the csv reader will not hold: the line is named, and nothing is written.
    huge = "postcode,email,name\nBS1 6AD,a@example.invalid,ok\nBS1 6AD,b@example.invalid,"
    with pytest.raises(ImportRefused, match="Line 3 of the file cannot be read as CSV"):
        import_residents(huge + "x" * 140_000 + "\n", filename="huge.csv", dry_run=True)
    # A NUL character (which PostgreSQL cannot keep) is refused at the upload, by line.
    sign_in("admin")
    nul = "postcode,email\nBS1 6AD,a@example.invalid\nBS1 6AD,b\x00@example.invalid\n"
    answer = upload_csv(client, nul, "nul.csv")
    assert answer.status_code == 400
    # At the file's box, for a screen reader too (an outside check).
    assert "Line 3 of the file holds a NUL character" in error_tied_to(answer.text, "file")
    # Lines ended as an old Mac ends them (CR alone) are counted too: it said line 1.
    answer = upload_csv(client, nul.replace("\n", "\r"), "mac-nul.csv")
    assert "Line 3 of the file holds a NUL character" in error_tied_to(answer.text, "file")
    assert db.session.scalar(select(func.count()).select_from(ResidentImport)) == 0
    # An Excel workbook named .csv is told what it is (it was told of a NUL on line 1).
    import io
    import zipfile

    book = io.BytesIO()
    with zipfile.ZipFile(book, "w") as zipped:
        zipped.writestr("xl/workbook.xml", "<workbook/>")
    answer = client.post(
        "/admin/import",
        data={
            "csrf_token": page_token(client, "/admin/import"),
            "file": (io.BytesIO(book.getvalue()), "list.csv"),
        },
        content_type="multipart/form-data",
    )
    assert answer.status_code == 400
    assert "This is a spreadsheet workbook (Excel), not a CSV file" in html.unescape(answer.text)
    assert db.session.scalar(select(func.count()).select_from(ResidentImport)) == 0
    # A file over the upload limit is told the limit and what to do, on the form (it
    # was told "That request is too large. Try again in a moment").
    from app import admin as admin_views

    monkeypatch.setattr(admin_views, "MAX_UPLOAD_BYTES", 2 * 1024 * 1024)
    rows = "".join(f"BS1 6AD,r{n}@example.invalid\n" for n in range(100_000))
    answer = upload_csv(client, "postcode,email\n" + rows, "big.csv")
    assert answer.status_code == 413
    said = html.unescape(answer.text)
    assert "The file is larger than 2 MB" in said and "Split the list" in said
    assert 'type="file"' in said and "Try again in a moment" not in said
    assert db.session.scalar(select(func.count()).select_from(ResidentImport)) == 0
    # In Welsh too (it was an f-string, never in the catalogue).
    client.get("/admin/import?lang=cy")
    answer = upload_csv(client, "postcode,email\n" + rows, "big.csv")
    assert "Mae’r ffeil yn fwy na 2 MB" in html.unescape(answer.text)
    client.get("/admin/import?lang=en")
    # Anywhere else, the same: what to do, not "try again".
    huge = client.post("/my-alerts/delete", data={"x": "y" * 1_100_000})
    assert huge.status_code == 413
    assert "Send less at a time" in huge.text and "Try again in a moment" not in huge.text


def test_the_admin_checks_then_imports_a_file_in_the_background(
    app, client, make_officer, run_worker, sign_in
):
    from app.cli.demo import ensure_interest_groups

    with app.app_context():
        ensure_interest_groups()
    sign_in("admin")
    upload = upload_csv(client, CSV, "legacy.csv")
    assert upload.status_code == 302
    status_url = upload.headers["Location"]
    run_worker()
    page = client.get(status_url).text
    assert "6" in page and "can be imported" in page
    assert "postcode outside the force area: Wiltshire" in page
    assert "0770••••102" in page and "900102" not in page  # the row's values, masked
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Resident)) == 0
    client.post(status_url + "/run", data={"csrf_token": page_token(client, status_url)})
    # Pressed again before a worker picks it up: it has started, not "Importing" again
    # (an outside check), the page offers no button meanwhile, and one job is queued.
    from app import jobs

    assert jobs.waiting(jobs.BULK) + jobs.waiting() == 1
    waiting = client.get(status_url).text
    assert 'id="import-started"' in waiting and "/run" not in waiting
    again = client.post(status_url + "/run", data={"csrf_token": page_token(client, status_url)})
    said = html.unescape(client.get(again.location).text)
    assert "The import has started already" in said and "Importing. This page" not in said
    assert jobs.waiting(jobs.BULK) + jobs.waiting() == 1
    run_worker()
    assert "imported" in client.get(status_url).text
    # The worker that took it forgot the press: were it to die, recovery hands the
    # import back with its button, not "it starts as soon as a worker is free".
    assert not redis_store.client.keys("import:*:started")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Resident)) == 2
        record = db.session.scalars(select(ResidentImport)).one()
        assert record.status == "done" and record.content is None  # the file is not kept
    assert PASSWORDS  # the admin signed in with the test password


def test_an_import_waits_on_its_own_queue_and_never_holds_up_an_alert(
    app, client, make_officer, make_resident, run_worker, sign_in
):
    """Found by an outside check: an incident alert waited 185 s behind a 100,000-row
    import, the one worker busy with it. Imports go on a queue of their own; an
    --alerts-only worker never takes them, and a worker taking both takes alerts first."""
    from rq import SimpleWorker

    from app.extensions import redis_store
    from app.jobs import bulk_queue, waiting, worker_queues
    from app.services.alerts import AlertDraft

    sign_in("admin")
    status_url = upload_csv(client, CSV, "legacy.csv").headers["Location"]
    assert (bulk_queue().count, waiting()) == (1, 0)
    with app.app_context():
        make_resident(postcode="BS1 6AD", sms="+447700900555")
        shapes = [{"kind": "circle", "center": [-2.5879, 51.4545], "radius_m": 500}]
        submit_alert(make_officer(), AlertDraft(shapes=shapes, title="Fire", body="Stay in."))
        assert waiting() >= 1
        queues = worker_queues(alerts_only=True)
        assert bulk_queue() not in queues
        alerts_only = SimpleWorker(queues, connection=redis_store.client)
        alerts_only.work(burst=True)
        assert waiting() == 0 and bulk_queue().count == 1
        # The alert went; the import still waits.
        assert db.session.scalars(select(Delivery.status)).all() == ["delivered"]
    run_worker()  # one taking both: the import now
    assert "can be imported" in client.get(status_url).text


STAFF_CSV = """name,postcode,mobile,landline,email,notes
Kim,BS1 6AD,0117 496 0104,,,private
Lee,BS1 6AD,07700 900105 ext 5,,,
Mo,BS1 6AD,,,mo@@example.invalid,
Ned,BS1 6AD,07700 seven,,,
"=HYPERLINK(""http://evil.example"",""x"")",@SUM(1+1),+447700900106,,,
"Pip
Jones",BS1 6AD,07700 900107,,,
"""


def test_import_reasons_are_for_staff_and_values_are_masked(app_ctx):
    dry = import_residents(STAFF_CSV, filename="staff.csv", dry_run=True)
    reasons = {r["row"]: [reason_in_english(x) for x in r["reasons"]] for r in dry.rejected}
    values = {r["row"]: r["values"] for r in dry.rejected}
    assert reasons[2] == ["mobile is not a mobile number (texts need one starting 07)"]
    assert reasons[3] == ["mobile has an extension, which automated messages cannot dial"]
    assert reasons[4][0].startswith("e-mail address not valid: ")
    assert reasons[5] == ["mobile has letters in it"]
    assert reasons[6] == ["postcode not valid"]
    assert reasons[7] == ["name has a line break in it (at character 4)"]
    everything = json.dumps(dry.rejected, ensure_ascii=False)
    # Nothing a resident would be told to do, and no usable contact details.
    for advice in ("Enter ", "Give ", "We can", "try again", "Check "):
        assert advice not in everything
    for secret in ("496 0104", "900105", "mo@@example", "900106", "900107"):
        assert secret not in everything
    assert values[2]["landline"] == "" and values[2]["mobile"] == "0117••••104"
    assert values[4]["email"] == "m•••@@•••.invalid"
    assert values[6]["mobile"] == "+447••••••106"
    assert values[7]["name"] == "Pip\ufffdJones"  # the line break shown, not hidden
    # More than an address in the cell (after a line break): each word masked, not the
    # rest shown whole (an outside check: "i•••@e•••.invalid\r\nBcc: x@y").
    from app.services.masking import mask_contact

    cell = "imp17@example.invalid\r\nBcc: x@y.z"
    assert mask_contact(cell) == "i•••@e•••.invalid ••• x•••@y•••.z"
    assert mask_contact("a@example.invalid<+447700900123>") == "a•••@e•••.•••"
    assert "notes" not in values[2]  # a column we do not read is not shown
    assert dry.columns == ["name", "postcode", "mobile", "landline", "email"]


def test_the_rejected_rows_download_as_csv_a_spreadsheet_never_runs(app_ctx):
    import csv as csv_module
    import io

    from app.services.resident_import import rejected_rows_csv

    report = import_residents(STAFF_CSV, filename="staff.csv", dry_run=True).as_dict()
    body = rejected_rows_csv(report)
    assert body.startswith("\ufeff")
    header, *rows = list(csv_module.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert header == [
        "Row",
        "Why",
        "Name",
        "Postcode",
        "Mobile (masked)",
        "Landline (masked)",
        "E-mail (masked)",
    ]
    assert [row[0] for row in rows] == ["2", "3", "4", "5", "6", "7"]
    formula = rows[4]
    assert formula[2] == '\'=HYPERLINK("http://evil.example","x")'
    assert formula[3] == "'@SUM(1+1)" and formula[4] == "'+447••••••106"
    assert formula[1] == "postcode not valid"
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "|", "%")), row
    assert "900105" not in body and "496 0104" not in body


def test_an_import_report_reads_in_the_page_language(app, make_officer, run_worker):
    """A worker checks the file, in no page's language: each reason and a refused
    file's error are written in every language and shown in the reader's (they were
    English on a Welsh page), and the rejected rows' CSV is in it too."""
    from tests.factories import signed_in

    admin = signed_in(app, make_officer(role="admin"), "admin")
    status_url = upload_csv(admin, STAFF_CSV, "staff.csv").headers["Location"]
    import_id = int(status_url.rsplit("/", 1)[1])
    run_worker()
    english = html.unescape(admin.get(status_url).text)
    welsh = html.unescape(admin.get(status_url + "?lang=cy").text)
    for words, cymraeg in (
        ("mobile has letters in it", "ffôn symudol: mae llythrennau ynddo"),
        ("postcode not valid", "cod post annilys"),
        ("mobile has an extension", "ffôn symudol: mae estyniad ynddo"),
        ("e-mail address not valid", "cyfeiriad e-bost annilys"),
        ("name has a line break in it", "name: mae toriad llinell ynddo"),
    ):
        assert words in english and words not in welsh, words
        assert cymraeg in welsh and cymraeg not in english, cymraeg
    # The page's language stays (the cookie): the download is in Welsh too.
    download = admin.get(f"/admin/imports/{import_id}/rejected.csv").text
    assert download.lstrip("\ufeff").startswith("Rhes,")
    assert "ffôn symudol: mae llythrennau ynddo" in download
    assert "mobile has letters in it" not in download
    # A report stored before reasons were written in each language is shown as stored.
    db.session.execute(
        text(
            "UPDATE resident_imports SET report = jsonb_set(report, '{rejected,0,reasons}', "
            "'[\"mobile has letters in it\"]')"
        )
    )
    db.session.commit()
    assert "mobile has letters in it" in html.unescape(admin.get(status_url).text)
    # A file refused whole: its error in the page's language.
    empty = upload_csv(admin, "name,postcode,email\n", "empty.csv").headers["Location"]
    run_worker()
    refused = html.unescape(admin.get(empty).text)
    assert "Mae rhes pennawd yn y ffeil ond dim preswylwyr oddi tani" in refused
    admin.get(empty + "?lang=en")
    assert "header row but no residents" in html.unescape(admin.get(empty).text)


def test_columns_an_import_does_not_read_are_named_and_a_wide_file_is_refused(
    app, make_officer, run_worker
):
    """Found by an outside check: a file's sms_phone and voice_phone columns were
    dropped without a word, and a file of 100,002 columns held a worker for 77 s."""
    from app.services.resident_import import MAX_COLUMNS

    admin = signed_in(app, make_officer(role="admin"), "admin")
    listed = "name,sms_phone,voice_phone,email,postcode\nP,07700900999,,p@example.invalid,BS1 6AD\n"
    status_url = upload_csv(admin, listed, "phones.csv").headers["Location"]
    run_worker()
    page = html.unescape(admin.get(status_url).text)
    assert "Columns not read: sms_phone, voice_phone. We read postcode, mobile" in page
    wide = ",".join(["postcode", "email", *(f"c{n}" for n in range(MAX_COLUMNS))])
    refused = upload_csv(admin, wide + "\n" + "BS1 6AD,w@example.invalid\n", "wide.csv")
    if refused.status_code == 302:  # checked by the worker
        run_worker()
        refused = admin.get(refused.headers["Location"])
    assert f"The file has {MAX_COLUMNS + 2} columns; a list may have at most" in html.unescape(
        refused.text
    )


def test_a_download_named_in_welsh_or_any_script_has_a_header_any_server_sends(
    app, make_officer, run_worker
):
    """gunicorn refuses a header that is not Latin-1: a file named "rhestr ŵŷ.csv"
    made its rejected rows' download a 500 (an outside check). Every download's name
    is sent in ASCII, and in UTF-8 as RFC 6266 gives it."""
    from urllib.parse import unquote

    from app.web import attachment
    from tests.factories import signed_in

    admin = signed_in(app, make_officer(role="admin"), "admin")
    for filename, plain in (
        ("rhestr ŵŷ.csv", "rejected-rows-rhestr-wy"),
        ("日本.csv", "rejected-rows"),
    ):
        status_url = upload_csv(admin, STAFF_CSV, filename).headers["Location"]
        run_worker()
        import_id = int(status_url.rsplit("/", 1)[1])
        download = admin.get(f"/admin/imports/{import_id}/rejected.csv")
        header = download.headers["Content-Disposition"]
        assert download.status_code == 200 and header.isascii(), header
        assert f'filename="{plain}.csv"' in header
        assert unquote(header.split("filename*=UTF-8''")[1]).endswith(filename[-6:])
    assert attachment("report.csv") == 'attachment; filename="report.csv"'
    accents = attachment("Côte d’Ivoire.csv")
    assert accents.startswith('attachment; filename="Cote-dIvoire.csv"; filename*=')


def test_one_row_to_import_is_one_resident(app, make_officer, run_worker):
    """ "Import 1 residents" (an outside check)."""
    from tests.factories import signed_in

    admin = signed_in(app, make_officer(role="admin"), "admin")
    status_url = upload_csv(admin, "postcode,mobile\nBS1 6AD,07700 900111\n", "one.csv").location
    run_worker()
    assert "Import 1 resident</button>" in admin.get(status_url).text
    upload = upload_csv(
        admin, "postcode,mobile\nBS1 6AD,07700 900112\nBS1 6AD,07700 900113\n", "two.csv"
    )
    run_worker()
    assert "Import 2 residents</button>" in admin.get(upload.location).text


def test_only_admins_import_and_download_rejected_rows(app, client, make_officer, run_worker):

    from tests.factories import signed_in

    admin = signed_in(app, make_officer(role="admin"), "admin")
    page = admin.get("/admin/import")
    assert page.status_code == 200
    assert 'href="/admin/import">Import</a>' in page.text  # in the admin menu
    assert 'href="/admin/audit">Audit log</a>' in page.text
    upload = upload_csv(admin, STAFF_CSV, "staff.csv")
    status_url = upload.headers["Location"]
    import_id = int(status_url.rsplit("/", 1)[1])
    assert admin.get(f"/admin/imports/{import_id}/rejected.csv").status_code == 404  # unchecked
    run_worker()
    shown = html.unescape(admin.get(status_url).text)
    assert "mobile has letters in it" in shown and "+447••••••106" in shown
    assert "Download the rejected rows (CSV)" in shown
    download = admin.get(f"/admin/imports/{import_id}/rejected.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert download.headers["Content-Disposition"] == (
        'attachment; filename="rejected-rows-staff.csv"'
    )
    assert "'=HYPERLINK" in download.text and "900106" not in download.text
    (event,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "residents.import_rejected_downloaded")
    ).all()
    assert event.subject_id == str(import_id) and event.details == {"rows": 6}
    # Its page shows names and postcodes: who opened it is recorded too.
    viewed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "residents.import_viewed")
    ).all()
    assert [e.details["rejected_rows_shown"] for e in viewed][-1] == 6
    assert viewed[-1].details["already_registered"] == 0
    # Every row refused: running it anyway (the page offers no button) does nothing
    # and says why; it was marked "done" with nothing written (an outside probe).
    ran = admin.post(
        f"/admin/imports/{import_id}/run", data={"csrf_token": page_token(admin, status_url)}
    )
    assert "None of its rows can be imported" in html.unescape(admin.get(ran.location).text)
    assert (
        db.session.scalar(select(ResidentImport.status).where(ResidentImport.id == import_id))
        == "checked"
    )
    # The upload's event names the upload (it named none, and could not be tied to it).
    (uploaded,) = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "residents.import_uploaded")
    ).all()
    assert (uploaded.subject_type, uploaded.subject_id) == ("import", str(import_id))
    # After IMPORT_REPORT_DAYS the rows' values go (found by an outside probe: kept for
    # ever); their numbers and reasons stay.
    db.session.execute(text("UPDATE resident_imports SET created_at = now() - interval '31 days'"))
    # A report written before reasons stopped quoting the postcode: that goes too.
    db.session.execute(
        text(
            "UPDATE resident_imports SET report = jsonb_set(report, '{rejected,0,reasons}', "
            '\'["postcode not in the postcode data: ZZ9 9ZZ", "mobile has letters in it"]\')'
        )
    )
    db.session.commit()
    assert purge_expired()["import_reports_emptied"] == 1
    assert purge_expired()["import_reports_emptied"] == 0  # once
    shown = html.unescape(admin.get(status_url).text)
    assert "mobile has letters in it" in shown and "+447••••••106" not in shown
    assert "postcode not in the postcode data" in shown and "ZZ9" not in shown
    assert "values were deleted 30 days after the upload" in shown
    # Its file went a day after upload: no Import button, but what to do instead (it
    # offered the button and then said "already imported, or not checked yet").
    assert "The file was deleted a day after it was uploaded" in shown
    assert "Import 0 residents" not in shown and 'action="/admin/imports/' not in shown
    again = admin.post(
        f"/admin/imports/{import_id}/run", data={"csrf_token": page_token(admin, status_url)}
    )
    assert "upload it again" in html.unescape(admin.get(again.location).text)
    later = admin.get(f"/admin/imports/{import_id}/rejected.csv").text
    assert "mobile has letters in it" in later and "HYPERLINK" not in later
    for role in ("officer", "supervisor", "analyst"):
        other = signed_in(app, make_officer(role=role), role)
        for path in ("/admin/import", status_url, f"/admin/imports/{import_id}/rejected.csv"):
            assert other.get(path).status_code == 403, (role, path)
        assert 'href="/admin/audit"' not in other.get("/officers/").text


def test_a_code_lost_with_redis_is_sent_by_the_sweeper_once(
    client, app_ctx, run_worker, runner, caplog
):
    from app.extensions import redis_store

    register(client, channels=["sms"])
    redis_store.client.flushdb()  # the queued job is gone
    db.session.execute(
        text(
            "UPDATE resident_notices SET created_at = now() - interval '2 minutes', "
            "updated_at = now() - interval '2 minutes'"
        )
    )
    db.session.commit()
    caplog.set_level("INFO", logger="app.sweeper")
    result = runner.invoke(args=["sweeper", "--once"])
    assert result.exit_code == 0, result.output
    assert "'notices_requeued': 1" in caplog.text
    assert len(notices_sent(run_worker)) == 1
    runner.invoke(args=["sweeper", "--once"])
    assert len(notices_sent(run_worker)) == 1  # not twice


# --- quiet hours --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quiet_from", "quiet_until", "at", "released"),
    [
        ("22:00", "07:00", "2026-11-25 23:30+00", "2026-11-26 07:00+00"),  # GMT, before midnight
        ("22:00", "07:00", "2026-11-26 03:00+00", "2026-11-26 07:00+00"),  # after midnight
        ("22:00", "07:00", "2026-11-26 12:00+00", None),  # not quiet
        ("22:00", "07:00", "2026-07-01 22:30+00", "2026-07-02 06:00+00"),  # BST: 23:30 local
        ("09:00", "17:00", "2026-11-26 10:00+00", "2026-11-26 17:00+00"),  # a day sleeper
        ("09:00", "17:00", "2026-11-26 17:00+00", None),  # the end is not quiet
    ],
)
def test_quiet_hours_hold_until_their_end_in_uk_time(
    app_ctx, quiet_from, quiet_until, at, released
):
    found = db.session.scalar(
        text(
            "SELECT quiet_hours_release(CAST(:f AS time), CAST(:u AS time),"
            " CAST(:at AS timestamptz))"
        ),
        {"f": quiet_from, "u": quiet_until, "at": at},
    )
    expected = None if released is None else datetime.fromisoformat(released)
    assert found == expected


def quiet_now(resident) -> None:
    """Quiet hours from an hour ago to an hour from now, UK time."""
    db.session.execute(
        text(
            "UPDATE residents SET quiet_from = (now() AT TIME ZONE 'Europe/London' - interval "
            "'1 hour')::time, quiet_until = (now() AT TIME ZONE 'Europe/London' + interval "
            "'1 hour')::time WHERE id = :id"
        ),
        {"id": resident.id},
    )
    db.session.commit()


def test_routine_alerts_wait_for_quiet_hours_and_urgent_ones_do_not(
    app, app_ctx, make_resident, make_officer, run_worker
):
    officer = make_officer()
    sleeper = make_resident(sms="+447700900001")
    make_resident(sms="+447700900002")
    quiet_now(sleeper)
    routine = submit_alert(
        officer, shapes=AROUND_BS1, title="T", body="B", category="crime_prevention"
    ).alert
    run_worker()  # returns: the held message does not keep a worker waiting
    statuses = dict(
        db.session.execute(
            select(Delivery.address, Delivery.status).where(Delivery.alert_id == routine.id)
        ).all()
    )
    assert statuses == {"+447700900001": "queued", "+447700900002": "delivered"}
    held = db.session.scalar(
        select(Delivery.next_attempt_at - func.now()).where(Delivery.address == "+447700900001")
    )
    assert timedelta(minutes=55) < held < timedelta(minutes=65)
    # The alert's page says why one waits, and until when (it showed "1 waiting" for
    # hours, and looked stuck: an outside check).
    from app.services.alerts.progress import alert_progress

    progress = alert_progress(routine.id)
    assert progress["held"] == 1 and progress["held_until"]
    page = signed_in(app, officer, "officer").get(f"/officers/alerts/{routine.id}").text
    assert "1 waiting for the residents’ quiet hours to end: the last goes at" in page

    urgent = submit_alert(officer, shapes=AROUND_BS1, title="T", body="B", category="incident")
    run_worker()
    assert set(
        db.session.scalars(select(Delivery.status).where(Delivery.alert_id == urgent.alert.id))
    ) == {"delivered"}


def test_a_follow_up_of_an_urgent_alert_goes_through_quiet_hours_as_its_alert_did(
    app, app_ctx, make_resident, make_officer, run_worker
):
    """A fire's alert woke a resident; its update ("leave Redcliff Street now"), of
    the category "update" the page chose, waited for the end of his quiet hours (an
    outside check). A routine alert's update still waits."""
    officer = make_officer()
    sleeper = make_resident(sms="+447700900001")
    quiet_now(sleeper)

    def statuses(alert_id: int) -> set[str]:
        db.session.expire_all()
        return set(db.session.scalars(select(Delivery.status).filter_by(alert_id=alert_id)))

    fire = submit_alert(
        officer, shapes=AROUND_BS1, title="Fire", body="Keep windows shut.", category="incident"
    ).alert
    run_worker()
    assert statuses(fire.id) == {"delivered"}
    for kind in ("update", "all_clear"):
        follow_up = submit_alert(
            officer,
            shapes=AROUND_BS1,
            title=f"Fire {kind}",
            body="Leave the street now.",
            category=kind,
            parent_id=fire.id,
            audience="parent",
        ).alert
        run_worker()
        assert statuses(follow_up.id) == {"delivered"}, kind

    leaflets = submit_alert(
        officer,
        shapes=AROUND_BS1,
        title="Leaflets",
        body="Lock sheds.",
        category="crime_prevention",
    ).alert
    update = submit_alert(
        officer,
        shapes=AROUND_BS1,
        title="Leaflets update",
        body="More sheds.",
        category="update",
        parent_id=leaflets.id,
        audience="parent",
    ).alert
    run_worker()
    assert statuses(leaflets.id) == statuses(update.id) == {"queued"}


def test_a_place_removed_stops_the_messages_waiting_about_its_area(
    app, app_ctx, make_resident, make_officer, run_worker
):
    """A resident who moved (added BS5 6AA, removed BS1 6AD) got five texts about his
    old street when his quiet hours ended (an outside check). Those about an area a
    place of theirs is still in wait on."""
    from app.services.residents import add_location, remove_location

    officer = make_officer()
    mover = make_resident(sms="+447700900001")
    quiet_now(mover)
    near = [{"kind": "circle", "center": [-2.588230, 51.451967], "radius_m": 500}]
    wide = [{"kind": "circle", "center": [-2.588230, 51.451967], "radius_m": 6000}]
    old_street = submit_alert(
        officer, shapes=near, title="T", body="Vans.", category="crime_prevention"
    ).alert
    everywhere = submit_alert(
        officer, shapes=wide, title="T", body="Scams.", category="crime_prevention"
    ).alert
    update = submit_alert(
        officer,
        shapes=near,
        title="T",
        body="Vans again.",
        category="update",
        parent_id=old_street.id,
        audience="parent",
    ).alert
    run_worker()
    resident = db.session.get(Resident, mover.id)
    home = resident.locations[0].id
    add_location(resident, label="New home", postcode="BS5 6AA")
    remove_location(db.session.get(Resident, mover.id), home)
    db.session.expire_all()
    found = dict(
        db.session.execute(
            select(Delivery.alert_id, Delivery.status).where(Delivery.resident_id == mover.id)
        ).all()
    )
    assert found == {old_street.id: "cancelled", update.id: "cancelled", everywhere.id: "queued"}


def test_a_change_of_quiet_hours_moves_the_messages_held_for_them(
    app, app_ctx, make_resident, make_officer, run_worker, monkeypatch
):
    """Held until the end of the quiet hours they had, messages went inside the longer
    ones a resident had just set, and waited on after quiet hours were turned off (an
    outside check)."""
    from app.services import dispatch
    from app.services.residents import set_quiet_hours

    officer = make_officer()
    sleeper = make_resident(sms="+447700900001")
    quiet_now(sleeper)
    routine = submit_alert(
        officer, shapes=AROUND_BS1, title="T", body="B", category="crime_prevention"
    ).alert
    run_worker()

    def held_for() -> timedelta | None:
        db.session.expire_all()
        return db.session.scalar(
            select(Delivery.next_attempt_at - func.now()).where(Delivery.alert_id == routine.id)
        )

    assert timedelta(minutes=55) < held_for() < timedelta(minutes=65)
    # Longer: from two hours ago to three hours from now, UK time.
    now = datetime.now(ZoneInfo("Europe/London"))
    longer = ((now - timedelta(hours=2)).time(), (now + timedelta(hours=3)).time())
    set_quiet_hours(db.session.get(Resident, sleeper.id), longer)
    assert timedelta(hours=2, minutes=55) < held_for() < timedelta(hours=3, minutes=5)
    # Off: it goes now, once.
    set_quiet_hours(db.session.get(Resident, sleeper.id), None)
    assert held_for() is None
    monkeypatch.setitem(app.config, "REQUEUE_SECONDS", 0)  # the sweeper's wait, shortened
    dispatch.sweep()
    run_worker()
    db.session.expire_all()
    sent = db.session.scalars(select(Delivery.status).where(Delivery.alert_id == routine.id))
    assert list(sent) == ["delivered"]
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1


def test_an_all_clear_stops_its_alerts_messages_still_held_for_quiet_hours(
    app, app_ctx, make_resident, make_officer, run_worker
):
    """A routine alert and its all-clear, both held for a resident's quiet hours, were
    released together at their end, in either order (a review). The all-clear goes
    instead; what already went, and the alert's other residents, are untouched."""
    from app.models import AuditEvent

    officer = make_officer()
    sleeper = make_resident(sms="+447700900011")
    make_resident(sms="+447700900012")
    quiet_now(sleeper)
    first = submit_alert(
        officer, shapes=AROUND_BS1, title="T", body="B", category="crime_prevention"
    ).alert
    run_worker()
    cleared = send_all_clear(officer, first)
    run_worker()
    db.session.rollback()

    def of(alert):
        return dict(
            db.session.execute(
                select(Delivery.address, Delivery.status).where(Delivery.alert_id == alert.id)
            ).all()
        )

    assert of(first) == {"+447700900011": "cancelled", "+447700900012": "delivered"}
    assert of(cleared) == {"+447700900011": "queued", "+447700900012": "delivered"}
    reason = db.session.scalar(
        select(Delivery.reason).where(
            Delivery.alert_id == first.id, Delivery.address == "+447700900011"
        )
    )
    assert reason == "not sent: the all-clear went before the quiet hours ended"
    event = db.session.scalar(
        select(AuditEvent.details).where(AuditEvent.action == "alert.held_dropped_for_all_clear")
    )
    assert event == {"messages": 1}


# --- what review found --------------------------------------------------------------


def test_a_sign_up_sent_twice_is_one_resident_with_one_code(app, client, app_ctx, run_worker):
    """A double tap on Sign up, or a retry: one resident, one code each way, and the
    code the resident gets works on the page they are on (nobody is told "it already
    gets them"). From another browser the same details are not this sign-up: that
    browser is never given the resident's page."""
    from concurrent.futures import ThreadPoolExecutor

    assert register(client).status_code == 302
    assert register(client).status_code == 302
    # Twice at once from one browser (its two tabs share the session).
    twin = app.test_client()
    twin.set_cookie("session", client.get_cookie("session").value)
    other = {"sms_phone": "07700 900124", "email": "kim@example.invalid", "name": "Kim"}
    token = csrf_token(client)
    with ThreadPoolExecutor(2) as pool:
        sent = pool.map(
            lambda browser: browser.post("/register", data=GOOD | other | {"csrf_token": token}),
            (client, twin),
        )
        assert [answer.status_code for answer in sent] == [302, 302]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Resident)) == 2
    messages = notices_sent(run_worker)
    assert len(messages) == 4  # a code each way for Sam and for Kim
    assert not any("It already gets them" in m.body for m in messages)
    kim_code = code_in(next(m for m in messages if m.recipient == "+447700900124"))

    # Another browser sends Kim's very details: answered as any sign-up of a number
    # taken (Kim is told), and it does not get Kim's page, even once Kim confirms.
    stranger = app.test_client()
    answer = stranger.post("/register", data=GOOD | other | {"csrf_token": csrf_token(stranger)})
    assert answer.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Resident)) == 2
    told = [m for m in notices_sent(run_worker) if m.recipient == "+447700900124"]
    # Kim has not confirmed: the number gets nothing yet, and is told that, not "It
    # already gets them".
    assert "It is waiting to be confirmed with the code we sent" in told[-1].body
    # ...on the page it was signed up on, not this one, and what the owner can do (the
    # owner typed it into their own page, and was told it was wrong: an outside check).
    assert "on the page where it was signed up" in told[-1].body
    assert "sign up again once those 10 minutes are over" in told[-1].body
    assert "already gets them" not in told[-1].body and not re.search(r"\d{6}", told[-1].body)
    token = page_token(client, "/register/confirm")
    confirmed = client.post(
        "/register/confirm",
        data={"csrf_token": token, "channel": "sms", "code": kim_code},
        follow_redirects=True,
    ).text
    assert "Text message confirmed" in confirmed
    assert "07700 900124" not in stranger.get("/my-alerts", follow_redirects=True).text


def test_a_sign_up_corrected_after_going_back_corrects_the_first(app, client, run_worker):
    """Back, the postcode's typo put right, Sign up: the first sign-up held the number,
    the corrected one was told "it already gets them", its code was refused and none
    came for ten minutes (an outside check). Replaced by a new one with new codes, the
    first code was refused, and a third correction in an hour sent none (outside
    checks). The first is corrected: one resident, at the corrected postcode, and the
    code it was sent works."""
    assert register(client, postcode="TA1 1AA").status_code == 302
    assert "We have changed your sign-up" not in client.get("/register/confirm").text
    for _ in range(4):  # BS1 6AD as meant, then back and forth: over an hour's codes
        assert register(client).status_code == 302
        said = html.unescape(client.get("/register/confirm").text)
        assert "We have changed your sign-up. What we sent you before still works" in said
        assert register(client, postcode="TA1 1AA").status_code == 302
    assert register(client).status_code == 302
    db.session.expire_all()
    (resident,) = db.session.scalars(select(Resident)).all()
    assert [place.postcode for place in resident.locations] == ["BS16AD"]
    messages = notices_sent(run_worker)
    assert not any("already gets them" in m.body or "waiting to be" in m.body for m in messages)
    (text_message,) = [m for m in messages if m.recipient == "+447700900123"]
    token = page_token(client, "/register/confirm")
    confirmed = client.post(
        "/register/confirm",
        data={"csrf_token": token, "channel": "sms", "code": code_in(text_message)},
        follow_redirects=True,
    ).text
    assert "Text message confirmed" in confirmed


def test_the_new_codes_note_says_nothing_of_who_is_registered(app, make_resident):
    """Found by a review: "we have sent new codes", said only when a sign-up of moments
    ago was replaced, was never said of a registered number's (nothing was stored to
    replace): signing up twice told whether a number was registered. Said alike."""
    make_resident(postcode="BS1 6AD", sms="+447700900555", email=None)
    said = {}
    for number in ("07700 900555", "07700 900556"):  # held, free
        browser = app.test_client()
        register(browser, postcode="TA1 1AA", sms_phone=number, channels=["sms"])
        browser.get("/register/confirm")
        register(browser, sms_phone=number, channels=["sms"])  # BS1 6AD
        page = html.unescape(browser.get("/register/confirm").text)
        said[number] = "We have changed your sign-up" in page
    assert said == {"07700 900555": True, "07700 900556": True}


def title_of(page: str) -> str:
    return re.search(r"<title>(.*?)</title>", page, re.S).group(1)


def test_a_sign_up_corrected_to_another_forces_place_shows_that_forces_pages_held_or_free(
    app, make_resident, second_force
):
    """A correction keeps a held number's sign-up state as a stored one's resident is
    kept: the force whose pages it shows is the corrected place's, as a stored one's
    is (kept from the first, a held number's page named the first force alone)."""
    make_resident(postcode="BS1 6AD", sms="+447700900575", email=None)
    titles = {}
    for number in ("07700 900575", "07700 900576"):  # held, free
        browser = app.test_client()
        register(browser, sms_phone=number, channels=["sms"])  # BS1 6AD: Avon and Somerset
        first = title_of(browser.get("/register/confirm").text)
        assert (
            register(
                browser,
                postcode="BA14 6AA",
                sms_phone=number,
                channels=["sms"],
                consent_for=str(second_force.id),
            ).status_code
            == 302
        )
        page = browser.get("/register/confirm").text
        assert "We have changed your sign-up" in html.unescape(page)
        titles[number] = (first, title_of(page))
    assert titles["07700 900575"] == titles["07700 900576"]
    assert "Wiltshire" in titles["07700 900575"][1], titles


def test_a_sign_up_sent_again_then_corrected_or_sent_again_reads_the_same_held_or_free(
    app, make_resident, run_worker, monkeypatch
):
    """Found by a review: the same sign-up sent again renewed this browser's memory of
    it for a registered number alone (a stored one's was kept from the first), so a
    correction after the first's memory ended was said to have new codes of a held
    number only; and a registered number's repeat started its state afresh, so "Send
    again" then said "We sent a code moments ago" of it alone. Both read alike."""
    import time

    monkeypatch.setitem(app.config, "SIGN_UP_REPEAT_SECONDS", 2)
    monkeypatch.setitem(app.config, "CODE_RESEND_WAIT_SECONDS", 1)
    make_resident(postcode="BS1 6AD", sms="+447700900565", email=None)

    def flashed(page: str) -> list[str]:
        return [
            " ".join(html.unescape(m).split())
            for m in re.findall(r'class="flash[^"]*"[^>]*>(.*?)</', page, re.S)
        ]

    def journey(number: str) -> list:
        seen = []
        browser = app.test_client()
        first = time.monotonic()
        seen.append(
            register(browser, postcode="TA1 1AA", sms_phone=number, channels=["sms"]).status_code
        )
        time.sleep(1.2)  # past the wait for a new code, within the first's memory
        seen.append(
            register(browser, postcode="TA1 1AA", sms_phone=number, channels=["sms"]).status_code
        )
        token = page_token(browser, "/register/confirm")
        resent = browser.post(
            "/register/confirm",
            data={"csrf_token": token, "channel": "sms", "action": "resend"},
            follow_redirects=True,
        )
        seen.append(flashed(resent.text))
        time.sleep(max(0.0, first + 2.3 - time.monotonic()))  # the first's memory ended
        seen.append(register(browser, sms_phone=number, channels=["sms"]).status_code)  # BS1 6AD
        seen.append(
            "We have changed your sign-up" in html.unescape(browser.get("/register/confirm").text)
        )
        # What the number was sent: the repeat sent nothing (a held one's owner was
        # told twice).
        e164 = "+44" + number[1:].replace(" ", "")
        seen.append(len([m for m in notices_sent(run_worker) if m.recipient == e164]))
        return seen

    held, free = journey("07700 900565"), journey("07700 900566")
    assert held == free
    assert held[2] == ["We have sent a new code."] and held[5] == 3


def test_a_sign_up_of_another_number_in_between_leaves_nothing_to_correct_held_or_free(
    app, make_resident, run_worker
):
    """Found by a review: sign up a number, guess four codes, sign up a registered
    number of one's own, then the first number again at another postcode: a free first
    number's stored sign-up was still found and corrected (its guesses kept: "Ask for a
    new code"), a registered one's state started afresh ("4 more tries"), and its owner
    was texted again. Only this browser's last sign-up is repeated or corrected."""
    make_resident(postcode="BS1 6AD", sms="+447700900585", email=None)  # held: tested
    make_resident(postcode="BS1 6AD", sms="+447700900587", email=None)  # the prober's own

    def answers(number: str) -> list:
        browser = app.test_client()
        seen = []
        register(browser, postcode="TA1 1AA", sms_phone=number, channels=["sms"])
        for _ in range(4):
            token = page_token(browser, "/register/confirm")
            browser.post(
                "/register/confirm", data={"csrf_token": token, "channel": "sms", "code": "111111"}
            )
        register(browser, postcode="TA1 1AA", sms_phone="07700 900587", channels=["sms"])
        seen.append(register(browser, sms_phone=number, channels=["sms"]).status_code)
        page = html.unescape(browser.get("/register/confirm").text)
        seen.append("We have changed your sign-up" in page)
        token = page_token(browser, "/register/confirm")
        wrong = browser.post(
            "/register/confirm", data={"csrf_token": token, "channel": "sms", "code": "111111"}
        )
        seen.append(re.search(r"That code is not right[^<]*", html.unescape(wrong.text)).group(0))
        resent = browser.post(
            "/register/confirm",
            data={"csrf_token": token, "channel": "sms", "action": "resend"},
            follow_redirects=True,
        )
        seen.append(
            [
                m
                for m in ("moments ago", "new code", "as many codes")
                if m in html.unescape(resent.text)
            ]
        )
        return seen

    held, free = answers("07700 900585"), answers("07700 900586")
    assert held == free, (held, free)
    assert held[1] is False and "4 more tries" in held[2]


def confirm_page(browser) -> tuple[str, list[str], bool]:
    """The confirm page's language, the ways it asks codes of, and whether it says the
    sign-up was changed."""
    page = html.unescape(browser.get("/register/confirm").text)
    language = re.search(r'<html[^>]*lang="([^"]+)"', page).group(1)
    boxes = re.findall(r"(Text message|Phone call|Neges destun|Galwad ffôn):", page)
    # Said in the page's language (a Welsh page said it in English: an outside check).
    changed = {"We have changed your sign-up": "en", "Rydym wedi newid eich": "cy"}
    said = [language for words, language in changed.items() if words in page]
    return language, boxes, said[0] if said else None


@pytest.mark.parametrize(
    "then",
    [
        {"channels": ["voice"], "sms_phone": None},  # the same number, for calls now
        {"language": "cy"},  # the same sign-up, in Welsh now
        {"groups": ["neighbourhood-watch"]},  # a group chosen now
        {"quiet": "yes", "quiet_from": "23:00"},  # quiet hours now
    ],
    ids=["call", "welsh", "group", "quiet"],
)
def test_a_sign_up_sent_again_with_anything_changed_reads_the_same_held_or_free(
    app, make_resident, then
):
    """Found by a review: this browser's last sign-up was matched by its numbers
    alone, and by its name and postcode: the same number signed up for calls after
    texts was read as a repeat of the text sign-up for a free number (its text box
    kept, the call never asked for) and as a call's for a held one; the same sign-up
    sent in Welsh came back in Welsh for a held number and in English for a free one,
    whose change (language, groups, quiet hours) was dropped. Each is a correction or
    another sign-up, alike."""
    make_resident(postcode="BS1 6AD", sms="+447700900615", voice="+447700900615", email=None)
    db.session.add(InterestGroup(slug="neighbourhood-watch", name="Neighbourhood Watch"))
    db.session.commit()

    def journey(number: str) -> tuple:
        browser = app.test_client()
        first = {"channels": ["sms"], "sms_phone": number, "language": "en"}
        register(browser, **first)
        second = first | then
        if "voice" in second["channels"]:
            second["voice_phone"] = number
        assert register(browser, **second).status_code == 302
        return confirm_page(browser)

    held, free = journey("07700 900615"), journey("07700 900616")
    assert held == free, (held, free)
    if "language" in then:  # the page and what it says of the change in Welsh
        assert held[0] == "cy" and held[2] == "cy"
    elif "channels" in then:
        assert held[1] == ["Phone call"] and held[2] is None
    else:
        assert held[2] == "en"  # "We have changed your sign-up"
    if "groups" in then:
        groups = db.session.scalars(
            select(InterestGroup.slug)
            .join(Resident.groups)
            .join(Resident.channels)
            .where(ResidentChannel.address == "+447700900616")
        ).all()
        assert groups == ["neighbourhood-watch"]  # the free one's change was kept


def guess_and_resend(browser) -> tuple[str, str]:
    """What the confirm page says to a wrong code, and to "Send a new code"."""
    token = page_token(browser, "/register/confirm")
    wrong = browser.post(
        "/register/confirm", data={"csrf_token": token, "channel": "sms", "code": "111111"}
    )
    refusal = re.search(r'class="field-error"[^>]*>(.*?)</p>', wrong.text, re.S)
    resent = browser.post(
        "/register/confirm",
        data={"csrf_token": token, "channel": "sms", "action": "resend"},
        follow_redirects=True,
    )
    flash = re.search(r'class="flash[^"]*"[^>]*>(.*?)</', resent.text, re.S)
    return (
        " ".join(html.unescape(re.sub(r"<[^>]+>", "", refusal.group(1))).split()),
        " ".join(html.unescape(flash.group(1)).split()),
    )


def test_a_sign_up_when_the_numbers_hour_is_spent_reads_the_same_held_or_free(
    app, make_resident, run_worker, monkeypatch
):
    """Found by a review: a number's hour of codes spent by three sign-ups from other
    browsers, the first's code run out, a fourth sign-up: a free number's stored one
    had no code ("we have no code waiting"; "as many codes as we can"), a registered
    one's, whose owner was told nothing more, was said to have one sent moments ago,
    and counted guesses ("4 more tries"). Neither has a code waiting."""
    monkeypatch.setitem(app.config, "CODE_RESEND_WAIT_SECONDS", 30)
    make_resident(postcode="BS1 6AD", sms="+447700900625", email=None)

    def journey(number: str) -> tuple[str, str]:
        for _ in range(3):
            register(app.test_client(), sms_phone=number, channels=["sms"])
        db.session.execute(  # the first's code has run out
            update(ResidentChannel)
            .where(ResidentChannel.verified_at.is_(None))
            .values(verify_expires_at=func.now() - text("interval '1 minute'"))
        )
        db.session.commit()
        browser = app.test_client()
        assert register(browser, sms_phone=number, channels=["sms"]).status_code == 302
        return guess_and_resend(browser)

    held, free = journey("07700 900625"), journey("07700 900626")
    assert held == free, (held, free)
    assert "no code waiting" in held[0] and "as many codes as we can" in held[1]


def test_a_code_refused_as_the_numbers_own_is_said_on_the_confirm_page_held_or_free(
    app, providers, make_resident, run_worker
):
    """Found by an outside check: the network refused a code text ("not a mobile
    number"), and the confirm page, reloaded, still said a code was on its way; "Send a
    new code" spent the hour on the same refusal. It says what the network said, read
    by the address whoever's message it was: a number we hold reads as one we do not."""
    make_resident(postcode="BS1 6AD", sms="+447700900641", email="held@example.invalid")
    providers.gateway.errors_for["+447700900641"] = (400, 21614, "not a mobile number")
    providers.gateway.errors_for["+447700900642"] = (400, 21614, "not a mobile number")

    def journey(number: str, **sign_up) -> str:
        browser = app.test_client()
        assert register(browser, sms_phone=number, **sign_up).status_code == 302
        run_worker()
        page = browser.get("/register/confirm").text
        page = re.sub(r'name="csrf_token" value="[^"]+"', "", page[page.index("<main") :])
        return page.replace(number, "NUMBER").replace(number.replace(" ", ""), "NUMBER")

    held = journey("07700 900641", channels=["sms"])
    free = journey("07700 900642", channels=["sms"])
    assert held == free
    assert "the phone network says it is not a mobile" in held
    assert "Sign up again" in held
    # The box stays, for a later code that came (it went with the words: a re-check).
    assert "The 6-digit code we texted you" in held and "Send a new code" in held

    # Taken, then reported undelivered by its callback (30006: a landline).
    providers.gateway.undelivered_for["+447700900643"] = 30006
    browser = app.test_client()
    register(browser, sms_phone="07700 900643", channels=["sms"])
    run_worker()
    deadline = time.monotonic() + 10
    # "Landline or unreachable carrier": not said to be certain (a review).
    while "a landline, or cannot be reached" not in (page := browser.get("/register/confirm").text):
        assert time.monotonic() < deadline, "no callback"
        time.sleep(0.1)
    # A number refused for another reason, and one taken: the code box as ever.
    providers.gateway.errors_for["+447700900644"] = (400, 21610, "unsubscribed")
    for number in ("07700 900644", "07700 900645"):
        page = journey(number, channels=["sms"])
        assert "The 6-digit code we texted you" in page and "We could not" not in page

    # An e-mail address its mail server has no mailbox for, held or free.
    for address in ("held@example.invalid", "free@example.invalid"):
        providers.mail.refuse[address] = "550 5.1.1 No such user"
    held = journey("07700 900646", channels=["email"], email="held@example.invalid")
    free = journey("07700 900646", channels=["email"], email="free@example.invalid")
    assert held.replace("held@", "x@") == free.replace("free@", "x@")
    assert "its mail server says there is no such mailbox" in held
    welsh = app.test_client()
    register(welsh, channels=["email"], email="held@example.invalid", language="cy")
    run_worker()
    assert "We could not" not in welsh.get("/register/confirm?lang=cy").text
    assert "Ni allem" in welsh.get("/register/confirm?lang=cy").text
    # A domain its mail server says does not exist: said as such (it was said as "no
    # such mailbox": an outside check).
    providers.mail.refuse["sam@nowhere.invalid"] = "550 5.1.2 Domain not found"
    page = journey("07700 900647", channels=["email"], email="sam@nowhere.invalid")
    assert "there is no such domain (the part after the @)" in page


def test_a_code_to_a_number_of_a_region_we_cannot_text_says_so(
    app, providers, make_resident, run_worker
):
    """Found by an outside check: a Jersey or Isle of Man mobile (+44, a region of its
    own at Twilio) whose code our account may not text: the code never came, and the
    page said it was on its way. It says we cannot text numbers there, in Welsh too."""
    providers.gateway.errors_for["+447624123458"] = (400, 21408, "Permission to send")
    browser = app.test_client()
    assert register(browser, sms_phone="07624 123458", channels=["sms"]).status_code == 302
    run_worker()
    page = browser.get("/register/confirm").text
    assert "we cannot send texts to numbers of Jersey, Guernsey or the Isle of Man" in page
    assert "nac Ynys Manaw" in browser.get("/register/confirm?lang=cy").text


def test_a_refusal_is_not_said_once_a_later_code_went_held_or_free(
    app, providers, make_resident, run_worker, monkeypatch
):
    """Found by a review: a code refused as not a mobile, then "Send a new code", and
    the new code was taken: the page still said "We could not text this number" for
    the code's 10 minutes, and not that a code was sent. The newest message to the
    address is what is said; a refused one again after it, the words again."""
    monkeypatch.setitem(app.config, "CODE_RESEND_WAIT_SECONDS", 0)
    make_resident(postcode="BS1 6AD", sms="+447700900651", email=None)

    def journey(number: str) -> list[str]:
        to = "+44" + number.replace(" ", "")[1:]
        providers.gateway.errors_for[to] = (400, 21614, "not a mobile number")
        browser = app.test_client()
        assert register(browser, sms_phone=number, channels=["sms"]).status_code == 302
        run_worker()
        said = [browser.get("/register/confirm").text]
        del providers.gateway.errors_for[to]
        for refused in (False, True):
            if refused:
                providers.gateway.errors_for[to] = (400, 21614, "not a mobile number")
            token = page_token(browser, "/register/confirm")
            browser.post(
                "/register/confirm",
                data={"csrf_token": token, "channel": "sms", "action": "resend"},
            )
            run_worker()
            said.append(browser.get("/register/confirm").text)
        return [
            "refused" if "the phone network says it is not a mobile" in page else "sent"
            for page in said
        ]

    held, free = journey("07700 900651"), journey("07700 900652")
    assert held == free == ["refused", "sent", "refused"], (held, free)


def test_links_to_a_page_refused_are_not_said_on_a_sign_up_held_or_free(
    app, client, providers, make_resident, run_worker
):
    """Found by a review: three links to a registered number's page asked for, each
    refused by the network (the number no longer in use), spent its hour; a sign-up of
    it then sent nothing, as of a free number so asked for, but its page said "We
    could not text this number: not in use", the free one's nothing: a registered
    number told apart. Only what a sign-up sends is read."""
    make_resident(postcode="BS1 6AD", sms="+447700900655", email=None)
    for number in ("07700 900655", "07700 900656"):
        providers.gateway.errors_for["+44" + number.replace(" ", "")[1:]] = (
            400,
            21211,
            "not a valid phone number",
        )
        for _ in range(3):
            client.post("/manage", data={"csrf_token": csrf_token(client), "address": number})
    run_worker()

    def journey(number: str) -> str:
        browser = app.test_client()
        assert register(browser, sms_phone=number, channels=["sms"]).status_code == 302
        run_worker()
        page = browser.get("/register/confirm").text
        page = re.sub(r'name="csrf_token" value="[^"]+"', "", page[page.index("<main") :])
        return page.replace(number, "NUMBER").replace(number.replace(" ", ""), "NUMBER")

    held, free = journey("07700 900655"), journey("07700 900656")
    assert held == free
    assert "We could not" not in held


def test_asking_for_links_spends_a_numbers_hour_alike_held_or_free(
    app, client, make_resident, run_worker
):
    """Found by a review: three requests for a link to one's page spent a registered
    number's hour of messages only (a free one's had nothing sent), so a sign-up of it
    then had a code for a free number and none for a registered one. Asking spends
    it alike; a held one gets its links."""
    make_resident(postcode="BS1 6AD", sms="+447700900635", email=None)
    for number in ("07700 900635", "07700 900636"):
        for _ in range(3):
            client.post("/manage", data={"csrf_token": csrf_token(client), "address": number})
    sent = notices_sent(run_worker)
    assert [m.recipient for m in sent] == ["+447700900635"] * 3  # the held one's links

    def journey(number: str) -> tuple[str, str]:
        browser = app.test_client()
        assert register(browser, sms_phone=number, channels=["sms"]).status_code == 302
        return guess_and_resend(browser)

    held, free = journey("07700 900635"), journey("07700 900636")
    assert held == free, (held, free)
    assert len(notices_sent(run_worker)) == 3  # no code, no notice: the hour is spent


def test_a_number_signed_up_again_from_the_same_browser_can_be_confirmed(
    app, make_resident, run_worker
):
    """Found by an outside check: the same number signed up for calls after texts, or
    corrected after a sign-up of another number, from the same browser, was held by
    the browser's own first sign-up (its code still good): its owner was told "it is
    waiting to be confirmed with the code we sent", and on the page of the new
    sign-up that code was refused. This browser's own sign-ups let it go: a new code,
    which confirms; alike held or free."""
    make_resident(postcode="BS1 6AD", sms="+447700900645", voice="+447700900645", email=None)

    def journey(number: str, other: str) -> tuple:
        browser = app.test_client()
        e164 = "+44" + number[1:].replace(" ", "")
        seen, said, ids = [], [], set()
        for then in (
            {"postcode": "TA1 1AA", "sms_phone": number, "channels": ["sms"]},
            {"sms_phone": None, "voice_phone": number, "channels": ["voice"]},
            {"postcode": "TA1 1AA", "sms_phone": other, "channels": ["sms"]},
            {"sms_phone": number, "channels": ["sms"]},  # at BS1 6AD now
        ):
            register(browser, **then)
            # Each sent as it is asked for (a sign-up let go goes with what it was sent).
            sent = [m for m in notices_sent(run_worker) if m.recipient == e164]
            said.append(sent[-1].channel if sent and sent[-1].id not in ids else None)
            ids.update(m.id for m in sent)
            if then.get("postcode") != "TA1 1AA":
                seen.append(confirm_page(browser))
        seen.append(said)
        return seen, sent, browser

    held, _, _ = journey("07700 900645", "07700 900647")
    free, sent, browser = journey("07700 900646", "07700 900648")
    assert held == free, (held, free)
    assert held[0][1] == ["Phone call"] and held[1][1] == ["Text message"]
    assert held[2] == ["sms", "voice", None, "sms"]
    token = page_token(browser, "/register/confirm")
    confirmed = browser.post(
        "/register/confirm",
        data={"csrf_token": token, "channel": "sms", "code": code_in(sent[-1])},
        follow_redirects=True,
    )
    assert "Text message confirmed" in confirmed.text


def test_a_number_this_browsers_first_sign_up_holds_can_be_added_by_its_second(app, run_worker):
    """Found by a review: signed up by text, then again by e-mail alone, the e-mail
    confirmed and the mobile added on "Your alerts": the browser's own first sign-up
    still held the number, which was sent "it is waiting to be confirmed", and its only
    code was refused. This browser's sign-ups give it up here too: a new code, which
    confirms."""
    number, e164 = "07700 900781", "+447700900781"
    browser = app.test_client()
    register(browser, channels=["sms"], sms_phone=number, email=None)
    register(browser, channels=["email"], sms_phone=None, email="pat@example.invalid")
    mail = [m for m in notices_sent(run_worker) if m.recipient == "pat@example.invalid"][-1]
    path = link_in(mail)
    assert browser.post(path, data={"csrf_token": page_token(browser, path)}).status_code == 302
    token = page_token(browser, "/my-alerts")
    browser.post(
        "/my-alerts/channels", data={"csrf_token": token, "channel": "sms", "address": number}
    )
    newest = [m for m in notices_sent(run_worker) if m.recipient == e164][-1]
    token = page_token(browser, "/register/confirm")
    confirmed = browser.post(
        "/register/confirm", data={"csrf_token": token, "channel": "sms", "code": code_in(newest)}
    )
    assert confirmed.status_code == 302, newest.body


def test_a_sign_ups_sends_in_an_hour_are_limited_alike_held_or_free(app, make_resident, run_worker):
    """Found by a review: a sign-up of a text number with a voice number and an e-mail
    address of someone else's: its ninth send in an hour was refused when the text
    number was free (a stored sign-up's SENDS_PER_RESIDENT_PER_HOUR), and went when it
    was registered (a sign-up that stored nothing had no such limit)."""
    make_resident(postcode="BS1 6AD", sms="+447700900595", email=None)  # held: tested
    for n in (7, 8):  # the prober's own, one for each journey (each has its allowance)
        make_resident(sms=None, voice=f"+44770090059{n}", email=f"own{n}@example.invalid")

    def answers(number: str, own: int) -> list[str]:
        browser = app.test_client()
        both = {"channels": ["sms", "voice", "email"], "voice_phone": f"07700 90059{own}"}
        register(browser, sms_phone=number, email=f"own{own}@example.invalid", **both)
        said = []
        for channel in ("sms", "voice", "email") * 2:
            token = page_token(browser, "/register/confirm")
            resent = browser.post(
                "/register/confirm",
                data={"csrf_token": token, "channel": channel, "action": "resend"},
                follow_redirects=True,
            )
            flash = re.search(r'class="flash[^"]*"[^>]*>(.*?)</', resent.text, re.S).group(1)
            said.append(" ".join(html.unescape(flash).split()))
        return said

    held, free = answers("07700 900595", 7), answers("07700 900596", 8)
    assert held == free, (held, free)
    refused = "We have sent that address as many links as we can for now. Try again later."
    assert held[-1] == refused and refused not in held[:-1], held  # the e-mail's, said so


def test_an_earlier_code_typed_after_a_new_one_was_sent_is_told_the_newest_works(
    app, make_resident, run_worker
):
    """Found by an outside check: after "Send a new code", the code of the first text,
    perhaps the first to arrive, was refused as any wrong code. The refusal says only
    the newest works; said alike of a held and a free number, not of a sign-up sent
    once or corrected (its codes still work), and not after a new sign-up."""
    make_resident(postcode="BS1 6AD", sms="+447700900555", email=None)
    newest = "We sent you more than one code: only the newest works."

    def refusal(browser, code: str) -> str:
        token = page_token(browser, "/register/confirm")
        answer = browser.post(
            "/register/confirm", data={"csrf_token": token, "channel": "sms", "code": code}
        )
        assert answer.status_code == 400
        return " ".join(html.unescape(answer.text).split())

    def resend(browser) -> None:
        token = page_token(browser, "/register/confirm")
        browser.post(
            "/register/confirm", data={"csrf_token": token, "channel": "sms", "action": "resend"}
        )

    said = {}
    for number in ("07700 900555", "07700 900556"):  # held, free
        browser = app.test_client()
        register(browser, postcode="TA1 1AA", sms_phone=number, channels=["sms"])
        once = newest in refusal(browser, "111111")
        register(browser, sms_phone=number, channels=["sms"])  # BS1 6AD: corrected
        corrected = newest in refusal(browser, "111111")
        resend(browser)
        said[number] = (once, corrected, newest in refusal(browser, "111111"))
    assert said == {"07700 900555": (False, False, True), "07700 900556": (False, False, True)}

    # The first code itself, typed after a new one was sent.
    browser = app.test_client()
    register(browser, sms_phone="07700 900557", channels=["sms"])
    (first,) = [m for m in notices_sent(run_worker) if m.recipient == "+447700900557"]
    resend(browser)
    assert newest in refusal(browser, code_in(first))
    # A new sign-up in the same browser starts again.
    register(browser, sms_phone="07700 900558", channels=["sms"])
    assert newest not in refusal(browser, "111111")


def signed_up_beside_a_holder_being_changed(
    app, client, run_worker, number: str, *, let_go_after: float | None = None
) -> tuple[int, list[int]]:
    """`number` signed up and never confirmed, its code expired; signed up again while
    another change holds the first one's row, for `let_go_after` seconds (None: till
    the sign-up is done, which must not wait for it). (The first's id, the ids of the
    residents who hold the number after.)"""
    from concurrent.futures import ThreadPoolExecutor

    typed = f"07700 {number[-6:]}"
    assert register(client, channels=["sms"], sms_phone=typed).status_code == 302
    notices_sent(run_worker)
    db.session.execute(
        text("UPDATE resident_channels SET verify_expires_at = now() - interval '1 minute'")
    )
    db.session.commit()
    (holder,) = db.session.scalars(select(Resident.id)).all()
    held = db.engine.connect()  # its "Send a new code", a text from it, under way
    held.execute(text("SELECT 1 FROM residents WHERE id = :id FOR UPDATE"), {"id": holder})
    with ThreadPoolExecutor(1) as pool:
        try:
            signing_up = pool.submit(register, app.test_client(), channels=["sms"], sms_phone=typed)
            if let_go_after is not None:
                time.sleep(let_go_after)
            else:
                for _ in range(100):
                    if signing_up.done():
                        break
                    time.sleep(0.05)
                assert signing_up.done(), "the sign-up waited for the holder's row"
        finally:
            held.commit()  # whatever happened: what waits on it ends
            held.close()
        assert signing_up.result().status_code == 302
    db.session.rollback()
    kept = db.session.scalars(
        select(ResidentChannel.resident_id).where(ResidentChannel.address == number)
    ).all()
    return holder, kept


def test_a_sign_up_waits_for_no_row_of_an_unconfirmed_holder_being_changed(app, client, run_worker):
    """Found by a review: "Send a new code" for a number never confirmed (the
    resident's row, then the number's lock) while another sign-up, or another resident,
    took the same number (the number's lock, then the holder's row, to free it): a
    deadlock; and two residents each typing the other's. A holder whose row is being
    changed for longer than a moment keeps the number, as if its change came first (a
    new code makes its proof good again), and the new sign-up goes on."""
    holder, kept = signed_up_beside_a_holder_being_changed(app, client, run_worker, "+447700900124")
    assert holder in kept  # the one being changed kept it


def test_a_sign_up_waits_a_moment_for_a_holder_being_changed_and_takes_its_number(
    app, client, run_worker
):
    """Found by a review: a holder whose code had expired kept the number while any
    change held its row (a text from the number, the sweeper) at the moment its owner
    signed up, and the owner was sent "it is waiting to be confirmed", not a code. The
    holder's row is waited for a moment, and the owner takes the number."""
    number = "+447700900125"
    holder, kept = signed_up_beside_a_holder_being_changed(
        app, client, run_worker, number, let_go_after=0.3
    )
    assert kept and holder not in kept
    (told,) = [m for m in notices_sent(run_worker) if m.recipient == number]
    assert "is your code" in told.body, told.body


def test_a_sign_up_never_confirmed_whose_code_expired_gives_its_number_to_a_new_one(
    app, client, run_worker
):
    """Found by an outside probe: someone who lost the page with their code and signed
    up again was told their number "already gets them", and could never finish. Once
    the first sign-up's code has expired it can prove nothing: the new sign-up takes the
    number and gets a real code. A sign-up left with no way to reach it is removed."""
    assert register(client).status_code == 302  # Sam: 07700 900123 and an e-mail
    kim = app.test_client()
    assert register(kim, channels=["sms"], sms_phone="07700 900124").status_code == 302
    notices_sent(run_worker)
    db.session.execute(
        text("UPDATE resident_channels SET verify_expires_at = now() - interval '1 minute'")
    )
    db.session.commit()

    again = app.test_client()  # the pages are lost: a new browser, both numbers
    both = {"channels": ["sms", "voice"], "voice_phone": "07700 900124"}
    assert register(again, **both).status_code == 302
    told = {m.recipient: m for m in notices_sent(run_worker)[-2:]}
    assert set(told) == {"+447700900123", "+447700900124"}
    assert not any("already gets them" in m.body for m in told.values())
    token = page_token(again, "/register/confirm")
    confirmed = again.post(
        "/register/confirm",
        data={"csrf_token": token, "channel": "sms", "code": code_in(told["+447700900123"])},
        follow_redirects=True,
    )
    assert "Text message confirmed" in confirmed.text
    db.session.rollback()
    holders = db.session.scalars(
        select(ResidentChannel.resident_id).where(
            ResidentChannel.address.in_(["+447700900123", "+447700900124"])
        )
    ).all()
    assert len(holders) == 2 and len(set(holders)) == 1
    # Sam's sign-up, its e-mail link still good, keeps the e-mail; Kim's, left with
    # nothing, is gone, and the weekly figures count it as expired.
    left = db.session.scalars(select(Resident).where(Resident.id != holders[0])).all()
    assert [[c.channel for c in r.channels] for r in left] == [["email"]]
    events = "SELECT count(*) FROM resident_events WHERE kind = 'expired'"
    assert db.session.scalar(text(events)) == 1
    audited = "SELECT count(*) FROM audit_events WHERE action = 'resident.unconfirmed_released'"
    assert db.session.scalar(text(audited)) == 2
    # Kim's lost page, opened again, answers clearly rather than with an error.
    lost = kim.get("/register/confirm", follow_redirects=True)
    assert lost.status_code == 200 and "Your page has closed" in lost.text


def test_an_e_mail_signed_up_again_elsewhere_is_told_its_place_and_sent_a_link(
    app, client, run_worker
):
    """Found by an outside check: signed up for BS8 1AD by mistake, a resident signed up
    again on a laptop with BS1 6AD; nothing was kept of it, and "Send the link again"
    sent an e-mail with no link, saying to open the first, which confirmed BS8 1AD.
    The mailbox, the only one to read it, is told the place and sent a link."""
    first = {"postcode": "BS8 1AD", "channels": ["email"], "sms_phone": None}
    assert register(client, **first).status_code == 302
    notices_sent(run_worker)
    laptop = app.test_client()
    assert register(laptop, **(first | {"postcode": "BS1 6AD"})).status_code == 302
    told = [m for m in notices_sent(run_worker) if m.recipient == "sam@example.invalid"][-1]
    assert "for alerts around BS8 1AD, and waiting to be confirmed" in told.body
    assert "If BS8 1AD is not the place you meant" in told.body
    path = link_in(told)
    laptop.post(path, data={"csrf_token": page_token(laptop, path)})
    db.session.rollback()
    (resident,) = db.session.scalars(select(Resident)).all()
    assert resident.confirmed_at is not None
    assert [loc.postcode for loc in resident.locations] == ["BS81AD"]


def test_a_number_someone_confirmed_by_e_mail_typed_and_never_proved_is_not_theirs(
    app, client, run_worker
):
    """Found by an outside check: someone signed up with their own e-mail and a
    stranger's mobile, confirmed the e-mail only, and kept the mobile for good: its
    owner's texts to the force went into that someone's download of their data, the
    owner could never sign up with it (told to wait 10 minutes, again and again), and
    no purge took it away. A typo of one digit does the same."""
    from app.services.replies import receive_text

    assert register(client).status_code == 302  # e-mail, and 07700 900123: not theirs
    notices_sent(run_worker)
    db.session.execute(text("UPDATE residents SET confirmed_at = now()"))
    db.session.execute(
        text(
            "UPDATE resident_channels SET verified_at = now() WHERE channel = 'email';"
            "UPDATE resident_channels SET verify_expires_at = now() - interval '1 minute'"
            " WHERE channel = 'sms'"
        )
    )
    db.session.commit()
    typist = db.session.scalar(select(Resident.id))
    # The number's owner texts the force: nobody's message but the owner's.
    assert receive_text("+447700900123", "Who is this? I never signed up", "SM" + "9" * 32) == (
        "message"
    )
    assert db.session.scalar(text("SELECT resident_id FROM replies")) is None
    # The owner signs up with it, and gets a real code; the typist keeps the e-mail.
    owner = app.test_client()
    mine = {"channels": ["sms"], "sms_phone": "07700 900123", "email": None}
    assert register(owner, **mine).status_code == 302
    to_owner = [m for m in notices_sent(run_worker) if m.recipient == "+447700900123"]
    # (A resident's notices go to the front of the queue, each: the latest first.)
    (told,) = [m for m in to_owner if re.search(r"\b\d{6}\b", m.body)][-1:]
    assert all("waiting to be confirmed" not in m.body for m in to_owner)
    assert all("already gets them" not in m.body for m in to_owner)
    token = page_token(owner, "/register/confirm")
    confirmed = owner.post(
        "/register/confirm",
        data={"csrf_token": token, "channel": "sms", "code": code_in(told)},
        follow_redirects=True,
    )
    assert "Text message confirmed" in confirmed.text
    db.session.rollback()
    kept = db.session.get(Resident, typist)
    assert [c.channel for c in kept.channels] == ["email"] and kept.confirmed_at is not None
    released = db.session.scalar(
        text("SELECT details FROM audit_events WHERE action = 'resident.unconfirmed_released'")
    )
    assert released == {"removed": False}


def test_a_number_added_and_never_proved_goes_a_while_after_its_code(app, make_resident):
    """Nobody signing up with it, the stranger's number stayed on the record for good:
    it goes UNVERIFIED_DAYS after its last code, the resident and what they proved stay."""
    resident = make_resident(sms="+447700900777", email="kept@example.invalid")
    db.session.execute(
        text(
            "UPDATE resident_channels SET verified_at = NULL, verify_expires_at = now() - "
            "make_interval(days => :days) WHERE channel = 'sms'"
        ),
        {"days": app.config["UNVERIFIED_DAYS"] - 1},
    )
    db.session.commit()
    assert purge_expired()["unproven_numbers_removed"] == 0  # its code is recent enough
    db.session.execute(
        text(
            "UPDATE resident_channels SET verify_expires_at = now() - "
            "make_interval(days => :days) WHERE channel = 'sms'"
        ),
        {"days": app.config["UNVERIFIED_DAYS"] + 1},
    )
    db.session.commit()
    assert purge_expired()["unproven_numbers_removed"] == 1
    db.session.rollback()
    assert [c.channel for c in db.session.get(Resident, resident.id).channels] == ["email"]


def test_two_residents_adding_one_number_at_once_get_one_code_between_them(
    app, client, make_resident, run_worker
):
    """Each alone would find the number free and text it a real code, and both could
    then hold it: the second waits for the first (lock_address; writing the number
    also takes its bucket's lock, migration 0031), finds it taken, and its code is one
    nobody receives, as for any number someone else has."""
    from concurrent.futures import ThreadPoolExecutor

    make_resident(sms="+447700900001", name="Sam")
    make_resident(sms="+447700900002", name="Kim")
    browsers = (
        opened_page(client, "+447700900001", run_worker),
        opened_page(app.test_client(), "+447700900002", run_worker),
    )
    # Both are held where they wait (the notices are locked, so one that found the
    # number free waits to write its code) and let go together.
    held = db.engine.connect()
    held.execute(text("LOCK TABLE resident_notices IN EXCLUSIVE MODE"))
    try:
        with ThreadPoolExecutor(2) as pool:
            added = pool.map(
                lambda browser: browser.post(
                    "/my-alerts/channels", data={"channel": "voice", "address": "07700 900555"}
                ),
                browsers,
            )
            for _ in range(100):
                if waiting_for_a_lock() == 2:
                    break
                time.sleep(0.05)
            held.commit()
            assert [answer.status_code for answer in added] == [302, 302]
    finally:
        held.close()
    told = [m for m in notices_sent(run_worker) if m.recipient == "+447700900555"]
    assert len(told) == 2
    # The other is told the number waits for its code: nobody has confirmed it yet.
    assert sum("It is waiting to be confirmed" in m.body for m in told) == 1
    assert not any("already gets them" in m.body for m in told)
    # Both wait for a code, but only one of them can have been sent it.
    waiting = db.session.scalars(
        select(ResidentChannel.resident_id).where(ResidentChannel.address == "+447700900555")
    ).all()
    assert len(waiting) == 2


def waiting_for_a_lock() -> int:
    """How many sessions wait for a lock now (a new connection: within a transaction,
    PostgreSQL shows the activity as it was when the transaction first looked)."""
    with db.engine.connect() as conn:
        return conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )


def at_once(app, client, resident_id: int, requests: list[tuple[str, dict]]) -> list:
    """The answers to `requests` (path, form) sent from tabs of one browser all at the
    same moment: each waits on the resident's row, held here, until all are waiting."""
    from concurrent.futures import ThreadPoolExecutor

    def tab():
        twin = app.test_client()
        twin.set_cookie("session", client.get_cookie("session").value)
        twin.environ_base["HTTP_X_CSRFTOKEN"] = client.environ_base["HTTP_X_CSRFTOKEN"]
        return twin

    tabs = [tab() for _ in requests]
    held = db.engine.connect()
    held.execute(text("SELECT 1 FROM residents WHERE id = :id FOR UPDATE"), {"id": resident_id})
    try:
        with ThreadPoolExecutor(len(requests)) as pool:
            answers = pool.map(
                lambda sent: sent[0].post(sent[1][0], data=sent[1][1]),
                zip(tabs, requests, strict=True),
            )
            for _ in range(100):
                if waiting_for_a_lock() == len(requests):
                    break
                time.sleep(0.05)
            held.commit()
            return list(answers)
    finally:
        held.close()


def test_a_residents_changes_sent_at_once_are_made_one_after_another(
    app, client, make_resident, run_worker
):
    """Two taps on one button, or two tabs: each change waits for the one before and
    sees what it did (services/residents.changes_resident). Before, a group chosen
    twice at once failed with a 500, two ways removed at once left none, a place added
    twice at once was added twice, and two places removed at once deadlocked. Found by
    an outside probe."""
    resident = make_resident(
        postcode="BS1 6AD",
        also=("BS2 0JA", "BS8 1TH"),
        sms="+447700900001",
        email="sam@example.invalid",
        groups=("neighbourhood-watch",),
    )
    db.session.add(InterestGroup(slug="farm-watch", name="Farm Watch"))
    db.session.commit()
    resident_id = resident.id
    opened_page(client, "+447700900001", run_worker)
    home, *others = sorted(resident.locations, key=lambda place: place.id)

    def held():
        db.session.expire_all()
        return db.session.get(Resident, resident_id)

    answers = at_once(
        app, client, resident_id, [("/my-alerts/groups", {"groups": "farm-watch"})] * 2
    )
    assert all(answer.status_code == 302 for answer in answers)
    assert {group.slug for group in held().groups} == {"farm-watch"}

    answers = at_once(
        app,
        client,
        resident_id,
        [("/my-alerts/channels/sms/remove", {}), ("/my-alerts/channels/email/remove", {})],
    )
    assert all(answer.status_code < 500 for answer in answers)
    assert len(held().channels) == 1

    answers = at_once(
        app,
        client,
        resident_id,
        [(f"/my-alerts/places/{place.id}/remove", {}) for place in others],
    )
    assert all(answer.status_code < 500 for answer in answers)
    assert [place.id for place in held().locations] == [home.id]

    answers = at_once(
        app,
        client,
        resident_id,
        [("/my-alerts/places", {"postcode": "BS2 0JA", "label": "Shop"})] * 3,
    )
    assert all(answer.status_code < 500 for answer in answers)
    assert sorted(place.postcode for place in held().locations) == ["BS16AD", "BS20JA"]


def behind_a_delete(app, client, resident_id: int, changes: list):
    """The delete of the resident's details, and `changes` (path, form, perhaps
    headers) sent from tabs of one browser, or a worker's (a function): the delete
    takes the resident's row first (held here until it waits), the changes then wait
    behind it. Returns the delete's answer and the changes'."""
    from concurrent.futures import ThreadPoolExecutor

    def tab():
        twin = app.test_client()
        twin.set_cookie("session", client.get_cookie("session").value)
        twin.environ_base["HTTP_X_CSRFTOKEN"] = client.environ_base["HTTP_X_CSRFTOKEN"]
        return twin

    def waiting(count: int) -> None:
        for _ in range(200):
            if waiting_for_a_lock() == count:
                return
            time.sleep(0.05)
        raise AssertionError(f"{count} requests never waited")

    held = db.engine.connect()
    held.execute(text("SELECT 1 FROM residents WHERE id = :id FOR UPDATE"), {"id": resident_id})
    with ThreadPoolExecutor(len(changes) + 1) as pool:
        try:
            deleting = pool.submit(tab().post, "/my-alerts/delete", data={"confirm": "yes"})
            waiting(1)  # the delete first, then the changes behind it
            answers = [
                pool.submit(change)  # (a worker's, in an app context of its own)
                if callable(change)
                else pool.submit(
                    tab().post, *change[:1], data=change[1], headers=(*change, None)[2]
                )
                for change in changes
            ]
            waiting(len(changes) + 1)
        finally:
            held.commit()  # whatever happened: what waits on it ends, and the pool with it
            held.close()
        return deleting.result(), [answer.result() for answer in answers]


def twilio_signed(app, monkeypatch, path: str, form: dict) -> tuple:
    """A change for behind_a_delete: `form` posted to `path` as Twilio signs it."""
    from twilio.request_validator import RequestValidator

    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", "test-auth-token")
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://alerts.example.invalid")
    signature = RequestValidator("test-auth-token").compute_signature(
        "https://alerts.example.invalid" + path, form
    )
    return (path, form, {"X-Twilio-Signature": signature})


def deleted_for_good(deleted, resident_id: int) -> None:
    """The delete ended on the page that says so, and nothing of theirs is left."""
    assert deleted.status_code == 302 and deleted.headers["Location"].endswith("/deleted")
    db.session.expire_all()
    assert db.session.get(Resident, resident_id) is None
    assert db.session.scalar(select(func.count()).select_from(ResidentChannel)) == 0


def test_a_change_waiting_as_the_details_are_deleted_ends_on_the_deleted_page(
    app, client, make_resident, run_worker
):
    """Found by an outside check: "Delete my details" and a change sent at the same
    moment (a second tab, a slow save): the change, waiting for the delete, was then
    answered 500 (shown as a refusal by its field, read from the deleted record). It
    ends where the delete does, on the page that says the details were deleted."""
    resident = make_resident(postcode="BS1 6AD", sms="+447700900001", groups=())
    resident_id = resident.id
    opened_page(client, "+447700900001", run_worker)
    changes = [
        ("/my-alerts/pause", {}),
        ("/my-alerts/places", {"postcode": "BS2 0JA", "label": "Shop"}),
        ("/my-alerts/channels", {"channel": "email", "address": "new@example.invalid"}),
        ("/my-alerts/quiet-hours", {"quiet": "yes", "quiet_from": "22:00", "quiet_until": "07:00"}),
        ("/my-alerts", {"language": "cy"}),
    ]
    deleted, answers = behind_a_delete(app, client, resident_id, changes)
    assert deleted.status_code == 302
    for (path, _form), answer in zip(changes, answers, strict=True):
        assert answer.status_code == 302, (path, answer.status_code)
        assert answer.headers["Location"].endswith("/my-alerts/deleted"), path
    db.session.expire_all()
    assert db.session.get(Resident, resident_id) is None
    assert db.session.scalar(select(func.count()).select_from(ResidentChannel)) == 0


@pytest.mark.parametrize(
    "change",
    [
        ("/register/confirm", {"channel": "email", "action": "resend"}),
        ("/register/confirm", {"channel": "voice", "code": "123456"}),
    ],
    ids=["a new link", "a code typed"],
)
def test_a_code_or_link_asked_for_as_the_details_are_deleted_ends_on_the_deleted_page(
    app, client, make_resident, run_worker, change
):
    """Found by a review: "Send the link again" (or a code typed) waiting for "Delete
    my details" took the way's row first and the resident's after, the delete the other
    way round: PostgreSQL ended one of them as a deadlock, answered 503, and at times
    it was the delete, the details kept. Each takes the resident's row first."""
    resident = make_resident(postcode="BS1 6AD", sms="+447700900001", groups=())
    resident_id = resident.id
    opened_page(client, "+447700900001", run_worker)
    for channel, address in (("email", "new@example.invalid"), ("voice", "01174960123")):
        added = client.post("/my-alerts/channels", data={"channel": channel, "address": address})
        assert added.status_code == 302, added.text
    notices_sent(run_worker)
    deleted, (answer,) = behind_a_delete(app, client, resident_id, [change])
    deleted_for_good(deleted, resident_id)
    assert answer.status_code == 302, answer.status_code
    assert answer.headers["Location"].endswith("/my-alerts/deleted")


@pytest.mark.parametrize("stop", ["the unsubscribe link", "a STOP text"])
def test_a_stop_as_the_details_are_deleted_waits_for_the_delete(
    app, client, make_resident, run_worker, monkeypatch, stop
):
    """Found by a review: an e-mail's unsubscribe link, or a STOP texted, as "Delete my
    details" went: the stop took the way's row first and the resident's deliveries
    after, the delete the other way round: PostgreSQL ended one as a deadlock (a 503,
    to Twilio too). Each takes the resident's row first."""
    from app.services.dispatch import unsubscribe_token

    resident = make_resident(postcode="BS1 6AD", sms="+447700900001", email="s@example.invalid")
    resident_id = resident.id
    opened_page(client, "+447700900001", run_worker)
    if stop == "a STOP text":
        form = {"From": "+447700900001", "Body": "STOP", "MessageSid": "SM" + "c" * 32}
        change = twilio_signed(app, monkeypatch, "/callbacks/twilio/inbound-sms", form)
    else:
        change = (
            f"/unsubscribe/{unsubscribe_token(resident_id, 'email', 's@example.invalid')}",
            {},
        )
    deleted, (answer,) = behind_a_delete(app, client, resident_id, [change])
    deleted_for_good(deleted, resident_id)
    assert answer.status_code < 500, answer.status_code


@pytest.mark.parametrize("text", ["START", "Is the road open now?"])
def test_a_text_as_the_details_are_deleted_waits_for_the_delete(
    app, client, make_resident, run_worker, monkeypatch, text
):
    """Found by outside checks: START texted as "Delete my details" went (6 times in
    6): it took the number's messages' rows first and the resident's after, the delete
    the other way round, and PostgreSQL ended it as a deadlock: a 503 to Twilio, which
    does not send an inbound text again. And a message texted then was filed under the
    resident as they were read before the delete was done: refused (409), and lost (6
    times in 8). Each takes the number's holders' rows first."""
    from app.models import Reply

    resident = make_resident(postcode="BS1 6AD", sms="+447700900001")
    resident_id = resident.id
    opened_page(client, "+447700900001", run_worker)

    def texted(body: str, n: int):
        form = {"From": "+447700900001", "Body": body, "MessageSid": f"SM{n:032d}"}
        return twilio_signed(app, monkeypatch, "/callbacks/twilio/inbound-sms", form)

    for n, body in enumerate(["Is the road open?", "STOP"]):
        path, form, headers = texted(body, n)
        assert client.post(path, data=form, headers=headers).status_code == 200
    db.session.rollback()
    (message,) = db.session.scalars(select(Reply)).all()
    assert message.resident_id == resident_id and message.number_stopped_at is not None
    deleted, (answer,) = behind_a_delete(app, client, resident_id, [texted(text, 2)])
    deleted_for_good(deleted, resident_id)
    assert answer.status_code == 200, answer.status_code
    if text != "START":  # kept, from a number nobody holds now
        db.session.rollback()
        assert db.session.scalars(select(Reply.body).where(Reply.resident_id.is_(None))).all() == [
            text
        ]


def test_a_providers_opt_out_as_the_details_are_deleted_waits_for_the_delete(
    app, client, make_resident, run_worker, monkeypatch
):
    """Found by a review: Twilio's word that the number opted out (21610) for a text to
    a resident, as "Delete my details" went: the callback moved the message's row
    first and took the resident's after, to stop the number, the delete the other way
    round, and PostgreSQL ended the delete as a deadlock (the details kept). The
    callback takes the number's holders' rows first."""
    resident = make_resident(postcode="BS1 6AD", sms="+447700900001")
    resident_id = resident.id
    opened_page(client, "+447700900001", run_worker)
    notice = db.session.scalars(
        select(ResidentNotice).where(ResidentNotice.resident_id == resident_id)
    ).all()[-1]
    assert notice.provider_ref and notice.address == "+447700900001"
    path = f"/callbacks/twilio/status/notice/{notice.id}"
    form = {"MessageSid": notice.provider_ref, "MessageStatus": "failed", "ErrorCode": "21610"}
    change = twilio_signed(app, monkeypatch, path, form)
    deleted, (answer,) = behind_a_delete(app, client, resident_id, [change])
    deleted_for_good(deleted, resident_id)
    assert answer.status_code < 500, answer.status_code


def test_a_text_refused_as_opted_out_as_the_details_are_deleted_waits_for_the_delete(
    app, client, make_resident, make_officer, run_worker
):
    """Found by a review, as for the callback above: a worker recording Twilio's 21610
    at the request (the number opted out) as "Delete my details" went moved the text's
    row first and took the resident's after. It takes the holders' rows first."""
    from app.channels.base import TransportError
    from app.services.dispatch import Outcome, claim, record

    resident = make_resident(postcode="BS1 6AD", sms="+447700900001")
    resident_id = resident.id
    opened_page(client, "+447700900001", run_worker)
    submit_alert(make_officer(), shapes=AROUND_BS1, title="T", body="B")
    (claimed,) = claim(list(db.session.scalars(select(Delivery.id))))
    refused = TransportError("Twilio 21610: opted out", permanent=True, opted_out=True)

    def recorded():
        with app.app_context():
            return record([Outcome(claimed, error=refused)])

    deleted, (counts,) = behind_a_delete(app, client, resident_id, [recorded])
    deleted_for_good(deleted, resident_id)
    assert counts["failed"] == 1


def test_signing_up_a_registered_number_again_looks_the_same_and_tells_its_owner(
    client, app_ctx, make_resident, run_worker
):
    make_resident(sms="+447700900123", email=None)
    again = register(client, channels=["sms"])
    # The same reply as a new sign-up: the form does not tell who is registered...
    assert again.status_code == 302 and again.headers["Location"].endswith("/register/confirm")
    page = client.get("/register/confirm").text
    assert "Check your messages" in page and "The 6-digit code we texted you" in page
    # What the page says is true either way, and does not say which it is.
    assert "If this number can get alerts, we have sent it a message." in page
    assert "signed up" not in page
    # Its headings in order: each way to confirm under the page's h1 (an h3 was: axe).
    assert '<h2 id="confirm-sms">' in page and "<h3" not in page
    token = page_token(client, "/register/confirm")
    guess = client.post(
        "/register/confirm", data={"csrf_token": token, "channel": "sms", "code": "123456"}
    )
    assert "That code is not right" in guess.text
    # An empty or short code is answered as for a new number (no try used): it used a
    # try here, and "That code is not right" told that the number was registered.
    for not_a_code in ("", "12345"):
        empty = client.post(
            "/register/confirm",
            data={"csrf_token": token, "channel": "sms", "code": not_a_code},
        )
        assert "Enter the 6-digit code" in empty.text and "not right" not in empty.text
    again = client.post(
        "/register/confirm", data={"csrf_token": token, "channel": "sms", "code": "654321"}
    )
    assert "You have 3 more tries." in again.text  # the two above cost none
    assert "Confirm how we reach you first" in client.get("/my-alerts").text
    # ...nobody new is stored, and the number's owner hears what happened.
    assert db.session.scalar(select(func.count()).select_from(Resident)) == 1
    (notice,) = notices_sent(run_worker)
    assert notice.recipient == "+447700900123" and "It already gets them" in notice.body
    # Nor does the session cookie tell, which anyone holding it can read (signed, not
    # sealed): it said "unregistered", with the number (found by an outside probe).
    app = client.application
    newcomer = app.test_client()
    register(newcomer, channels=["sms"], sms_phone="07700 900999")
    newcomer.get("/register/confirm")  # as the other has seen it

    def cookie(browser) -> dict:
        serializer = app.session_interface.get_signing_serializer(app)
        return serializer.loads(browser.get_cookie("session").value)

    theirs, ours = cookie(client), cookie(newcomer)
    assert set(theirs) == set(ours) and "unregistered" not in theirs
    assert "7700900123" not in json.dumps(theirs)
    # Nor does Redis, where its state is kept for a day: sealed (a dump read the
    # registered number in clear, after its resident deleted their details too).
    from app.extensions import redis_store

    (key,) = redis_store.client.scan_iter("unregistered:*")
    assert b"7700900123" not in redis_store.client.get(key)
    assert client.get_cookie("lang") is not None and newcomer.get_cookie("lang") is not None


@pytest.mark.parametrize("channels", [["sms"], ["email"], ["sms", "voice", "email"]])
def test_the_confirm_page_of_a_registered_number_is_a_new_ones_in_every_force(
    app, app_ctx, make_resident, second_force, monkeypatch, channels
):
    """A registered number's confirm page was the first force's, where a new one's was
    its force's, and said "reply START to one of them" where a new one's named our
    number; with several ways, it listed them in another order: each told an onlooker
    who was registered (outside checks)."""
    monkeypatch.setitem(app.config, "TWILIO_FROM_NUMBER", "+447700900999")
    held = {"sms": "+447700900123", "voice": "+441174960123", "email": "held@example.invalid"}
    fresh = {"sms": "+447700900456", "voice": "+441174960456", "email": "newb@example.invalid"}
    make_resident(
        postcode="BA14 6AA",
        sms=held["sms"] if "sms" in channels else None,
        voice=held["voice"] if "voice" in channels else None,
        email=held["email"] if "email" in channels else None,
    )
    fields = {"sms": "sms_phone", "voice": "voice_phone", "email": "email"}
    pages = {}
    for name, addresses in (("held", held), ("new", fresh)):
        browser = app.test_client()
        given = {fields[c]: addresses[c] if c in channels else None for c in fields}
        answer = register(
            browser,
            postcode="BA14 6AA",
            channels=channels,
            consent_for=str(second_force.id),
            **given,
        )
        assert answer.headers["Location"].endswith("/register/confirm")
        page = browser.get("/register/confirm").text
        for channel in channels:
            page = page.replace(addresses[channel], "ADDRESS")
        pages[name] = re.sub(r'(value|content)="[^"]+"|\d', "", page)  # tokens, digits
    assert "Wiltshire Police" in pages["new"].split("</title>")[0]
    assert pages["held"] == pages["new"]


def test_the_owner_of_an_address_signed_up_again_hears_from_their_own_force(
    app, app_ctx, make_resident, second_force, run_worker
):
    """An Avon and Somerset sign-up with a Wiltshire resident's address told them it
    "already gets Avon and Somerset Police alerts", with Avon's link (an outside
    check): it gets Wiltshire's. Then it said "Someone asked for Wiltshire Police
    alerts… It already gets them" (another): nobody had. It names both, and where to
    change its alerts or add a place."""
    make_resident(postcode="BA14 6AA", sms=None, email="will@example.invalid")
    browser = app.test_client()
    register(browser, channels=["email"], sms_phone=None, email="will@example.invalid")
    (told,) = notices_sent(run_worker)
    assert told.body.startswith(
        "Someone asked for Avon and Somerset Police alerts on this e-mail address. It is "
        "signed up already, for Wiltshire Police alerts: to change them, or to add a place"
    )
    assert "It already gets them" not in told.body
    assert f"/forces/{second_force.slug}/manage" in told.body
    # On the same form with a postcode of Wiltshire's, Wiltshire's alerts were asked for
    # (it named Avon and Somerset's, the form's: a review); and of an owner who hears
    # from both forces, Avon and Somerset first, the one asked for (it named their
    # first: a review).
    homes = (
        ("wilma@example.invalid", "BA14 6AA", ()),
        ("both@example.invalid", "BS1 6AD", ("BA14 6AA",)),
    )
    for email, first, places in homes:
        make_resident(postcode=first, also=places, sms=None, email=email)
        register(
            app.test_client(),
            postcode="BA14 6AA",
            channels=["email"],
            sms_phone=None,
            email=email,
            consent_for=str(second_force.id),
        )
        (told,) = [m for m in notices_sent(run_worker) if m.recipient == email]
        assert told.body.startswith("Someone asked for Wiltshire Police alerts on this e-mail")
        assert "It already gets them" in told.body and "Avon" not in told.body


def test_a_sign_up_of_a_registered_number_takes_as_long_as_a_new_one(
    app, client, app_ctx, make_resident, monkeypatch
):
    """Writing less, the sign-up of a number already held answered tens of
    milliseconds sooner (an outside check): timed, the form told who is registered.
    Both answers now wait for SIGN_UP_ANSWER_MS, their connection back in the pool."""
    import threading

    monkeypatch.setitem(app.config, "SIGN_UP_ANSWER_MS", 1200)
    make_resident(sms="+447700900123", email=None)
    took, answers, idle = {}, {}, {}

    def idle_in_transaction() -> int:
        with db.engine.connect() as connection:
            return connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                )
            ).scalar()

    for name, number in (("held", "07700 900123"), ("new", "07700 900456")):
        browser = app.test_client()

        def sign_up(browser=browser, name=name, number=number):
            with app.app_context():
                answers[name] = register(browser, channels=["sms"], sms_phone=number)

        db.session.rollback()
        started = time.monotonic()
        signing_up = threading.Thread(target=sign_up)
        signing_up.start()
        time.sleep(0.8)  # in its wait
        # No connection held idle in a transaction while it waits (found by reading).
        idle[name] = idle_in_transaction()
        signing_up.join(10)
        took[name] = time.monotonic() - started
        assert answers[name].status_code == 302
        assert answers[name].headers["Location"].endswith("/register/confirm")
    assert min(took.values()) >= 1.2, took
    assert idle == {"held": 0, "new": 0}


def test_a_sign_up_answers_when_the_database_goes_during_its_wait(app, app_ctx, monkeypatch):
    """Found by an outside check: the database's connections ended during a sign-up's
    deliberate wait (recorded, its code sent), and the browser got the server's bare
    "500 Internal Server Error": the request's end rolled back on the dead connection.
    Its connection given back before the wait, it answers as it would have."""
    import threading

    monkeypatch.setitem(app.config, "SIGN_UP_ANSWER_MS", 1500)
    browser = app.test_client()
    answers = {}

    def sign_up():
        with app.app_context():
            answers["sign-up"] = register(browser, channels=["sms"], sms_phone="07700 900457")

    db.session.rollback()
    signing_up = threading.Thread(target=sign_up)
    signing_up.start()
    time.sleep(0.9)  # in its wait
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname ="
                " current_database() AND pid <> pg_backend_pid()"
                " AND usename = current_user"  # not autovacuum's (a superuser's)
            )
        )
    signing_up.join(10)
    assert answers["sign-up"].status_code == 302
    assert answers["sign-up"].headers["Location"].endswith("/register/confirm")
    with contextlib.suppress(Exception):
        db.session.rollback()


def test_links_work_once(resident_client, client, run_worker):
    # resident_client opened the page with its link; the same link again is refused.
    link = link_in(
        db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.notice_id.is_not(None))
        ).first()
    )
    client.post("/my-alerts/sign-out", data={"csrf_token": page_token(client, "/my-alerts")})
    again = client.get(link)
    assert again.status_code == 400 and "used already" in again.text


def test_signing_out_closes_the_page_for_every_copy_of_its_cookie(app, resident_client, run_worker):
    """Found by an outside check: signing out cleared this browser's cookie only; a copy
    of it, replayed, still opened the page (name, number, address), and its sliding
    expiry renewed it for ever."""
    name = app.config["SESSION_COOKIE_NAME"]
    copy = resident_client.get_cookie(name).value
    thief = app.test_client()
    thief.set_cookie(name, copy)
    assert thief.get("/my-alerts/data").status_code == 200  # the same page, before
    resident_client.post("/my-alerts/sign-out")
    for client in (thief, resident_client):
        answer = client.get("/my-alerts/data")
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/manage")
    # Opened again from a new link, it works as before; the old copy still does not.
    opened_page(resident_client, "+447700900001", run_worker)
    assert resident_client.get("/my-alerts/data").status_code == 200
    assert thief.get("/my-alerts/data").status_code == 302
    # A link sent before a sign-out no longer opens the page (it did: an outside check).
    resident_client.post(
        "/manage", data={"csrf_token": csrf_token(resident_client), "address": "07700 900001"}
    )
    unused = link_in(notices_sent(run_worker)[-1])
    resident_client.post("/my-alerts/sign-out")
    other = app.test_client()
    refused = other.post(unused, data={"csrf_token": page_token(other, unused)})
    assert refused.status_code == 400 and "sent before you signed out" in refused.text
    assert other.get("/my-alerts/data").status_code == 302


def test_a_page_open_all_day_closes_however_often_it_is_used(resident_client):
    """A copy of the cookie left on a shared computer, used every half hour, kept the
    page open for good (an outside check): it closes PAGE_OPEN_HOURS after opening."""
    import time

    from app.residents import OPENED_KEY, PAGE_OPEN_HOURS

    assert resident_client.get("/my-alerts/data").status_code == 200
    with resident_client.session_transaction() as kept:
        kept[OPENED_KEY] = int(time.time()) - PAGE_OPEN_HOURS * 3600 - 60
    answer = resident_client.get("/my-alerts/data")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/manage")


def test_a_link_to_the_residents_page_goes_only_to_an_address_they_confirmed(
    app, client, run_worker
):
    """A sign-up's mistyped e-mail address is someone else's: asked for a link to
    "their" page, it was sent one, which opened the resident's name, numbers and
    places to them."""
    register(client, email="sam.typo@example.invalid")
    code = code_in(next(n for n in notices_sent(run_worker) if n.channel == "sms"))
    token = page_token(client, "/register/confirm")
    client.post("/register/confirm", data={"csrf_token": token, "channel": "sms", "code": code})
    before = len(notices_sent(run_worker))
    stranger = app.test_client()
    for typed in ("sam.typo@example.invalid", "07700 900123"):
        asked = stranger.post(
            "/manage", data={"csrf_token": csrf_token(stranger), "address": typed}
        )
        assert asked.status_code in (200, 302)
    sent = notices_sent(run_worker)[before:]
    # The confirmed mobile gets its link; the e-mail address never confirmed gets none.
    assert [(n.channel, n.recipient) for n in sent] == [("sms", "+447700900123")]


def test_the_link_in_a_notice_ends_before_the_full_stop_after_it(
    app, providers, make_resident, client
):
    """Found by a review: made links in the e-mail's HTML, "To change or stop them:
    <link>. If it was not you…" linked the full stop too, and the link opened "not
    found"."""
    from app.services.notices import send_notices
    from app.services.verification import tell_owners_of

    make_resident(sms=None, email="held@example.invalid")
    ids = tell_owners_of({"email": "held@example.invalid"})
    db.session.commit()
    send_notices(ids)
    (message,) = providers.mail.messages
    page = message.get_body(("html",)).get_content()
    manage = app.config["PUBLIC_BASE_URL"].rstrip("/") + "/manage"
    assert f'<a href="{manage}">{manage}</a>.' in page
    assert client.get("/manage").status_code == 200


def test_a_link_asked_for_is_not_lost_when_its_job_fails_before_recording_it(
    app, client, make_resident, run_worker, monkeypatch
):
    """Found by reading: the job took the request from Redis before recording the
    link's notice, and a worker killed in between lost it. Taken once the notice is
    recorded, it is still there when the job goes again."""
    from app.services import verification

    make_resident(sms="+447700900123")
    real = verification.send_manage_link

    def dropped(_address):
        raise RuntimeError("the database connection dropped")

    monkeypatch.setattr(verification, "send_manage_link", dropped)
    verification.request_manage_link("07700 900123", ip_address="192.0.2.9")
    (key,) = [k.decode().split(":", 1)[1] for k in redis_store.client.keys("manage-request:*")]
    # Kept sealed while it waits (a Redis dump read the number in clear).
    kept = redis_store.client.get(f"manage-request:{key}")
    assert b"7700" not in kept and b"900123" not in kept
    with pytest.raises(RuntimeError):
        verification.send_requested_manage_link(key)
    monkeypatch.setattr(verification, "send_manage_link", real)
    assert verification.send_requested_manage_link(key) is True
    assert not verification.send_requested_manage_link(key)  # once
    # And once if the job goes again after recording its notice, the request not yet
    # taken (killed between, or Redis failing): it recorded a second link (a review).
    redis_store.client.set(f"manage-request:{key}", kept, ex=60)
    assert not verification.send_requested_manage_link(key)
    # One kept in clear (before it was sealed) or under another key is dropped.
    redis_store.client.set(f"manage-request:{key}", "+447700900123", ex=60)
    assert not verification.send_requested_manage_link(key)
    assert redis_store.client.get(f"manage-request:{key}") is None
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(ResidentNotice)
            .where(ResidentNotice.kind == "manage_link")
        )
        == 1
    )
    from app.jobs import notices_queue

    notices_queue().empty()


def test_a_link_tapped_twice_opens_the_page_in_that_browser_only(
    app, client, make_resident, run_worker
):
    """A double tap sends the second request before the first's answer arrives: that
    tab said the link had been used. The browser that spent it may again for a
    minute; another browser may not."""
    make_resident(postcode="BS1 6AD", sms="+447700900001")
    client.post("/manage", data={"csrf_token": csrf_token(client), "address": "07700 900001"})
    link = link_in(notices_sent(run_worker)[-1])
    token = page_token(client, link)
    twin = app.test_client()  # the second tap: the same session, before the first's answer
    twin.set_cookie("session", client.get_cookie("session").value)
    for tab in (client, twin):
        opened = tab.post(link, data={"csrf_token": token})
        assert opened.status_code == 302 and opened.headers["Location"].endswith("/my-alerts")
    stranger = app.test_client()
    refused = stranger.post(link, data={"csrf_token": page_token(stranger, link)})
    assert refused.status_code == 400 and "used already" in refused.text


def test_signing_up_again_in_the_same_browser_keeps_the_residents_page(client, app_ctx, run_worker):
    """Found by an outside probe: back to the form and Sign up again replaced the
    resident's session with a sign-up that could never be confirmed, and their page
    asked for a code that never came."""
    register(client, channels=["sms"])
    token = page_token(client, "/register/confirm")
    (code,) = notices_sent(run_worker)
    client.post(
        "/register/confirm", data={"csrf_token": token, "channel": "sms", "code": code_in(code)}
    )
    again = register(client, channels=["sms"])
    assert again.status_code == 302 and again.headers["Location"].endswith("/my-alerts")
    page = client.get("/my-alerts")
    assert page.status_code == 200 and "You are signed up already" in page.text
    assert "Confirm how we reach you first" not in page.text
    assert "is not one of your places" not in page.text
    # With another postcode (an outside check): the page says it was not added, and
    # where to add it; and the number, its owner signed in here, is not texted that
    # "someone asked" for its alerts.
    again = register(client, channels=["sms"], postcode="BS8 1TH")
    assert again.headers["Location"].endswith("/my-alerts")
    said = html.unescape(client.get("/my-alerts").text)
    assert "BS8 1TH is not one of your places: to get alerts there too, add it" in said
    assert notices_sent(run_worker) == [code]


def test_a_resident_cannot_make_us_text_many_numbers(client, app_ctx, run_worker):
    register(client, channels=["sms"])
    token = page_token(client, "/register/confirm")
    (code,) = notices_sent(run_worker)
    client.post(
        "/register/confirm", data={"csrf_token": token, "channel": "sms", "code": code_in(code)}
    )
    for n in range(12):
        client.post(
            "/my-alerts/channels",
            data={"csrf_token": token, "channel": "sms", "address": f"07700 9001{n:02d}"},
        )
    # The sign-up's own code, then at most 7 more this hour, whatever the numbers.
    assert len(notices_sent(run_worker)) == 8


def test_retention_keeps_a_resident_who_is_changing_their_number(
    app_ctx, make_resident, monkeypatch
):
    from app.services.residents import set_channel

    resident = make_resident(sms="+447700900001")
    db.session.execute(text("UPDATE residents SET created_at = now() - interval '400 days'"))
    db.session.commit()
    set_channel(resident, "sms", "07700 900002")  # unconfirmed until they type the code
    assert purge_expired()["unverified_residents_removed"] == 0


def test_an_upload_is_imported_once_however_often_it_is_run(app_ctx, make_officer):
    from app.cli.demo import ensure_interest_groups
    from app.services.resident_import import create_import, run_import

    ensure_interest_groups()
    record = create_import(make_officer(role="admin"), filename="l.csv", content=CSV, notify=False)
    run_import(record.id, dry_run=True)
    run_import(record.id, dry_run=False)
    run_import(record.id, dry_run=False)  # a second click, a second worker
    assert db.session.scalar(select(func.count()).select_from(Resident)) == 2


def test_codes_and_links_go_through_twilio_and_smtp_when_configured(
    providers, client, app_ctx, run_worker
):
    register(client)
    run_worker()
    (text_message,) = [a.params for a in providers.gateway.accepted if a.kind == "Messages"]
    assert text_message["To"] == "+447700900123"
    assert re.search(r"\b\d{6}\b is your code", text_message["Body"])
    (mail,) = providers.mail.messages
    assert mail["To"] == "sam@example.invalid"
    assert "/confirm-email/" in mail.get_body(("plain",)).get_content()
    # A link that is not ours is told so when opened, not after a tap on its button.
    forged = client.get("/confirm-email/garbage-token")
    assert forged.status_code == 400 and "not valid" in forged.text
    assert "Confirm my e-mail address" not in forged.text and "reload a form" not in forged.text
    statuses = set(db.session.scalars(select(ResidentNotice.status)))
    assert statuses and statuses <= {"sent", "delivered"}  # the text's callback may be in


def test_an_address_added_whose_link_was_refused_is_said_on_the_residents_page(
    providers, client, app_ctx, run_worker
):
    """Found by an outside check: an e-mail address added on "Your alerts" whose mail
    server has no such mailbox: only the confirm page said so, and adding an e-mail
    address never leads there. Said on the resident's page, by the address."""
    register(client, channels=["sms"], email=None)
    run_worker()
    (text_message,) = [a.params for a in providers.gateway.accepted if a.kind == "Messages"]
    code = re.search(r"\b(\d{6})\b", text_message["Body"]).group(1)
    token = page_token(client, "/register/confirm")
    client.post("/register/confirm", data={"csrf_token": token, "channel": "sms", "code": code})
    providers.mail.refuse["gone@example.invalid"] = "550 5.1.1 No such user"
    change_contact(client, page_token(client, "/my-alerts"), "email", "gone@example.invalid")
    run_worker()
    page = client.get("/my-alerts").text
    assert "its mail server says there is no such mailbox" in page


def test_a_welsh_speakers_code_call_is_said_in_the_welsh_voice(
    providers, client, app_ctx, run_worker
):
    """The English voice read the Welsh words of the code, with an English "Again:"
    and "To stop these calls" (an outside check)."""
    register(
        client,
        channels=["voice"],
        voice_phone="0117 496 0555",
        sms_phone=None,
        email=None,
        language="cy",
    )
    run_worker()
    (call,) = [a.params for a in providers.gateway.accepted if a.kind == "Calls"]
    said = call["Twiml"]
    assert 'language="en-GB"' not in said and "Again" not in said
    assert said.count('language="cy-GB"') == 3  # the code twice, then its ending
    assert "I atal y galwadau hyn, ffoniwch 101." in said
    assert re.search(r"\d \d \d \d \d \d", said)  # the code, digit by digit


def test_a_code_call_says_the_code_twice_and_again_once(providers, client, app_ctx, run_worker):
    """The English code call said "Again" three times: the code's words said it twice,
    and the call says its words twice (an outside check). Welsh, the same count."""
    from flask import current_app

    browsers = (client, current_app.test_client())  # one sign-up each
    for browser, language, phone in zip(
        browsers, ("en", "cy"), ("0117 496 0556", "0117 496 0557"), strict=True
    ):
        register(
            browser,
            channels=["voice"],
            voice_phone=phone,
            sms_phone=None,
            email=None,
            language=language,
        )
    run_worker()
    calls = {a.to: a.params["Twiml"] for a in providers.gateway.accepted if a.kind == "Calls"}
    english, welsh = calls["+441174960556"], calls["+441174960557"]
    for said in (english, welsh):
        (code,) = set(re.findall(r"\d \d \d \d \d \d", said))
        assert said.count(code) == 2, said
    assert english.count("Again") == 1 and "Eto" not in welsh and "eto" not in welsh


def test_a_link_after_stop_lets_the_resident_back_in(client, app_ctx, make_resident, run_worker):
    make_resident(sms="+447700900001")
    db.session.execute(update(ResidentChannel).values(unsubscribed_at=func.now()))
    db.session.commit()
    register(client, channels=["sms"], sms_phone="07700 900001")
    notices_sent(run_worker)  # "it already gets them" (stopped, but still theirs)
    client.post("/manage", data={"csrf_token": csrf_token(client), "address": "07700 900001"})
    message = notices_sent(run_worker)[-1]
    assert "/manage/" in message.body


def test_one_broken_notice_fails_alone_and_stuck_ones_are_given_up(
    app, client, app_ctx, run_worker, monkeypatch, runner
):
    from app.channels import outbox

    register(client, channels=["sms", "email"])
    real_send = outbox.OutboxTransport.send

    def send(self, message):
        if message.channel == "email":
            raise ValueError("a bug in building the e-mail")
        return real_send(self, message)

    monkeypatch.setattr(outbox.OutboxTransport, "send", send)
    run_worker()
    statuses = dict(db.session.execute(select(ResidentNotice.channel, ResidentNotice.status)).all())
    assert statuses == {"sms": "delivered", "email": "failed"}  # the outbox delivers
    assert db.session.scalar(select(func.count()).where(ResidentNotice.body.is_not(None))) == 0

    # A notice whose worker died mid-send is failed (and its code dropped) in time.
    db.session.execute(text("DELETE FROM outbox_messages"))  # it died before recording
    db.session.execute(
        text(
            "UPDATE resident_notices SET status = 'sending', body = 'code 123456', "
            "created_at = now() - interval '20 minutes', "
            "updated_at = now() - interval '19 minutes' WHERE channel = 'sms'"
        )
    )
    db.session.commit()
    runner.invoke(args=["sweeper", "--once"])
    stuck = db.session.scalars(select(ResidentNotice).where(ResidentNotice.channel == "sms")).one()
    assert (stuck.status, stuck.body) == ("failed", None)


def add_number(client, number: str, channel: str = "sms"):
    answer = client.post(
        "/my-alerts/channels",
        data={"channel": channel, "address": number},
        follow_redirects=True,
    )
    return answer.status_code, answer.text


def flash_in(page: str) -> str:
    found = re.search(r'class="flash[^"]*"[^>]*>\s*(.*?)\s*<', page, re.S)
    return found.group(1) if found else ""


def test_the_residents_page_never_tells_whose_number_is_registered(
    resident_client, make_resident, run_worker
):
    make_resident(sms="+447700900555", email=None, name="Someone Else")
    before = len(notices_sent(run_worker))
    taken_status, taken_page = add_number(resident_client, "07700 900555")
    taken_answer = flash_in(taken_page)
    # Clear the way: a free number answered from the same state.
    free_status, free_page = add_number(resident_client, "07700 900556")
    assert (taken_status, taken_answer) == (free_status, flash_in(free_page))
    assert "already" not in taken_page.lower()
    # (A resident's notices go to the front of the queue, each: the latest first.)
    notices = sorted(notices_sent(run_worker)[before:], key=lambda n: n.recipient)
    # The owner is told someone tried their number; the free number gets its code.
    assert [n.recipient for n in notices] == ["+447700900555", "+447700900556"]
    assert "It already gets them" in notices[0].body and not re.search(r"\d{6}", notices[0].body)
    assert code_in(notices[1])


def test_trying_numbers_from_the_residents_page_is_limited_taken_or_not(
    resident_client, make_resident, run_worker
):
    for n in range(4):
        make_resident(sms=f"+4477009007{n:02d}", email=None, name=f"Owner {n}")
    answers = []
    for n in range(10):
        # Alternate other residents' numbers and free ones.
        number = f"07700 9007{n // 2:02d}" if n % 2 == 0 else f"07700 9008{n:02d}"
        answers.append(flash_in(add_number(resident_client, number)[1]))
    sent = "We have sent a code to that number. Enter it below to confirm."
    refused = "could not send a code or link now"
    # SENDS_PER_RESIDENT_PER_HOUR (8), then every attempt is refused, taken or free.
    assert answers[:8] == [sent] * 8
    assert all(refused in answer for answer in answers[8:]), answers


def test_resending_a_code_answers_the_same_for_a_registered_number(
    app, client, app_ctx, make_resident, run_worker
):
    make_resident(sms="+447700900777", email=None)

    def resends(number: str) -> list[str]:
        fresh = app.test_client()
        register(fresh, channels=["sms"], sms_phone=number)
        answers = []
        for _ in range(4):
            token = page_token(fresh, "/register/confirm")
            page = fresh.post(
                "/register/confirm",
                data={"csrf_token": token, "channel": "sms", "action": "resend"},
                follow_redirects=True,
            ).text
            answers.append(flash_in(page))
        return answers

    taken, free = resends("07700 900777"), resends("07700 900778")
    assert taken == free
    assert taken[-1].startswith("We have sent that number as many codes as we can")


def guess_answers(client, channel="sms", guesses=6, wrong="000000") -> list[str]:
    answers = []
    for _ in range(guesses):
        token = page_token(client, "/register/confirm")
        page = client.post(
            "/register/confirm", data={"csrf_token": token, "channel": channel, "code": wrong}
        ).text
        found = re.search(r'class="field-error"[^>]*>(?:<span[^>]*>[^<]*</span>)?\s*([^<]+)', page)
        answers.append(html.unescape(found.group(1)).strip() if found else "")
    return answers


def test_wrong_codes_and_resends_read_the_same_for_a_registered_number(
    app, app_ctx, make_resident, run_worker
):
    make_resident(sms="+447700900888", email=None)

    def journey(number: str) -> list[str]:
        fresh = app.test_client()
        register(fresh, channels=["sms"], sms_phone=number)
        answers = guess_answers(fresh, wrong=wrong_for())
        token = page_token(fresh, "/register/confirm")
        fresh.post(
            "/register/confirm", data={"csrf_token": token, "channel": "sms", "action": "resend"}
        )
        wrong = wrong_for()
        return (
            answers
            + guess_answers(fresh, guesses=1, wrong=wrong)
            + guess_answers(fresh, "voice", 1, wrong)
        )

    def wrong_for() -> str:
        """A guess that is none of the codes sent (a fixed one is right one time in a
        million)."""
        sent = " ".join(message.body for message in notices_sent(run_worker))
        return a_wrong_code(*re.findall(r"\b\d{6}\b", sent))

    taken, free = journey("07700 900888"), journey("07700 900889")
    assert taken == free
    assert taken[4].endswith("Ask for a new code.") and taken[5].startswith("Too many")
    # One left is one "try", not "1 more tries" (found by an outside probe).
    assert taken[3] == "That code is not right. You have 1 more try."
    # After a new code was sent, the refusal says only the newest works.
    assert taken[6] == (
        "That code is not right. You have 4 more tries. "
        "We sent you more than one code: only the newest works."
    )


def test_a_code_for_someone_elses_number_reads_as_a_wrong_code_and_a_resend_tells_the_owner(
    resident_client, make_resident, run_worker
):
    make_resident(sms="+447700900666", voice=None, email=None, name="Owner")
    add_number(resident_client, "07700 900666")
    before = len(notices_sent(run_worker))
    (answer,) = guess_answers(resident_client, guesses=1)
    assert answer == "That code is not right. You have 4 more tries."
    token = page_token(resident_client, "/register/confirm")
    resident_client.post(
        "/register/confirm", data={"csrf_token": token, "channel": "sms", "action": "resend"}
    )
    (notice,) = notices_sent(run_worker)[before:]
    assert notice.recipient == "+447700900666"
    assert "It already gets them" in notice.body and not re.search(r"\b\d{6}\b", notice.body)


def test_signing_up_ones_own_email_with_someone_elses_number_confirms_the_email(
    client, app_ctx, make_resident, run_worker
):
    make_resident(sms="+447700900777", email=None)
    register(
        client, channels=["sms", "email"], sms_phone="07700 900777", email="me@example.invalid"
    )
    notices = {n.recipient: n for n in notices_sent(run_worker)}
    assert "confirm" in notices["me@example.invalid"].body.lower()
    assert "It already gets them" not in notices["me@example.invalid"].body
    assert "It already gets them" in notices["+447700900777"].body


# --- the resident's page as one form (issue 15) ----------------------------------------


def save(client, **fields):
    """Press a button on the page's one form: every section goes with it."""
    data = {
        "csrf_token": page_token(client, "/my-alerts"),
        "groups_shown": "1",
        "groups": ["neighbourhood-watch"],
        "quiet_shown": "1",
        "quiet_from": "22:00",
        "quiet_until": "07:00",
        "language": "en",
    } | fields
    return client.post("/my-alerts", data=data, follow_redirects=True)


def test_one_form_saves_every_section_and_a_refusal_loses_nothing(resident_client):
    client = resident_client
    page = client.get("/my-alerts").text
    assert page.count('type="submit"') >= 3 and page.count("<form") == 2  # the page, close
    assert "Save changes" in page and "Every button on this page saves everything" in page
    # Quiet hours turned on and a place added with a postcode we cannot use: the hours
    # are saved, the place is refused by its field, and what was typed is still there.
    answer = save(client, quiet="yes", quiet_from="23:00", label="Farm", postcode="BA12 9AA")
    assert answer.status_code == 400
    assert "Wiltshire" in answer.text and 'value="BA12 9AA"' in answer.text
    assert "Everything else you changed is saved: quiet hours." in answer.text
    resident = db.session.scalars(select(Resident)).one()
    assert str(resident.quiet_from) == "23:00:00"
    # A new number saved beside a refused place: its code is entered by the link beside
    # it, not "below", where this page has no box (an outside check).
    answer = save(client, channel="voice", address="0117 496 0999", postcode="BA12 9AA", label="X")
    assert answer.status_code == 400
    said = html.unescape(answer.text)
    assert "To enter it, follow the “confirm” link beside the number." in said
    assert "Enter it below" not in said
    # A remove button in another section sends the typed place too: both are saved.
    home = resident.locations[0]
    save(client, quiet="yes", quiet_from="23:00", label="Farm", postcode="TA1 1AA")
    answer = save(
        client,
        quiet="yes",
        quiet_from="23:00",
        label="Shop",
        postcode="BS1 4ST",
        remove_place=str(home.id),
    )
    assert answer.status_code == 200
    assert "Saved: new place, place removed." in html.unescape(answer.text)
    db.session.expire_all()
    labels = [loc.label for loc in db.session.scalars(select(Resident)).one().locations]
    assert sorted(labels) == ["Farm", "Shop"]
    # Nothing changed says so rather than claiming a save.
    again = save(client, quiet="yes", quiet_from="23:00")
    assert "Nothing has changed." in again.text
    # "²" is a digit to str.isdigit(), not to int(): a place or force nobody has.
    odd = save(client, quiet="yes", quiet_from="23:00", remove_place="²")
    assert odd.status_code == 200 and "Nothing has changed." in odd.text
    odd = save(client, quiet="yes", quiet_from="23:00", forces_shown="1", forces="²")
    assert odd.status_code == 400, "hearing from no force at all is refused by its field"
    # A force they have no place in, sent beside their own, changes nothing, and the
    # page says so ("Saved: police forces": an outside check).
    from app.services.residents import forces_of

    own = [str(entry["id"]) for entry in forces_of(db.session.scalars(select(Resident)).one())]
    also = save(client, quiet="yes", quiet_from="23:00", forces_shown="1", forces=[*own, "99999"])
    assert also.status_code == 200 and "Nothing has changed." in also.text
    assert len(db.session.scalars(select(Resident)).one().locations) == 2


def test_places_are_shown_in_the_order_added_home_first(resident_client):
    client = resident_client
    save(client, label="Zoo", postcode="TA1 1AA")
    save(client, label="Allotment", postcode="BS1 4ST")
    page = client.get("/my-alerts").text
    places = re.findall(r"<li>(Home|Zoo|Allotment):", page)
    assert places == ["Home", "Zoo", "Allotment"]
    exported = json.loads(client.get("/my-alerts/data.json").text)
    assert [p["label"] for p in exported["places"]] == ["Home", "Zoo", "Allotment"]


def test_numbers_are_shown_as_people_write_them_on_the_residents_page(resident_client):
    page = resident_client.get("/my-alerts").text
    assert "07700 900001" in page and "+447700900001" not in page


def test_the_residents_data_is_a_page_to_read_as_well_as_a_file(
    resident_client, make_officer, run_worker
):
    client = resident_client
    alert_addresses(make_officer())
    run_worker()
    page = client.get("/my-alerts")
    assert 'href="/my-alerts/data"' in page.text and "download it as a file (JSON)" in page.text
    readable = client.get("/my-alerts/data")
    assert readable.status_code == 200
    assert "Everything we hold about you" in readable.text
    assert "07700 900001" in readable.text and "Home: BS1 6AD" in readable.text
    # The alert we sent, in a table.
    assert '<td data-label="Alert" lang="en-GB">T</td>' in readable.text
    assert 'href="/my-alerts/data.json"' in readable.text
    assert "no-store" in readable.headers.get("Cache-Control", "")
    actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "resident.data_viewed" in actions


def test_an_upload_whose_worker_died_is_checked_again_or_handed_back_never_half_done(
    app_ctx, make_officer, run_worker
):
    """kill -9 of a worker mid-check or mid-import left the upload "checking" or
    "importing" for ever. A live run holds its record locked; the sweeper's
    recover_imports queues a dead check again and hands a dead import back as checked
    (its rows were one transaction, never committed), to be imported once."""
    from app.models import ResidentImport
    from app.services.resident_import import (
        create_import,
        recover_imports,
        run_import,
    )

    admin = make_officer(role="admin")
    csv = "postcode,email\nBS1 6AD,one@example.invalid\nBS1 6AD,two@example.invalid\n"
    check = create_import(admin, filename="a.csv", content=csv, notify=False)
    imported = create_import(
        admin, filename="b.csv", content=csv.replace("o@", "o2@"), notify=False
    )
    long_ago = text("UPDATE resident_imports SET created_at = now() - interval '5 minutes'")
    db.session.execute(long_ago)
    db.session.execute(
        text(
            "UPDATE resident_imports SET status = 'running', report = report ||"
            " jsonb_build_object('claimed_at', extract(epoch FROM now()) - 300) WHERE id = :id"
        ),
        {"id": imported.id},
    )
    db.session.commit()
    # A live run holds its record: nothing is touched.
    with db.engine.connect() as live:
        live.execute(text("SELECT id FROM resident_imports FOR UPDATE"))
        assert recover_imports() == {"imports_handed_back": 0, "import_checks_requeued": 0}
        live.rollback()
    # The dead are found: the check is queued again, the import handed back.
    assert recover_imports() == {"imports_handed_back": 1, "import_checks_requeued": 1}
    # Its job waiting its turn on the imports' own queue is not lost: not queued twice.
    assert recover_imports()["import_checks_requeued"] == 0
    run_worker()
    db.session.expire_all()
    assert db.session.get(ResidentImport, check.id).status == "checked"
    back = db.session.get(ResidentImport, imported.id)
    assert back.status == "checked" and "stopped before it finished" in back.report["interrupted"]
    assert residents_count() == 0  # nothing of the dead import was written
    run_import(imported.id, dry_run=False)
    run_import(imported.id, dry_run=False)  # a second click: imported once
    db.session.expire_all()
    assert db.session.get(ResidentImport, imported.id).status == "done"
    assert residents_count() == 2
    assert recover_imports() == {"imports_handed_back": 0, "import_checks_requeued": 0}


def test_a_check_cut_off_by_the_database_is_run_again_not_failed(
    app_ctx, make_officer, monkeypatch
):
    """The database dropped the connection mid-check (a restart, a failover): the
    upload failed for good, to be uploaded again (an outside check). It is left for
    the sweeper to check again; one that fails so every time fails as any other."""
    from app.models import ResidentImport
    from app.services import resident_import
    from app.services.resident_import import create_import, recover_imports, run_import

    admin = make_officer(role="admin")
    csv = "postcode,email\nBS1 6AD,one@example.invalid\n"
    upload = create_import(admin, filename="a.csv", content=csv, notify=False)
    check, cut = resident_import.import_residents, []

    def cut_off_then_check(*args, **kwargs):
        pid = db.session.connection().connection.dbapi_connection.info.backend_pid
        with db.engine.begin() as other:
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        cut.append(pid)
        return check(*args, **kwargs)

    monkeypatch.setattr(resident_import, "import_residents", cut_off_then_check)
    run_import(upload.id, dry_run=True)
    db.session.rollback()
    assert cut and db.session.get(ResidentImport, upload.id).status == "queued"
    db.session.execute(
        text("UPDATE resident_imports SET created_at = now() - interval '5 minutes'")
    )
    db.session.commit()
    assert recover_imports()["import_checks_requeued"] == 1
    monkeypatch.setattr(resident_import, "import_residents", check)
    run_import(upload.id, dry_run=True)
    db.session.expire_all()
    assert db.session.get(ResidentImport, upload.id).status == "checked"

    # Cut off every time: failed, as any other error, after DROPPED_RUNS runs.
    again = create_import(
        admin, filename="b.csv", content=csv.replace("one@", "two@"), notify=False
    )
    monkeypatch.setattr(resident_import, "import_residents", cut_off_then_check)
    for _ in range(resident_import.DROPPED_RUNS):
        run_import(again.id, dry_run=True)
        db.session.rollback()
        assert db.session.get(ResidentImport, again.id).status == "queued"
    run_import(again.id, dry_run=True)
    db.session.expire_all()
    assert db.session.get(ResidentImport, again.id).status == "failed"


def test_a_long_import_is_not_taken_for_dead_and_two_of_one_list_register_it_once(
    app, app_ctx, make_officer, monkeypatch
):
    """Found by an outside probe. (1) Checking the rows ended the import's transaction,
    and with it the lock on its record that tells a live import from a dead one: a
    minute in, the sweeper handed a live 80,000-row import back as "stopped, import it
    again", and importing it again wrote every resident twice. (2) Two uploads of one
    list, imported at the same moment by two workers, were both written in full: each
    checked for addresses already registered before the other had committed."""
    import threading

    from app.services import resident_import
    from app.services.resident_import import create_import, recover_imports, run_import

    admin = make_officer(role="admin")
    csv = "postcode,email\n" + "".join(f"BS1 6AD,r{n}@example.invalid\n" for n in range(30))
    first, second = (
        create_import(admin, filename=name, content=csv, notify=False) for name in ("a", "b")
    )
    for record in (first, second):
        run_import(record.id, dry_run=True)
    monkeypatch.setattr(resident_import, "CLAIM_GRACE_SECONDS", 0)
    db.session.execute(
        text("UPDATE resident_imports SET created_at = now() - interval '5 minutes'")
    )
    db.session.commit()
    writing = resident_import.create_audit_event
    seen: dict[str, object] = {}

    def run(import_id: int) -> None:
        with app.app_context():
            run_import(import_id, dry_run=False)

    def while_the_first_writes(action, **details):
        if action == "residents.imported" and "recovered" not in seen:
            # Its rows written, not committed: the sweeper comes round, and a second
            # worker starts the other upload of the same list.
            seen["recovered"] = _in_another_session(app, recover_imports)
            seen["other"] = threading.Thread(target=run, args=(second.id,))
            seen["other"].start()
            time.sleep(1)
        return writing(action, **details)

    monkeypatch.setattr(resident_import, "create_audit_event", while_the_first_writes)
    run(first.id)
    seen["other"].join(30)
    assert seen["recovered"]["imports_handed_back"] == 0  # alive: left alone
    db.session.expire_all()
    done = [db.session.get(ResidentImport, r.id) for r in (first, second)]
    assert [d.status for d in done] == ["done", "done"]
    assert (done[0].report["imported"], done[1].report["imported"]) == (30, 0)
    assert {reason_in_english(r["reasons"][0]) for r in done[1].report["rejected"]} == {
        "e-mail address already registered"
    }
    assert residents_count() == 30
    # An import's event names its upload; whoever reads that 30 addresses were
    # registered already (perhaps with another force) is recorded with that count.
    imported = db.session.scalars(
        select(AuditEvent.subject_id).where(AuditEvent.action == "residents.imported")
    ).all()
    assert imported == [str(first.id)]  # the second wrote nobody
    resident_import.view_import_report(admin, done[1])
    viewed = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "residents.import_viewed")
    ).one()
    assert viewed.details == {"rejected_rows_shown": 30, "already_registered": 30}


def _in_another_session(app, work):
    """`work`'s result, run on a thread of its own (its own database session)."""
    import threading

    result = {}

    def run() -> None:
        with app.app_context():
            result["value"] = work()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return result["value"]


def residents_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Resident))


def test_the_manage_box_says_it_takes_a_mobile_or_an_e_mail_address(client, app_ctx):
    """Found by an outside check: an empty box was told "Enter a phone number", and a
    mistyped e-mail address "Enter a UK phone number"."""
    import html

    for typed, said in (
        ("", "Enter the mobile number or e-mail address you get alerts on."),
        ("sam.example.com", "That is not a mobile number or an e-mail address."),
    ):
        answer = client.post("/manage", data={"csrf_token": csrf_token(client), "address": typed})
        assert answer.status_code == 400 and said in html.unescape(answer.text), typed


def test_a_nul_in_a_group_or_a_time_is_a_field_error_not_a_general_one(resident_client):
    """Found by an outside check: a NUL among the groups reached the database (the
    general "not a value we can use" page), and one typed as a quiet-hours time was
    written back into the page."""
    client = resident_client
    token = page_token(client, "/my-alerts")
    for route, form in (
        ("/my-alerts", {"groups_shown": "1", "groups": ["farm-watch", "\x00"]}),
        ("/my-alerts/groups", {"groups": ["farm-watch", "\x00"]}),
    ):
        refused = client.post(route, data={"csrf_token": token, **form})
        assert refused.status_code == 400
        assert 'id="groups-error"' in refused.text and "no longer exists" in refused.text
    quiet = client.post(
        "/my-alerts",
        data={
            "csrf_token": token,
            "quiet_shown": "1",
            "quiet": "yes",
            "quiet_from": "2\x002:00",
            "quiet_until": "07:00",
        },
    )
    assert quiet.status_code == 400 and "\x00" not in quiet.text
    # Named as on every other field (it read "22:00 is not a time of day").
    assert 'id="quiet_from-error"' in quiet.text
    assert "The start of quiet hours has a null character" in html.unescape(quiet.text)


def test_a_nul_in_an_address_or_a_number_reads_the_same_on_every_form(resident_client):
    """Found by an outside check: a NUL in an e-mail address was "a null character" on
    the sign-up form and "invalid characters before the @-sign: U+0000" on "my alerts".
    Every form checking an address or number now says it as the sign-up form does."""
    from app.services.contacts import ContactRefused, normalise_email, normalise_phone

    for check, typed, label in (
        (normalise_email, "sam\x00@example.invalid", "The e-mail address"),
        (lambda t: normalise_phone(t, need_mobile=True), "07700\x00900123", "The phone number"),
    ):
        with pytest.raises(ContactRefused, match=f"^{label} has a null character \\(NUL\\) in it"):
            check(typed)
    client = resident_client
    refused = client.post(
        "/my-alerts/channels",
        data={
            "csrf_token": page_token(client, "/my-alerts"),
            "channel": "email",
            "address": "sam\x00@example.invalid",
        },
    )
    assert refused.status_code == 400
    assert "The e-mail address has a null character (NUL) in it" in html.unescape(refused.text)
    assert "U+0000" not in refused.text


def test_what_a_paste_brings_along_is_taken_out_and_a_number_too_long_is_said_to_be(
    resident_client, app, make_officer
):
    """Found by an outside check: a pasted number's leading tab or invisible
    right-to-left mark was refused (the resident cannot see it to remove it), a
    zero-width space alone was asked for "some words", 300 digits were "not a UK phone
    number", an 056 number was "not a mobile", and an over-long address on the staff
    invite had "no @-sign" (the form cut it first)."""
    from app.services.contacts import ContactRefused, normalise_email, normalise_phone

    assert normalise_phone("\t+44 7700 900123 ", need_mobile=True, allow_drama=True) == (
        "+447700900123"
    )
    assert normalise_phone("07700\u202e900123", need_mobile=True, allow_drama=True) == (
        "+447700900123"
    )
    assert normalise_email("sam\u200b@example.com") == "sam@example.com"
    for typed, said in (
        ("\u200b", "Enter a phone number"),
        ("1" * 300, "The phone number is too long: keep it to 40 characters."),
        ("05612 345678", "We can't send to 056 numbers: they are internet phones."),
    ):
        with pytest.raises(ContactRefused, match=re.escape(said)):
            normalise_phone(typed, need_mobile=False)
    client = resident_client
    token = page_token(client, "/my-alerts")
    refused = client.post(
        "/my-alerts/channels", data={"csrf_token": token, "channel": "sms", "address": "1" * 300}
    )
    assert refused.status_code == 400
    assert "The phone number is too long: keep it to 40 characters." in html.unescape(refused.text)
    admin = signed_in(app, make_officer(role="admin"), "admin")
    invited = admin.post(
        "/admin/officers/invite",
        data={
            "csrf_token": page_token(admin, "/admin/officers/invite"),
            "email": "x" * 300 + "@example.com",
            "name": "Sam",
            "role": "officer",
            "sign_in": "password",
        },
    )
    assert invited.status_code == 400
    assert "The e-mail address is too long: keep it to 254 characters." in html.unescape(
        invited.text
    )


def test_the_same_message_flashed_many_times_is_shown_once(resident_client):
    """Found by an outside check: 150 quick saves before the page was read showed
    "Nothing has changed." 150 times."""
    client = resident_client
    token = page_token(client, "/my-alerts")
    for _ in range(3):
        assert client.post("/my-alerts", data={"csrf_token": token}).status_code == 302
    assert client.get("/my-alerts").text.count("Nothing has changed.") == 1


def test_the_import_command_lists_and_reports_the_rejected_rows(app, app_ctx, tmp_path):
    # The README's way to bring residents over: a rejected row stopped it with a
    # traceback after the accepted ones were written, and no report (an outside check).
    from app.cli.demo import ensure_interest_groups

    ensure_interest_groups()
    source = tmp_path / "legacy.csv"
    source.write_text(CSV, encoding="utf-8")
    report = tmp_path / "rejected.csv"
    runner = app.test_cli_runner()
    for dry in (True, False):
        args = ["residents", "import", str(source), "--report", str(report)]
        result = runner.invoke(args=args + (["--dry-run"] if dry else []))
        assert result.exit_code == 0, result.output
        verb = "would import" if dry else "imported"
        assert f"9 rows read: {verb} 2, rejected 7." in result.output
        assert "row 7: " in result.output  # Fay: no postcode, no way to reach her
        with report.open(encoding="utf-8-sig") as written:
            rows = list(csv.reader(written))
        assert rows[0] == ["row", "reasons"] and len(rows) == 8
        assert all(reasons and "{" not in reasons for _, reasons in rows[1:])


def test_a_welsh_residents_links_open_their_pages_in_welsh(app, app_ctx, make_resident, run_worker):
    """A Welsh resident's sign-in link and e-mail confirmation opened in English in a
    fresh browser, which asks for English (an outside check). The resident's language
    comes before the browser's; a visitor who switched still gets what they chose."""
    from app.services.notices import queue_notices
    from app.services.verification import send_manage_link, start_verification

    welsh = make_resident(sms="+447700900561", email="cymro@example.invalid", name="Cymro")
    welsh.language = "cy"
    db.session.commit()
    notices = [send_manage_link("+447700900561")]
    (channel,) = [c for c in welsh.channels if c.channel == "email"]
    channel.verified_at = None
    notices.append(start_verification(welsh, channel))
    db.session.commit()
    queue_notices(notices)
    sent = {m.recipient: m for m in notices_sent(run_worker)}
    assert set(sent) == {"+447700900561", "cymro@example.invalid"}
    english_browser = {"Accept-Language": "en-GB,en;q=0.9"}
    for link in (link_in(sent_to) for sent_to in sent.values()):
        fresh = app.test_client()
        assert '<html lang="cy">' in fresh.get(link, headers=english_browser).text, link
        fresh.get("/?lang=en")  # switched: what the visitor chose comes first
        assert '<html lang="en-GB">' in fresh.get(link, headers=english_browser).text, link


def test_a_resident_who_stopped_every_way_is_told_how_to_start_again(resident_client):
    """Every way stopped, the page said "(stopped)" beside a button to stop it, and not
    that nothing comes now, nor how to start again (an outside check)."""
    assert 'id="all-stopped"' not in resident_client.get("/my-alerts").text
    db.session.execute(update(ResidentChannel).values(unsubscribed_at=func.now()))
    db.session.commit()
    page = html.unescape(resident_client.get("/my-alerts").text)
    assert 'id="all-stopped"' in page and "You get no alerts now" in page
    assert "To start it again, choose it under “Add or change” and give it again." in page
    assert 'name="remove_channel"' not in page


def test_the_data_page_names_groups_in_the_pages_language(resident_client):
    # The English names were on the Welsh page (an outside check).
    group = db.session.scalars(select(InterestGroup)).first()
    group.name_cy = "Gwarchod Cymdogaeth"
    db.session.commit()
    welsh = resident_client.get("/my-alerts/data?lang=cy").text
    assert "<dd>Gwarchod Cymdogaeth</dd>" in welsh and group.name not in welsh
    english = resident_client.get("/my-alerts/data?lang=en").text
    assert f"<dd>{group.name}</dd>" in english and "Gwarchod" not in english
    # A group with no Welsh name, on a Welsh page: its English name, marked so.
    group.name_cy = None
    db.session.commit()
    welsh = resident_client.get("/my-alerts/data?lang=cy").text
    assert f'<dd><span lang="en-GB">{group.name}</span></dd>' in welsh
