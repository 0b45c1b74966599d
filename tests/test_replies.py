"""Residents answer back, through the loopback Twilio-compatible gateway: texts to our
number and keys pressed in a call, signed as Twilio signs them, including repeats,
texts that overtake their alert's own record, strangers, closed alerts and shared
numbers."""

from __future__ import annotations

import html
import re
import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Alert, AuditEvent, Delivery, Reply, ResidentNotice
from app.services import optout, replies
from app.services.alerts import submit_alert
from app.services.dispatch import answer_token, claim
from app.services.residents import delete_resident
from tests.factories import signed_in

BS1_6AD = [-2.588230, 51.451967]
AREA = [{"kind": "circle", "center": BS1_6AD, "radius_m": 800}]


@pytest.fixture
def officer(make_officer):
    return make_officer()


def send(officer, run_worker=None, *, question=None, options=None, confirm=False) -> Alert:
    alert = submit_alert(
        officer,
        shapes=AREA,
        title="Break-ins",
        body="Sheds broken into on Elm Road.",
        question=question,
        answer_options=options,
        confirm_receipt=confirm,
    ).alert
    if run_worker is not None:
        run_worker()
    return alert


def inbound(providers) -> str:
    return providers.settings["PUBLIC_BASE_URL"] + "/callbacks/twilio/inbound-sms"


def all_replies() -> list[Reply]:
    db.session.rollback()
    return db.session.scalars(select(Reply).order_by(Reply.id)).all()


def test_a_text_reply_is_recorded_once_against_its_alert_and_resident(
    providers, officer, make_resident, run_worker
):
    resident = make_resident(sms="+447700900501")
    alert = send(officer, run_worker)
    gateway = providers.gateway
    sid = "SM" + "5" * 32
    assert gateway.text_in(inbound(providers), "+447700900501", "Saw a van at 2am", sid=sid) == 200
    # Twilio retries a webhook it thinks failed: the same message again.
    assert gateway.text_in(inbound(providers), "+447700900501", "Saw a van at 2am", sid=sid) == 200
    (reply,) = all_replies()
    assert (reply.alert_id, reply.resident_id, reply.kind) == (alert.id, resident.id, "message")
    assert reply.body == "Saw a van at 2am" and reply.after_close is False


def test_a_picture_message_says_in_the_inbox_that_a_picture_came(
    providers, officer, make_resident, run_worker
):
    """Found by an outside probe: a picture with no words was kept as an empty message."""
    make_resident(sms="+447700900504")
    send(officer, run_worker, question="Seen it?", options=["Yes", "No"])
    url = inbound(providers)
    providers.gateway.text_in(url, "+447700900504", "", media=1)
    providers.gateway.text_in(url, "+447700900504", "It was this van", media=2)
    providers.gateway.text_in(url, "+447700900504", "1", media=1)  # still the answer
    empty, words, answer = all_replies()
    assert (empty.kind, empty.body) == (
        "message",
        "[1 picture or file sent with this text, not kept here.]",
    )
    assert (
        words.body == "It was this van\n[2 pictures or files sent with this text, not kept here.]"
    )
    assert (answer.kind, answer.answer) == ("answer", 1)


def test_a_stranger_a_shared_number_and_a_closed_alert_each_go_to_the_inbox(
    providers, officer, make_resident, run_worker
):
    make_resident(sms="+447700900502")
    make_resident(sms="+447700900502", name="Their partner")  # one phone, two people
    make_resident(sms="+447700900503")
    alert = send(officer, run_worker, question="Did you see anything?", options=["Yes", "No"])
    url = inbound(providers)
    providers.gateway.text_in(url, "+447700900599", "Who is this?")
    providers.gateway.text_in(url, "+447700900502", "1")
    db.session.execute(Alert.__table__.update().values(status="cancelled"))
    db.session.commit()
    providers.gateway.text_in(url, "+447700900503", "1")
    stranger, shared, late = all_replies()
    assert (stranger.alert_id, stranger.resident_id, stranger.kind) == (None, None, "message")
    # Counted, but not put on either of the two residents who share the number.
    assert (shared.alert_id, shared.resident_id, shared.kind) == (alert.id, None, "answer")
    # After the alert closed: kept for the inbox, not counted.
    assert (late.alert_id, late.kind, late.after_close) == (alert.id, "message", True)
    assert replies.answers_of(db.session.get(Alert, alert.id))["options"] == [
        {"number": 1, "label": "Yes", "count": 1},
        {"number": 2, "label": "No", "count": 0},
    ]


def test_quick_question_answers_are_counted_latest_first_and_by_ward_with_small_counts_hidden(
    providers, officer, make_resident, run_worker
):
    numbers = [f"+4477009006{n:02d}" for n in range(7)]
    for number in numbers:
        make_resident(sms=number)
    alert = send(officer, run_worker, question="Did you see anything?", options=["Yes", "No"])
    (text_sent, *_) = [a for a in providers.gateway.accepted if a.to == numbers[0]]
    assert "Did you see anything? Reply 1 for Yes, 2 for No." in text_sent.params["Body"]
    url = inbound(providers)
    for number in numbers[:5]:
        providers.gateway.text_in(url, number, "1.")
    providers.gateway.text_in(url, numbers[5], "2 no sorry")
    providers.gateway.text_in(url, numbers[0], " 2 ")  # changed their mind: latest counts
    providers.gateway.text_in(url, numbers[6], "maybe, I heard a dog")  # fits no option
    answers = replies.answers_of(db.session.get(Alert, alert.id))
    assert [o["count"] for o in answers["options"]] == [4, 2]
    # Under 5 in one ward: its row would be the totals themselves (an outside check
    # read a hidden cell as its total), so there is none.
    assert answers["wards"] == []
    assert [r.body for r in all_replies() if r.kind == "message"] == ["maybe, I heard a dog"]


def test_a_residents_latest_answer_counts_once_whichever_message_they_answered(
    providers, client, officer, make_resident, run_worker
):
    """Found by an outside check: a resident who texted "Naddo", then chose "Do" on
    their e-mail's answer page ("your latest answer counts"), was counted for both.
    And an option nobody chose read "fewer than 5" in every ward beside its 0."""
    make_resident(sms="+447700900611", email="both@example.invalid")
    make_resident(postcode="BS1 3AE", sms="+447700900612")  # another ward
    alert = send(officer, run_worker, question="Seen it?", options=["Yes", "No"])
    providers.gateway.text_in(inbound(providers), "+447700900611", "2")
    providers.gateway.text_in(inbound(providers), "+447700900612", "2")
    answers = replies.answers_of(db.session.get(Alert, alert.id))
    assert [o["count"] for o in answers["options"]] == [0, 2]
    assert answers["wards"] == []  # no ward with 5 answers of any one kind: none named
    mail = db.session.scalar(select(Delivery.id).where(Delivery.channel == "email"))
    path = f"/answer/{answer_token(mail)}"
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)
    assert "You answered" not in client.get(path).text
    assert client.post(path, data={"csrf_token": token, "choice": "1"}).status_code == 302
    answers = replies.answers_of(db.session.get(Alert, alert.id))
    assert [o["count"] for o in answers["options"]] == [1, 1]
    client.get(path)  # the thanks, once
    said = client.get(path).text
    assert (
        'You answered “<span lang="en-GB">Yes</span>”. To change your answer, choose another.'
        in said
    )
    # On a Welsh page, the English answer marked as English (an outside check).
    welsh = client.get(path + "?lang=cy").text
    client.get(path + "?lang=en")
    assert '“<span lang="en-GB">Yes</span>”' in welsh


def yes_in_two_wards(
    providers, officer, make_resident, run_worker, central, lawrence_hill, *, again=False
):
    """The answers to an alert's question after `central` residents of Central and
    `lawrence_hill` of Lawrence Hill each texted 1 (Yes); `again`: other numbers, and
    the other residents' alerts answered first."""
    start = 50 if again else 0
    numbers = [(f"+4477009007{start + n:02d}", "BS1 6AD") for n in range(central)]
    numbers += [(f"+4477009008{start + n:02d}", "BS1 3AE") for n in range(lawrence_hill)]
    for number, postcode in numbers:
        make_resident(postcode=postcode, sms=number)
    alert = send(officer, run_worker, question="Did you see anything?", options=["Yes", "No"])
    for number, _postcode in numbers:
        providers.gateway.text_in(inbound(providers), number, "1")
    return replies.answers_of(db.session.get(Alert, alert.id))


def test_a_wards_hidden_answers_cannot_be_worked_out_from_the_totals(
    providers, officer, make_resident, run_worker
):
    """Found by an outside check: 7 said Yes, 5 of them in Central, and Ashley's hidden
    count was 7 - 5. A ward's small count is hidden with another beside it."""
    answers = yes_in_two_wards(providers, officer, make_resident, run_worker, 5, 2)
    assert [o["count"] for o in answers["options"]] == [7, 0]
    # Central's 5 is hidden with Lawrence Hill's 2; left with no count shown, Central is
    # not named either (named, its answers were at least one), nor is Lawrence Hill.
    assert answers["wards"] == []
    # With 6 and 6, both shown; the option nobody chose reads 0 in each.
    more = yes_in_two_wards(providers, officer, make_resident, run_worker, 6, 6, again=True)
    shown = {ward["name"]: ward["counts"] for ward in more["wards"]}
    assert shown == {"Central": {1: 6, 2: 0}, "Lawrence Hill": {1: 6, 2: 0}}


def test_a_wards_hidden_answers_are_not_pinned_by_a_total_shown_beside_them(
    providers, officer, make_resident, run_worker
):
    """Found by an outside check: each option's total is shown, but the table hid
    cells as if it were not: 4 and 4 in two wards, each "fewer than 5", under a total
    of 8 were 4 each. Where the total would be hidden, the option's wards are hidden as
    protecting one, and say so."""
    answers = yes_in_two_wards(providers, officer, make_resident, run_worker, 4, 4)
    assert [o["count"] for o in answers["options"]] == [8, 0]
    assert answers["wards"] == []  # neither has 5: neither is named


def test_a_ward_is_named_only_beside_a_count_shown(providers, officer, make_resident, run_worker):
    """Found by an outside check: a ward is listed only when someone there answered,
    so 2 Yes over two listed wards, both hidden, was 1 each; and 7 Yes, 5 in Central
    shown, two hidden wards: 1 each. A ward is named only beside a count of 5 or more
    that is shown; the rest are one cell, never shown, kept from being worked out."""
    numbers = [(f"+4477009009{n:02d}", "BS1 6AD", "1") for n in range(6)]  # Central: Yes
    numbers += [(f"+4477009009{n:02d}", "BS1 6AD", "2") for n in range(6, 12)]  # and No
    numbers += [("+447700900990", "BS1 3AE", "1"), ("+447700900991", "BS3 1AA", "1")]
    for number, postcode, _said in numbers:
        make_resident(postcode=postcode, sms=number)
    alert = send(officer, run_worker, question="Seen it?", options=["Yes", "No"])
    for number, _postcode, said in numbers:
        providers.gateway.text_in(inbound(providers), number, said)
    answers = replies.answers_of(db.session.get(Alert, alert.id))
    assert [o["count"] for o in answers["options"]] == [8, 6]
    # Central alone is named; its Yes (6 of 8: the other 2 in two wards not named) is
    # hidden with them, its No (6 of 6) shown.
    assert [ward["name"] for ward in answers["wards"]] == ["Central"]
    (central,) = answers["wards"]
    assert central["counts"] == {1: None, 2: 6}
    assert answers["hidden_label"] == "fewer than 5, or hidden to protect one"


def test_a_reply_that_overtakes_its_own_send_record_still_finds_its_alert(
    providers, officer, make_resident
):
    make_resident(sms="+447700900701")
    alert = send(officer, question="Seen this man?", options=["Yes", "No"])
    ids = list(db.session.scalars(select(Delivery.id).where(Delivery.alert_id == alert.id)))
    claim(ids)  # being sent: the text went, its record has not been written yet
    providers.gateway.text_in(inbound(providers), "+447700900701", "2")
    (reply,) = all_replies()
    assert (reply.alert_id, reply.kind, reply.answer) == (alert.id, "answer", 2)


def test_help_is_answered_automatically_but_not_without_end(
    providers, officer, make_resident, run_worker
):
    make_resident(sms="+447700900702")
    url = inbound(providers)
    for _ in range(3):
        providers.gateway.text_in(url, "+447700900702", "help")
    run_worker()
    answers = [a for a in providers.gateway.accepted if a.to == "+447700900702"]
    assert len(answers) == 2  # twice an hour at most: HELP cannot be used to spam
    assert "Reply STOP to stop" in answers[0].params["Body"]
    assert {r.kind for r in all_replies()} == {"help"}
    # Not abroad, nor to a number that is no mobile of ours to text, nor one that
    # texted STOP: HELP and "please stop sending me things" were answered in the US,
    # France, China and Nigeria, at the force's cost, and after a STOP (an outside
    # check).
    before = len(providers.gateway.accepted)
    # Nor to a Jersey or Isle of Man mobile nobody registered: Twilio bills them as abroad.
    for number in (
        "+12025550124",
        "+33612345678",
        "+8613800138000",
        "+2348012345678",
        "+447797712345",
        "+447624123456",
    ):
        providers.gateway.text_in(url, number, "HELP")
        providers.gateway.text_in(url, number, "please stop sending me things about my car")
    providers.gateway.text_in(url, "+449098790000", "HELP")
    providers.gateway.text_in(url, "+447700900609", "STOP\u200b")
    providers.gateway.text_in(url, "+447700900609", "HELP")
    run_worker()
    assert providers.gateway.accepted[before:] == []


def test_help_is_answered_by_the_residents_force_in_their_language(
    providers, make_resident, run_worker, second_force
):
    """Found by an outside check: a Wiltshire resident was answered by Avon and
    Somerset, and a Welsh resident in English."""
    make_resident(postcode="BA14 6AA", sms="+447700900703")
    welsh = make_resident(postcode="BS1 6AD", sms="+447700900704")
    welsh.language = "cy"
    db.session.commit()
    url = inbound(providers)
    providers.gateway.text_in(url, "+447700900703", "HELP")
    providers.gateway.text_in(url, "+447700900704", "help")
    run_worker()
    said = {a.to: a.params["Body"] for a in providers.gateway.accepted}
    wilts = said["+447700900703"]
    assert wilts.startswith("Wiltshire Police community alerts.")
    assert f"/forces/{second_force.slug}/manage" in wilts
    assert said["+447700900704"].startswith("Rhybuddion cymunedol Heddlu Avon a Gwlad yr Haf.")


def test_start_and_yes_undo_a_stop_texted_not_a_link_of_someone_sharing_the_number(
    providers, officer, make_resident, run_worker
):
    """Found by an outside check: "Yes" to an alert's question from a number two
    residents share, one of whom had unsubscribed by a link, was taken as START: it
    subscribed them again and the other's answer was lost. START undoes a STOP (the
    provider's too); a link's stop of one of several on the number stays, and a
    number's only resident texting START has texts again however they stopped."""
    from app.models import ResidentChannel
    from app.services.optout import unsubscribe_channel

    shared, alone = "+447700900811", "+447700900812"
    answering = make_resident(sms=shared)
    unlinked = make_resident(sms=shared)
    by_link = make_resident(sms=alone)
    unsubscribe_channel(unlinked.id, "sms")
    unsubscribe_channel(by_link.id, "sms")

    def on(resident) -> bool:
        db.session.rollback()
        channel = db.session.get(ResidentChannel, (resident.id, "sms"))
        return channel.unsubscribed_at is None

    alert = send(officer, run_worker, question="Did you see the van?", options=["Yes", "No"])
    url = inbound(providers)
    providers.gateway.text_in(url, shared, "Yes")
    assert [o["count"] for o in replies.answers_of(db.session.get(Alert, alert.id))["options"]] == [
        1,
        0,
    ]
    assert not on(unlinked)
    providers.gateway.text_in(url, shared, "STOP")
    assert not on(answering) and not on(unlinked)
    providers.gateway.text_in(url, shared, "START")
    assert on(answering) and not on(unlinked)
    providers.gateway.text_in(url, alone, "START")
    assert on(by_link)


def test_a_call_takes_its_answer_by_keypad_once(providers, officer, make_resident, run_worker):
    make_resident(sms=None, voice="+441174960701")
    alert = send(officer, run_worker, question="Did you hear anything?", options=["Yes", "No"])
    (call,) = providers.gateway.accepted
    assert "Did you hear anything? Press 1 for Yes, 2 for No." in call.params["Twiml"]
    assert providers.gateway.press_keys(call, "2") == 200
    said = providers.gateway.last_answer
    assert "Thank you for your answer." in said and "To stop these calls, call 101." in said
    assert 'voice="Polly.Amy"' in said
    assert providers.gateway.press_keys(call, "2") == 200  # the same callback again
    # No such option, or a digit no keypad sends: nothing recorded, and the caller is
    # told so rather than left in silence (found by an outside probe).
    for wrong in ("8", "\u0661", "\uff11", "*"):
        assert providers.gateway.press_keys(call, wrong) == 200
        assert "not one of the choices" in providers.gateway.last_answer
    (reply,) = all_replies()
    assert (reply.alert_id, reply.channel, reply.kind, reply.answer) == (
        alert.id,
        "voice",
        "answer",
        2,
    )


def test_nine_on_the_keypad_stops_the_calls_to_that_phone(
    providers, officer, make_resident, run_worker
):
    """A resident who hears only by landline could not stop the calls: each call said
    "call 101", the manage page takes only a mobile or an e-mail, and nobody at 101 had
    a way to stop them (an outside check). Every alert's call now ends "press 9"."""
    from app.models import ResidentChannel

    first = make_resident(sms=None, email=None, voice="+441174960709", name="Ivy")
    same_phone = make_resident(sms=None, email=None, voice="+441174960709", name="Her son")
    other = make_resident(sms=None, email=None, voice="+441174960710", name="Neighbour")
    send(officer, run_worker)  # no question: the call still takes a key
    calls = {call.to: call for call in providers.gateway.accepted}
    assert set(calls) == {"+441174960709", "+441174960710"}
    twiml = calls["+441174960709"].params["Twiml"]
    assert "To stop these calls, press 9 now, or call 101." in twiml
    assert re.search(r"<Gather [^>]*>.*press 9 now.*</Gather>", twiml)
    assert providers.gateway.press_keys(calls["+441174960709"], "9") == 200
    said = providers.gateway.last_answer
    assert "You will get no more calls from us." in said and "<Hangup/>" in said
    db.session.expire_all()
    stopped = dict(
        db.session.execute(
            select(ResidentChannel.resident_id, ResidentChannel.unsubscribed_at).where(
                ResidentChannel.channel == "voice"
            )
        ).all()
    )
    assert stopped[first.id] is not None and stopped[same_phone.id] is not None
    assert stopped[other.id] is None
    events = db.session.scalars(
        select(AuditEvent.details).where(AuditEvent.action == "resident.unsubscribed")
    ).all()
    assert events == [{"channel": "voice", "how": "pressed 9 on a call"}] * 2
    # The next alert calls the neighbour only (once its first call has ended: no call
    # goes to a number while another to it may still ring).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and db.session.scalar(
        select(func.count()).where(Delivery.status == "sent", Delivery.channel == "voice")
    ):
        db.session.rollback()
        time.sleep(0.05)
    before = len(providers.gateway.accepted)
    send(officer, run_worker)
    assert [call.to for call in providers.gateway.accepted[before:]] == ["+441174960710"]


def test_a_welsh_speaker_is_answered_in_welsh_after_pressing_a_key(
    providers, officer, make_resident, run_worker
):
    resident = make_resident(sms=None, voice="+441174960703")
    resident.language = "cy"
    db.session.commit()
    send(officer, run_worker, question="Did you hear anything?", options=["Yes", "No"])
    (call,) = providers.gateway.accepted
    assert providers.gateway.press_keys(call, "1") == 200
    said = providers.gateway.last_answer
    assert "Diolch am eich ateb." in said and "I atal y galwadau hyn, ffoniwch 101." in said
    assert 'voice="Polly.Gwyneth" language="cy-GB"' in said and "Thank you" not in said
    providers.gateway.press_keys(call, "7")
    assert "allwedd honno'n un o'r dewisiadau" in html.unescape(providers.gateway.last_answer)


def test_confirm_receipt_counts_confirmed_not_confirmed_and_unreachable_per_channel(
    providers, officer, make_resident, run_worker, client
):
    make_resident(sms="+447700900801")
    make_resident(sms="+447700900802")
    make_resident(sms="+447700900803")
    make_resident(sms=None, voice="+441174960801")
    make_resident(sms=None, email="conf@example.invalid")
    providers.gateway.errors_for["+447700900803"] = (400, 21614, "not a mobile number")
    alert = send(officer, run_worker, confirm=True)
    body = next(a for a in providers.gateway.accepted if a.to == "+447700900801").params["Body"]
    assert "Reply OK to confirm you got this." in body
    providers.gateway.text_in(inbound(providers), "+447700900801", "Ok!")
    (call,) = [a for a in providers.gateway.accepted if a.kind == "Calls"]
    providers.gateway.press_keys(call, "1")
    (mail,) = providers.mail.messages
    link = re.search(r"https?://\S+/answer/\S+", mail.get_body(("plain",)).get_content()).group(0)
    path = link.split("://", 1)[1].split("/", 1)[1]
    page = client.get("/" + path)
    assert page.status_code == 200 and "I got this message" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    # Its thanks by a redirect, so Back and Forward past it do not ask to send the
    # answer again (an outside check); once: reloaded, the choices again.
    posted = client.post("/" + path, data={"csrf_token": token, "choice": "confirm"})
    assert posted.status_code == 302 and posted.location == "/" + path
    thanks = client.get(posted.location)
    assert thanks.status_code == 200 and "We know you got our message" in thanks.text
    # Reloaded, the choices again, saying what was given (it showed the question as
    # if nothing had gone: an outside check).
    again = client.get("/" + path).text
    assert "I got this message" in again and "You told us you got this message." in again
    receipt = replies.answers_of(db.session.get(Alert, alert.id))["receipt"]
    assert receipt == {
        "email": {"confirmed": 1, "not_confirmed": 0, "unreachable": 0},
        "sms": {"confirmed": 1, "not_confirmed": 1, "unreachable": 1},
        "voice": {"confirmed": 1, "not_confirmed": 0, "unreachable": 0},
    }


def test_an_answer_link_that_is_not_ours_or_a_choice_not_offered_is_refused(
    app_ctx, client, officer, make_resident, run_worker, monkeypatch
):
    make_resident(sms=None, email="q@example.invalid")
    send(officer, run_worker, question="Seen it?", options=["Yes", "No"])
    (delivery_id,) = db.session.scalars(select(Delivery.id))
    assert client.get("/answer/not-a-token").status_code == 404
    path = f"/answer/{answer_token(delivery_id)}"
    page = client.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    refused = client.post(path, data={"csrf_token": token, "choice": "7"})
    assert refused.status_code == 400 and "Choose one of the answers shown." in refused.text
    # The button's value and nothing else ("١", "１" and "1\n2" were answer 1: an outside
    # check).
    for odd in ("\u0661", "\uff11", "1\n2", " 1", "01"):
        answer = client.post(path, data={"csrf_token": token, "choice": odd})
        assert answer.status_code == 400, odd
    assert all_replies() == []
    # The same answer again adds nothing; another answer counts (the latest); a link
    # changes its answer at most WEB_ANSWERS_AN_HOUR times an hour (each post was a
    # row, without end).
    monkeypatch.setattr(replies, "WEB_ANSWERS_AN_HOUR", 2)
    for choice in ("1", "1", "2"):
        assert client.post(path, data={"csrf_token": token, "choice": choice}).status_code == 302
    assert [r.answer for r in all_replies()] == [1, 2]
    many = client.post(path, data={"csrf_token": token, "choice": "1"})
    assert many.status_code == 400 and "your latest answer counts" in many.text
    assert [r.answer for r in all_replies()] == [1, 2]


def test_an_answer_link_of_an_alert_taken_down_names_it_no_more_and_takes_no_answer(
    app_ctx, client, officer, make_resident, run_worker
):
    """Found by an outside check: once an alert's page was taken down (a missing person
    found), its e-mails' answer page still showed its title and took answers: a
    forwarded e-mail kept the name reachable."""
    from datetime import UTC, datetime

    make_resident(sms=None, email="down@example.invalid")
    alert = send(officer, run_worker, question="Seen Sam Jones?", options=["Yes", "No"])
    (delivery_id,) = db.session.scalars(select(Delivery.id))
    path = f"/answer/{answer_token(delivery_id)}"
    page = client.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    db.session.get(Alert, alert.id).taken_down_at = datetime.now(UTC)
    db.session.commit()
    gone = client.get(path)
    assert gone.status_code == 410 and "taken this alert" in gone.text
    assert alert.title not in gone.text and "Sam Jones" not in gone.text
    posted = client.post(path, data={"csrf_token": token, "choice": "1"})
    assert posted.status_code == 410 and "Sam Jones" not in posted.text
    assert all_replies() == []
    with pytest.raises(replies.ReplyRefused):
        replies.receive_web_answer(delivery_id, "1")


def test_the_same_answer_pressed_four_times_at_once_is_one_answer(
    app, app_ctx, officer, make_resident, run_worker, monkeypatch
):
    """Found by an outside check: four presses of the same answer at once made two rows
    (each read the latest before any wrote). Each press reads slowly here, so that
    all four read before any writes unless one waits for another."""
    import threading

    from app.dao import replies as replies_dao

    latest = replies_dao.latest_web_answer

    def slowly(delivery_id):
        found = latest(delivery_id)
        time.sleep(0.3)
        return found

    monkeypatch.setattr(replies_dao, "latest_web_answer", slowly)

    make_resident(sms=None, email="race@example.invalid")
    send(officer, run_worker, question="Seen it?", options=["Yes", "No"])
    (delivery_id,) = db.session.scalars(select(Delivery.id))
    db.session.commit()
    start = threading.Barrier(4)

    def press() -> None:
        with app.app_context():
            start.wait()
            replies.receive_web_answer(delivery_id, "2")
            db.session.commit()

    presses = [threading.Thread(target=press) for _ in range(4)]
    for each in presses:
        each.start()
    for each in presses:
        each.join(20)
    db.session.rollback()
    assert [r.answer for r in all_replies()] == [2]


def test_once_a_resident_has_deleted_their_details_their_messages_take_no_answers(
    providers, client, officer, make_resident, run_worker
):
    """Found by an outside probe: an old answer link and a call's keys still recorded
    answers, under the pseudonymised address, after the resident had left."""
    by_mail = make_resident(sms=None, email="gone@example.invalid")
    by_call = make_resident(sms=None, voice="+441174960702")
    send(officer, run_worker, question="Seen it?", options=["Yes", "No"])
    (call,) = providers.gateway.accepted
    mail_delivery = db.session.scalar(select(Delivery.id).where(Delivery.channel == "email"))
    path = f"/answer/{answer_token(mail_delivery)}"
    page = client.get(path)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    for resident in (by_mail, by_call):
        delete_resident(db.session.merge(resident))
    assert client.get(path).status_code == 404
    gone = client.post(path, data={"csrf_token": token, "choice": "1"})
    assert gone.status_code == 404 and "nothing to answer" in gone.text
    assert providers.gateway.press_keys(call, "1") == 200
    assert all_replies() == []


def test_an_officer_answers_a_text_through_the_engine_and_every_view_is_audited(
    app, providers, officer, make_resident, run_worker
):
    make_resident(sms="+447700900901")
    send(officer, run_worker)
    providers.gateway.text_in(inbound(providers), "+447700900901", "There is smoke now")
    seen = replies.read_inbox(officer)
    (shown,) = seen["replies"]
    assert shown["from"] == "+447••••••901" and shown["new"] is True
    assert "+447700900901" not in repr(seen)
    assert replies.read_inbox(officer)["replies"][0]["new"] is False  # read now
    notice_id = replies.answer_reply(officer, shown["id"], SAVED := replies.SAVED_ANSWERS[0][0])
    run_worker()
    # The automatic thanks and the officer's answer, each queued at the front: in
    # whichever order the worker took them.
    sent = [a.params["Body"] for a in providers.gateway.accepted if a.to == "+447700900901"][1:]
    (thanks,) = [body for body in sent if "your message has reached our team" in body]
    (answer,) = [body for body in sent if SAVED in body]
    assert len(sent) == 2
    assert answer.endswith("\n- Avon and Somerset Police. Reply STOP to stop.")
    assert db.session.get(ResidentNotice, notice_id).status in ("sent", "delivered")
    actions = db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions.count("replies.viewed") == 2 and "reply.answered" in actions
    with pytest.raises(replies.ReplyRefused, match="Write an answer"):
        replies.answer_reply(officer, shown["id"], "   ")
    # From the page, with the alert to go back to as a form field: "²" is a digit to
    # str.isdigit(), not to int(). The answer goes, and the inbox shows it.
    page = signed_in(app, officer, "officer")
    answered = page.post(
        f"/officers/replies/{shown['id']}/answer",
        data={"words": "On our way.", "back_to_alert": "²"},
    )
    assert answered.status_code == 302
    assert answered.headers["Location"].endswith(f"/officers/inbox#reply-{shown['id']}")
    # A refused answer comes back in its box, by why (it was flashed after a redirect
    # and what was typed was lost: an outside check).
    refused = page.post(
        f"/officers/replies/{shown['id']}/answer", data={"words": "On our \u202eway."}
    )
    assert refused.status_code == 400
    assert f'id="words-{shown["id"]}-error"' in refused.text
    assert "On our \u202eway." in refused.text


def test_no_answer_goes_to_a_number_that_texted_stop_until_it_texts_start(
    app, providers, officer, make_resident, run_worker
):
    """Found by an outside check: an officer's answer to a message went to its number
    after the number had texted STOP, a resident's or nobody's, and was delivered."""
    make_resident(sms="+447700900911")
    send(officer, run_worker)
    gateway = providers.gateway
    for number in ("+447700900911", "+447700900912"):  # a resident's, and nobody's
        gateway.text_in(inbound(providers), number, "Is the road open yet?")
    shown = {r.address: r.id for r in all_replies()}
    # An answer written before the STOP, still waiting to go, does not go either.
    waiting = replies.answer_reply(officer, shown["+447700900912"], "Not yet.")
    for number in ("+447700900911", "+447700900912"):
        gateway.text_in(inbound(providers), number, "STOP")
    db.session.rollback()
    assert db.session.get(ResidentNotice, waiting).status == "cancelled"
    for number in ("+447700900911", "+447700900912"):
        with pytest.raises(replies.ReplyRefused, match="has texted STOP since"):
            replies.answer_reply(officer, shown[number], "It is open now.")
    run_worker()
    assert not [a for a in gateway.accepted if a.to == "+447700900912"]
    # Nor a message it sends after its STOP (one from a number nobody holds was
    # answered: a re-check).
    gateway.text_in(inbound(providers), "+447700900912", "One more question: the park?")
    later = all_replies()[-1].id
    with pytest.raises(replies.ReplyRefused, match="has texted STOP since"):
        replies.answer_reply(officer, later, "It is open.")
    # START: its messages take answers again.
    gateway.text_in(inbound(providers), "+447700900912", "START")
    db.session.rollback()
    replies.answer_reply(officer, shown["+447700900912"], "It is open now.")
    run_worker()
    (answer,) = [a for a in gateway.accepted if a.to == "+447700900912"]
    assert "It is open now." in answer.params["Body"]


def test_a_number_whose_first_text_is_stop_takes_no_answer_until_it_wants_texts(
    app, monkeypatch, providers, officer, make_resident, run_worker
):
    """Found reading the change: a number nobody holds whose first text was STOP had no
    earlier message to carry its STOP, and its next message was answered by text."""
    from app.models import StoppedNumber
    from app.services import verification
    from app.services.residents import purge_expired, set_channel

    number = "+447700900913"
    gateway, url = providers.gateway, inbound(providers)
    starts = select(func.count()).where(AuditEvent.action == "resident.sms_started")
    # START from a number that never stopped starts nothing, and says nothing (it read
    # as a resident taking texts again: an outside check).
    gateway.text_in(url, "+447700900916", "START")
    db.session.rollback()
    assert db.session.scalar(starts) == 0
    gateway.text_in(url, number, "STOP")
    gateway.text_in(url, number, "Is the park open?")
    (message,) = all_replies()  # the STOP is no message
    assert message.number_stopped_at is not None
    with pytest.raises(replies.ReplyRefused, match="has texted STOP since"):
        replies.answer_reply(officer, message.id, "It is open.")
    # Kept by the number keyed, not the number.
    (key,) = db.session.scalars(select(StoppedNumber.number_key)).all()
    assert number[1:] not in key and "900913" not in key
    # Its YES is a START now (it stopped texts), and STOP again stops again.
    gateway.text_in(url, number, "YES")
    db.session.rollback()
    assert db.session.scalar(starts) == 1
    replies.answer_reply(officer, message.id, "It is open.")
    gateway.text_in(url, number, "STOP")
    db.session.rollback()
    with pytest.raises(replies.ReplyRefused, match="has texted STOP since"):
        replies.answer_reply(officer, message.id, "It is open, really.")

    # Someone signs up with it and types in the code texted to it: it wants texts, and
    # its messages take answers (its YES to a question is no START).
    resident = make_resident(sms=None, email="owner@example.com")
    set_channel(db.session.get(type(resident), resident.id), "sms", number)
    run_worker()
    code = re.search(
        r"\b(\d{6})\b", [a for a in gateway.accepted if a.to == number][-1].params["Body"]
    )
    verification.check_code(db.session.get(type(resident), resident.id), "sms", code.group(1))
    assert db.session.scalars(select(StoppedNumber.number_key)).all() == []
    db.session.rollback()
    replies.answer_reply(officer, message.id, "It is open now.")
    before = db.session.scalar(starts)
    gateway.text_in(url, number, "YES")
    db.session.rollback()
    assert db.session.scalar(starts) == before

    # A STOP kept by itself goes after RETENTION_DAYS, as the messages it stopped.
    gateway.text_in(url, "+447700900914", "STOP")
    monkeypatch.setitem(app.config, "RETENTION_DAYS", 30)
    db.session.execute(
        StoppedNumber.__table__.update().values(
            stopped_at=func.now() - db.text("interval '31 days'")
        )
    )
    db.session.commit()
    assert purge_expired()["number_stops_removed"] == 1
    assert db.session.scalars(select(StoppedNumber.number_key)).all() == []


def test_a_team_reads_and_answers_only_its_own_alerts_replies_and_messages(
    app, providers, officer, make_officer, make_resident, run_worker
):
    """A team's officer read, and answered by text, the residents' replies to another
    team's alert in the inbox, and read that alert's messages in the outbox, both of
    its own page refused them (an outside check)."""
    from app.services import teams

    admin, other = make_officer(role="admin"), make_officer(email="other@police.example")
    for name, member in (("Ours", officer), ("Theirs", other)):
        team = teams.create_team(admin, name)
        teams.set_members(admin, team.id, [str(member.id)])
    make_resident(sms="+447700900801")
    alert = send(officer, run_worker)
    url = inbound(providers)
    providers.gateway.text_in(url, "+447700900801", "A van on Elm Road")
    providers.gateway.text_in(url, "+447700900899", "Who is this?")  # to no alert
    reply, stranger = all_replies()
    assert reply.alert_id == alert.id and stranger.alert_id is None

    def shown(who) -> set[int]:
        return {item["id"] for item in replies.read_inbox(who)["replies"]}

    assert shown(officer) == shown(admin) == {reply.id, stranger.id}
    assert shown(other) == {stranger.id}
    with pytest.raises(replies.ReplyRefused, match="another team's alert"):
        replies.answer_reply(other, reply.id, "We are on our way.")
    page = signed_in(app, other, "officer")
    refused = page.post(f"/officers/replies/{reply.id}/answer", data={"words": "On our way."})
    assert (
        refused.status_code == 302 and "A van on Elm Road" not in page.get("/officers/inbox").text
    )
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(ResidentNotice)
            .where(ResidentNotice.kind == "officer_answer")
        )
        == 0
    )
    assert replies.answer_reply(other, stranger.id, "This is the police.")  # everyone's


def test_a_text_from_something_that_is_not_a_number_is_refused_and_nothing_kept(
    providers, make_resident
):
    status = providers.gateway.text_in(inbound(providers), "not-a-number", "hi")
    assert status == 400
    # Nor a number with a digit of another script in it: it was kept as it came, and
    # an officer's answer was sent to it (an outside check).
    for odd in ("+4477009003\uff10", "+44770090033\u0660"):
        assert providers.gateway.text_in(inbound(providers), odd, "hi") == 400
    assert db.session.scalar(select(func.count()).select_from(Reply)) == 0


def test_a_text_keeps_no_control_characters_and_an_empty_one_is_not_an_inbox_message(
    providers, make_resident
):
    """Signed webhooks with a NUL in the SID or the text reached PostgreSQL (a 400 HTML
    page, the message lost); empty texts and escape sequences were blank inbox messages
    (an outside check)."""
    make_resident(sms="+447700900509")
    url = inbound(providers)
    text_in = providers.gateway.text_in
    assert text_in(url, "+447700900509", "Saw a van", sid="SM\x00" + "1" * 31) == 400
    assert text_in(url, "+447700900509", "a\x00b \x1b[0mvan\x01", sid="SM" + "1" * 32) == 200
    # Nothing visible: zero-width characters, a C1 control (a re-check).
    for n, body in enumerate(("", "   ", "\x01\x1b", "\x00", "\u200b\u200d\ufeff", "\x85")):
        assert text_in(url, "+447700900509", body, sid=f"SM{n}" + "2" * 31) == 200
    assert [(r.kind, r.body) for r in all_replies()] == [("message", "ab [0mvan")]
    # Nor blank glyphs, accents alone or variation selectors: they were inbox messages
    # that showed nothing, and were thanked (an outside check).
    make_resident(sms="+447700900510")
    blank = ("\u3164", "\u115f", "\uffa0", "\u2800 \u2800", "\u0301", "\ufe0f")
    for n, body in enumerate(blank):
        assert text_in(url, "+447700900510", body, sid=f"SM{n}" + "3" * 31) == 200
    assert len(all_replies()) == 1
    thanked = select(ResidentNotice.address).where(ResidentNotice.kind == "thanks")
    assert db.session.scalars(thanked).all() == ["+447700900509"]


def test_replies_are_in_the_residents_download_and_go_after_the_retention_period(
    providers, officer, make_resident, run_worker, app, monkeypatch
):
    from app.services.residents import export_data, purge_expired

    resident = make_resident(sms="+447700900951")
    send(officer, run_worker)
    providers.gateway.text_in(inbound(providers), "+447700900951", "My shed too")
    (sent,) = export_data(db.session.get(type(resident), resident.id))["what_you_sent_us"]
    assert (sent["words"], sent["from"], sent["channel"]) == ("My shed too", "+447700900951", "sms")
    monkeypatch.setitem(app.config, "RETENTION_DAYS", 30)
    db.session.execute(
        Reply.__table__.update().values(received_at=func.now() - db.text("interval '31 days'"))
    )
    db.session.commit()
    assert purge_expired()["replies_removed"] == 1
    assert all_replies() == []


STOPS = (
    "Stop please",
    "STOP 🙏",
    '"Stop"',
    "‘STOP’",
    "unsubscribe me",
    "Stop\nSent from my iPhone",
    "ＳＴＯＰ",
    "stop\u200b",
    "OPTOUT",
    "revoke",
    "Stop.",
    "Stopio",
    "opt out",
    "Please stop.",
    # Plain words (an outside check: these went to the inbox, and the texts went on).
    "Please stop sending me these",
    "Stopiwch",
    "Remove me from this list",
    "dim mwy",
    # More plain words (an outside check: 15 of 21 did not stop, 13 with no answer).
    "Can you stop sending these",
    "Pls stop",
    "I want to unsubscribe",
    "No more texts please",
    "I don't want these any more",
    "Opt me out",
    "Please remove my number",
    "Tynnwch fi oddi ar y rhestr",
    "Peidiwch ag anfon negeseuon",
    "dim mwy diolch",
    "Dim mwy o negeseuon os gwelwch yn dda",
    "S T O P",
    "STOPP",
    # An iPhone's apostrophe, and more (a re-check).
    "I don\u2019t want these any more",
    "Don't text me again",
    "Cancel my alerts",
    "Dad-danysgrifio",
    "Tynnwch fy rhif",
    "Peidiwch â fy nhecstio",
    # As it shows: accented, look-alike letters of other alphabets, and the word in
    # Cyrillic (an outside check: each was a message, and the texts went on).
    "ŚTOP",
    "Stóp",
    "\u0405\u0422\u041e\u0420",
    "стоп",
)


def test_stop_however_people_write_it_stops_and_yes_is_an_answer_unless_stopped(
    providers, officer, make_resident, run_worker
):
    """Found by an outside probe: "Stop please", a quoted or full-width STOP, STOP with
    an emoji or a phone's signature did not stop texts, and "Yes" to "Reply 1 for Yes"
    was taken as START and lost. Words that only end texts when alone (END, CANCEL)
    leading a sentence are a message."""
    from app.models import ResidentChannel

    numbers = [f"+4477009007{n:02d}" for n in range(len(STOPS) + 4)]
    for number in numbers:
        make_resident(sms=number)
    alert = send(officer, run_worker, question="Did you see anything?", options=["Yes", "No"])
    url = inbound(providers)
    for number, body in zip(numbers, STOPS, strict=False):
        assert providers.gateway.text_in(url, number, body) == 200
    for body in ("STOP", "Stop again", "stop"):  # ten STOPs recorded ten stops (an outside check)
        assert providers.gateway.text_in(url, numbers[0], body) == 200
    said_yes, said_no, said_end, stopped_then_yes = numbers[len(STOPS) :]
    providers.gateway.text_in(url, said_yes, "Yes")
    providers.gateway.text_in(url, said_no, "no.")
    providers.gateway.text_in(url, said_end, "End of my road is blocked by a van")
    providers.gateway.text_in(url, stopped_then_yes, "STOP")
    providers.gateway.text_in(url, stopped_then_yes, "Yes")
    db.session.rollback()
    stopped = set(
        db.session.scalars(
            select(ResidentChannel.address).where(ResidentChannel.unsubscribed_at.is_not(None))
        )
    )
    assert stopped == set(numbers[: len(STOPS)])
    assert [o["count"] for o in replies.answers_of(db.session.get(Alert, alert.id))["options"]] == [
        1,
        1,
    ]
    (end,) = [reply for reply in all_replies() if reply.address == said_end]
    assert end.kind == "message"
    stops = db.session.scalar(
        select(func.count()).where(AuditEvent.action == "resident.sms_stopped")
    )
    assert stops == len(STOPS) + 1  # each number once, and the one that said YES after


def test_a_stop_in_words_twilio_does_not_answer_is_answered_in_the_residents_language(
    providers, officer, make_resident
):
    """Twilio answers its own STOP; a Welsh resident who followed "Atebwch STOP i
    stopio" with STOPIO heard nothing back, and could not tell it had worked (an outside
    check)."""
    welsh = make_resident(sms="+447700900761")
    welsh.language = "cy"
    make_resident(sms="+447700900762")
    make_resident(sms="+447700900763")
    db.session.commit()
    url = inbound(providers)
    assert providers.gateway.text_in(url, "+447700900761", "Stopio") == 200
    assert "<Message>Ni chewch ragor o negeseuon testun gennym" in providers.gateway.last_answer
    providers.gateway.text_in(url, "+447700900762", "Please stop sending me these")
    said = providers.gateway.last_answer
    assert "<Message>You will get no more texts from us on this number." in said
    assert "Reply START to restart." in said
    providers.gateway.text_in(url, "+447700900763", "STOP")  # Twilio's own: it answers
    assert "<Message>" not in providers.gateway.last_answer
    providers.gateway.text_in(url, "+447700900763", " stop. ")  # so it does this
    assert "<Message>" not in providers.gateway.last_answer
    # STOP as a phone may send it that Twilio's opt-out does not read (a zero-width
    # space, full-width letters, a Hangul filler, a direction mark): stopped here, and
    # answered by us, as Twilio never does (nobody was told: an outside check).
    stops = ("STOP\u200b", "ＳＴＯＰ", "\u3164STOP", "stop\u202e", "ŚTOP", "стоп")
    for n, body in enumerate(stops):
        number = f"+44770090077{n}"
        assert providers.gateway.text_in(url, number, body) == 200
        assert optout.number_stopped(number), body
        assert "<Message>You will get no more texts from us" in providers.gateway.last_answer
    # As every automatic answer: to a UK mobile only, twice an hour (a paid number abroad
    # sending it again and again was answered each time: a review). Stopped all the same.
    providers.gateway.text_in(url, "+12025550199", "STOP\u200b")
    assert optout.number_stopped("+12025550199")
    assert "<Message>" not in providers.gateway.last_answer
    for n in range(3):
        providers.gateway.text_in(url, "+447700900779", "Stopio")
        assert ("<Message>" in providers.gateway.last_answer) == (n < 2), n


def test_a_message_that_names_stopping_is_kept_and_answered_with_how_to_stop(
    providers, officer, make_resident, run_worker
):
    """Words that name stopping without asking it plainly stay a message for the
    officers, and the sender is told how to stop (nothing told them: an outside check)."""
    from app.models import ResidentChannel

    make_resident(sms="+447700900751")
    send(officer, run_worker)
    body = "Can you stop the cars speeding on Elm Road"
    assert providers.gateway.text_in(inbound(providers), "+447700900751", body) == 200
    run_worker()
    (reply,) = all_replies()
    assert (reply.kind, reply.body) == ("message", body)
    assert (
        db.session.scalar(
            select(ResidentChannel.unsubscribed_at).where(
                ResidentChannel.address == "+447700900751"
            )
        )
        is None
    )
    (told,) = [a for a in providers.gateway.accepted if a.to == "+447700900751"][1:]
    assert "Reply STOP to stop texts" in told.params["Body"]


@pytest.mark.parametrize(
    "body",
    [
        "Dim mwy o geir yn goryrru",
        "No more cars on my road please",
        "Opt in please?",
        # Messages to the police that begin as a stop does: each stopped the texts of
        # everyone sharing the number, and never reached the inbox (a re-check).
        "I don't want these kids hanging around my house",
        "Stop! There is a man in my garden",
        "Stopiwch y ceir yn goryrru",
        "Can you stop texting my daughter, it's a scam",
        # No answer of any kind before (a re-check).
        "Wrong number",
        "Leave me alone",
        "Na diolch",
    ],
)
def test_leaving_words_in_a_message_to_the_police_keep_it_and_answer_how_to_stop(
    providers, officer, make_resident, run_worker, body
):
    # "No more texts please" stops; these are messages to the officers, answered with
    # how to stop in case (Welsh and English leaving words had no answer of any kind).
    make_resident(sms="+447700900752")
    assert providers.gateway.text_in(inbound(providers), "+447700900752", body) == 200
    run_worker()
    (reply,) = all_replies()
    assert (reply.kind, reply.body) == ("message", body)
    told = [a for a in providers.gateway.accepted if a.to == "+447700900752"]
    assert len(told) == 1
    if body.startswith("I don't want"):  # names no stopping: thanked, not told how
        assert "your message has reached our team" in told[0].params["Body"]
        return
    assert "Reply STOP to stop texts" in told[0].params["Body"]


def test_a_message_to_the_police_is_answered_once_a_day_with_where_to_go_now(
    providers, officer, make_resident, run_worker, second_force
):
    """ "There is a man in my garden" had no answer of any kind: its sender could wait
    for one that never came. Thanked at once, told it may not be read straight away
    and to call 999 in an emergency: once a day a number, by the resident's force in
    their language, never an answer to a quick question nor to a number that texted
    STOP."""
    make_resident(sms="+447700900761")
    make_resident(postcode="BA14 6AA", sms="+447700900762")
    welsh = make_resident(sms="+447700900763")
    welsh.language = "cy"
    make_resident(sms="+447781123456")  # a Guernsey mobile: registered, so answered
    db.session.commit()
    send(officer, run_worker, question="Seen it?", options=["Yes", "No"])
    url = inbound(providers)
    gateway = providers.gateway
    before = len(gateway.accepted)
    gateway.text_in(url, "+447700900761", "There is a man in my garden")
    gateway.text_in(url, "+447700900761", "He has gone towards the park")
    gateway.text_in(url, "+447700900762", "Saw a van")
    gateway.text_in(url, "+447700900763", "Gwelais fan")
    gateway.text_in(url, "+447700900764", "Who is this?")  # a number nobody holds
    gateway.text_in(url, "+19005550100", "Hello")  # abroad: no answer to run up costs
    gateway.text_in(url, "+449098790000", "Hello")  # premium rate: none (an outside check)
    gateway.text_in(url, "+441481123456", "Hello")  # a Guernsey landline: none
    gateway.text_in(url, "+447781123456", "Hello")
    gateway.text_in(url, "+447624123456", "Hello")  # an Isle of Man mobile nobody holds: none
    gateway.text_in(url, "+447700900765", "STOP")
    gateway.text_in(url, "+447700900765", "Why did you text me")
    gateway.text_in(url, "+447700900761", "1")  # the quick question's answer
    run_worker()
    said = {}
    for sent in gateway.accepted[before:]:
        said.setdefault(sent.to, []).append(sent.params["Body"])
    (first,) = said.pop("+447700900761")
    assert first.startswith("Avon and Somerset Police community alerts: thank you")
    assert "in an emergency call 999" in first
    assert said.pop("+447700900762")[0].startswith("Wiltshire Police community alerts")
    (welsh_thanks,) = said.pop("+447700900763")
    assert welsh_thanks.startswith("Rhybuddion cymunedol Heddlu Avon a Gwlad yr Haf: diolch")
    assert said.pop("+447700900764")[0].startswith("Avon and Somerset Police community")
    assert said.pop("+447781123456")[0].startswith("Avon and Somerset Police community")
    assert "+447700900765" not in said and said == {}
    kinds = [r.kind for r in all_replies()]
    assert kinds.count("message") == 11 and kinds.count("answer") == 1


def test_the_same_answer_sent_again_within_moments_is_sent_once(
    app, providers, officer, make_resident, run_worker
):
    """Found by an outside check: one message answered six times in five seconds was
    six texts. The same words again within ANSWER_REPEAT_SECONDS are the answer sent;
    other words go."""
    make_resident(sms="+447700900941")
    providers.gateway.text_in(inbound(providers), "+447700900941", "Is the road open?")
    (shown,) = replies.read_inbox(officer)["replies"]
    first = replies.answer_reply(officer, shown["id"], "It is open.")
    assert replies.answer_reply(officer, shown["id"], "It is open. ") == first
    other = replies.answer_reply(officer, shown["id"], "It is open now, both ways.")
    assert other != first
    run_worker()
    # And once the first has gone, its text dropped (a re-check: a tap a second later,
    # after the answer was delivered, sent it again).
    assert replies.answer_reply(officer, shown["id"], "It is open.") == first
    assert replies.answer_reply(officer, shown["id"], "It is  open.") == first
    # The page says so: "Your answer is on its way." of one not sent again (a re-check).
    page = signed_in(app, officer, "officer")
    again = page.post(f"/officers/replies/{shown['id']}/answer", data={"words": "It is open."})
    assert again.status_code == 302
    said = page.get(again.headers["Location"]).text.replace("&#39;", "'")
    assert "That answer went to them a moment ago: it is not sent twice." in said
    assert "Your answer is on its way." not in said
    run_worker()
    said = [a.params["Body"] for a in providers.gateway.accepted if a.to == "+447700900941"]
    assert sum(body.startswith("It is open.") for body in said) == 1
    assert sum(body.startswith("It is open now") for body in said) == 1


def test_the_inbox_says_a_number_abroad_is_abroad(app, providers, officer, make_resident):
    """Found by an outside check: an officer's answer to a text from +336… went to
    France, the inbox showing only the masked number: it says the answer goes abroad,
    and costs more; a UK number's does not."""
    providers.gateway.text_in(inbound(providers), "+33612345678", "Bonjour")
    providers.gateway.text_in(inbound(providers), "+447700900932", "Hello")
    # Jersey's +44 too: Twilio bills it as abroad (a review).
    providers.gateway.text_in(inbound(providers), "+447797712345", "Hello from Jersey")
    shown = {r["body"]: r["abroad"] for r in replies.read_inbox(officer)["replies"]}
    assert shown == {"Bonjour": True, "Hello": False, "Hello from Jersey": True}
    inbox = signed_in(app, officer, "officer").get("/officers/inbox").text
    assert inbox.count("A number abroad: an answer goes abroad, and costs more") == 2


def test_a_text_from_a_premium_rate_number_is_not_answered(app, providers, officer):
    """Found by an outside check: a text from +4490… (a UK premium-rate number) was
    kept and an officer could answer it, at its price. It is kept (it may matter), and
    an answer is refused with the reason; a mobile's is not."""
    providers.gateway.text_in(inbound(providers), "+449012345678", "Call me back")
    providers.gateway.text_in(inbound(providers), "+447700900933", "Thanks")
    shown = {r["body"]: r["id"] for r in replies.read_inbox(officer)["replies"]}
    with pytest.raises(replies.ReplyRefused, match="not a UK mobile"):
        replies.answer_reply(officer, shown["Call me back"], "We will.")
    assert replies.answer_reply(officer, shown["Thanks"], "You are welcome.")
    answered = db.session.scalars(
        select(ResidentNotice.address).where(ResidentNotice.kind == "officer_answer")
    ).all()
    assert answered == ["+447700900933"]


def test_a_text_from_a_uk_number_written_with_its_0_is_refused(app, app_ctx):
    """Found by an outside check: From "+4407700900332" (a UK number with its 0 kept:
    no network sends from it) was kept, and our automatic answer texted to it as
    written."""
    with pytest.raises(replies.ReplyRefused, match="international format"):
        replies.receive_text("+4407700900332", "Hello", "SM" + "1" * 32)
    assert replies.E164.fullmatch("+447700900332") and replies.E164.fullmatch("+33612345678")


def test_an_officers_answer_to_a_welsh_speaker_is_signed_in_welsh(
    app, providers, officer, make_resident, run_worker
):
    """Found by an outside check: every text to a Welsh speaker was Welsh but an
    officer's answer, which ended "- Avon and Somerset Police. Reply STOP to stop."."""
    make_resident(sms="+447700900931").language = "cy"
    db.session.commit()
    providers.gateway.text_in(inbound(providers), "+447700900931", "Mae mwg yma nawr")
    (shown,) = replies.read_inbox(officer)["replies"]
    assert shown["welsh"] is True  # the inbox says so: the officer may answer in Welsh
    replies.answer_reply(officer, shown["id"], "Rydyn ni ar ein ffordd.")
    run_worker()
    # (Beside the automatic thanks, in whichever order the worker took them.)
    sent = [a.params["Body"] for a in providers.gateway.accepted if a.to == "+447700900931"]
    assert "Rydyn ni ar ein ffordd.\n- Heddlu Avon a Gwlad yr Haf. Atebwch STOP i stopio." in sent
    # A saved answer, tapped on the inbox, goes in Welsh too (it went in English, with
    # the Welsh signature: an outside check); the page shows the Welsh it sends, and
    # what it says in English.
    page = signed_in(app, officer, "officer")
    inbox = page.get("/officers/inbox").text
    welsh, english = replies.SAVED_ANSWERS[1][1], replies.SAVED_ANSWERS[1][0]
    assert 'value="2" class="button secondary" lang="cy"' in inbox
    assert html.escape(welsh, quote=True) in inbox and html.escape(english) in inbox
    assert (
        page.post(f"/officers/replies/{shown['id']}/answer", data={"saved": "2"}).status_code == 302
    )
    run_worker()
    answer = [a for a in providers.gateway.accepted if a.to == "+447700900931"][-1]
    assert answer.params["Body"].startswith(welsh + "\n- Heddlu Avon a Gwlad yr Haf.")


def test_the_saved_answers_show_the_language_they_go_in_and_nothing_else_is_sent(
    app, providers, officer, make_resident, run_worker
):
    """Found by an outside check: the inbox chose the buttons' language by the reply's
    own resident, the send by the number's holders, so a number shared by a Welsh and an
    English speaker showed Welsh and sent English, and one whose holders all chose Welsh
    showed English and sent Welsh. And a hand-made "saved" of "-1", "١" or "1e0" was
    texted to the resident as the answer."""
    shared, both_welsh = "+447700900934", "+447700900935"
    make_resident(sms=shared).language = "cy"
    make_resident(sms=shared)
    for _ in range(2):
        make_resident(sms=both_welsh).language = "cy"
    db.session.commit()
    url = inbound(providers)
    providers.gateway.text_in(url, shared, "There is a van outside")
    providers.gateway.text_in(url, both_welsh, "Mae fan tu allan")
    run_worker()
    ids = {reply.address: reply.id for reply in all_replies()}
    welsh = {shown["id"]: shown["welsh"] for shown in replies.read_inbox(officer)["replies"]}
    assert welsh[ids[shared]] is False and welsh[ids[both_welsh]] is True
    page = signed_in(app, officer, "officer")
    inbox = page.get("/officers/inbox").text
    assert '<span lang="en">' in inbox  # the English beside the Welsh, marked so
    before = len(providers.gateway.accepted)
    for hostile in ("-1", "\u0661", "\uff11", " 1", "9" * 20, "1e0", "0", "4", "Thanks"):
        answer = page.post(f"/officers/replies/{ids[shared]}/answer", data={"saved": hostile})
        assert answer.status_code == 400, hostile
        assert "Write an answer, or choose a saved one." in answer.text, hostile
    run_worker()
    assert len(providers.gateway.accepted) == before
    answers = select(func.count()).where(ResidentNotice.kind == "officer_answer")
    assert db.session.scalar(answers) == 0
    # A page from before, which sent a saved answer's English words: that answer, in
    # the language it goes in.
    english, cymraeg = replies.SAVED_ANSWERS[0]
    sent = page.post(f"/officers/replies/{ids[both_welsh]}/answer", data={"saved": english})
    assert sent.status_code == 302
    run_worker()
    answer = [a for a in providers.gateway.accepted if a.to == both_welsh][-1]
    assert answer.params["Body"].startswith(cymraeg + "\n- Heddlu Avon a Gwlad yr Haf.")


def test_the_question_on_a_welsh_alert_page_is_marked_with_its_own_language(
    app, officer, make_resident, run_worker
):
    """Found by an outside check: "Atebion: Did you see the van?" on a Welsh staff page
    had no lang on its English words, and a Welsh voice read them."""
    make_resident(sms="+447700900941")
    alert = send(officer, run_worker, question="Seen the <van>?", options=["Yes", "No"])
    page = signed_in(app, officer, "officer").get(f"/officers/alerts/{alert.id}?lang=cy").text
    assert '<span lang="en-GB">Seen the &lt;van&gt;?</span>' in page
    assert '(<span lang="en-GB">Yes</span>)' in page
    english = signed_in(app, officer, "officer").get(f"/officers/alerts/{alert.id}?lang=en").text
    assert "<span>Seen the &lt;van&gt;?</span>" in english  # the page's own language


def test_a_stop_from_a_number_two_forces_residents_share_is_in_each_forces_log(
    providers, make_resident, second_force
):
    """Found by an outside check: a STOP from a number three Avon residents and one
    Wiltshire resident share was one event in Avon's log, "channels: 4", telling its
    administrator of another force's resident; Wiltshire's log had nothing."""
    shared = "+447700900886"
    for _ in range(3):
        make_resident(postcode="BS1 6AD", sms=shared)
    make_resident(postcode="BA14 6AA", sms=shared)
    db.session.commit()
    providers.gateway.text_in(inbound(providers), shared, "STOP")
    db.session.rollback()
    events = db.session.execute(
        select(AuditEvent.force_id, AuditEvent.details).where(
            AuditEvent.action == "resident.sms_stopped"
        )
    ).all()
    by_force = {force_id: details["channels"] for force_id, details in events}
    assert by_force[second_force.id] == 1
    (avon,) = set(by_force) - {second_force.id}
    assert by_force[avon] == 3 and len(events) == 2


def test_a_number_residents_of_one_force_share_is_theirs_in_the_inbox_and_the_answers(
    providers, make_resident, run_worker, second_force
):
    """Found by reading the code: a text from a number two Wiltshire residents share
    went to Avon and Somerset's inbox (the installation's first force) and was answered
    by it, in English for two Welsh speakers; Wiltshire's staff never saw it. Shared
    across forces or languages, it stays the installation's, in English."""
    wilts, welsh, mixed = "+447700900881", "+447700900882", "+447700900883"
    for postcode, number in (("BA14 6AA", wilts), ("BA14 6AA", wilts), ("BS1 6AD", mixed)):
        make_resident(postcode=postcode, sms=number)
    make_resident(postcode="BA14 6AA", sms=mixed)
    for _ in range(2):
        make_resident(postcode="BS1 6AD", sms=welsh).language = "cy"
    db.session.commit()
    url = inbound(providers)
    gateway = providers.gateway
    for number in (wilts, welsh, mixed):
        assert gateway.text_in(url, number, "There is a van on the verge") == 200
    run_worker()
    said = {sent.to: sent.params["Body"] for sent in gateway.accepted}
    assert said[wilts].startswith("Wiltshire Police community alerts: thank you")
    assert said[welsh].startswith("Rhybuddion cymunedol Heddlu Avon a Gwlad yr Haf: diolch")
    assert said[mixed].startswith("Avon and Somerset Police community alerts: thank you")
    forces_of = {r.address: r.force_id for r in all_replies()}
    assert forces_of[wilts] == second_force.id
    assert forces_of[welsh] == forces_of[mixed] != second_force.id
    gateway.text_in(url, welsh, "Stopio")
    assert "<Message>Ni chewch ragor o negeseuon testun gennym" in gateway.last_answer


def test_a_call_does_not_read_out_emoji_that_a_text_keeps(
    providers, officer, make_resident, run_worker
):
    """Found by an outside check: a body with 🚐👮 was said to callers as it was, and a
    voice reads emoji out by name."""
    make_resident(sms="+447700900505", voice="+441174960705")
    submit_alert(officer, shapes=AREA, title="Van seen 🚐", body="Call 101 👮‍♂️. Do not approach.")
    run_worker()
    by_kind = {a.kind: a for a in providers.gateway.accepted}
    said = by_kind["Calls"].params["Twiml"]
    assert "Van seen. Call 101. Do not approach." in said
    assert not any(ch in said for ch in "🚐👮‍♂️")
    assert "🚐" in by_kind["Messages"].params["Body"]


def test_two_answers_the_same_are_refused(app_ctx):
    """Found by an outside check: "Yes" and "yes" went as "Reply 1 for Yes, 2 for yes"."""
    from app.services.alerts import AlertDraft
    from app.services.alerts.compose import check_ask

    for same in (["Yes", "yes"], ["Seen it", " seen  IT "]):
        errors: dict[str, str] = {}
        assert check_ask(AlertDraft(question="Q?", answer_options=same), errors) == (None, None)
        assert errors["answer_options"].startswith("Two answers are the same.")
    errors = {}
    assert check_ask(AlertDraft(question="Q?", answer_options=["Yes", "No"]), errors) == (
        "Q?",
        ["Yes", "No"],
    )
    assert errors == {}


def test_a_text_or_keys_answering_an_alert_taken_down_are_kept_not_counted(
    providers, officer, make_resident, run_worker
):
    """Found by an outside check: its e-mail's answer link refused once the alert was
    taken down, but a text of "1" was recorded as answer 1. Each way of answering
    takes it as after the alert closed: in the inbox, not counted. And keys pressed
    after it confirmed receipt, and were thanked as an answer (an outside check): not
    counted, and the call says so."""
    from datetime import UTC, datetime

    make_resident(sms="+447700900531")
    make_resident(sms=None, voice="+441174960731")
    make_resident(sms=None, voice="+441174960732")
    alert = send(
        officer, run_worker, question="Seen Sam Jones?", options=["Yes", "No"], confirm=True
    )
    first, second = sorted(
        (m for m in providers.gateway.accepted if m.kind == "Calls"), key=lambda m: m.to
    )
    # Before it is taken down, a key confirms and is thanked.
    assert providers.gateway.press_keys(first, "1") == 200
    assert "Thank you for your answer." in providers.gateway.last_answer
    db.session.get(Alert, alert.id).taken_down_at = datetime.now(UTC)
    db.session.commit()
    providers.gateway.text_in(inbound(providers), "+447700900531", "1")
    assert providers.gateway.press_keys(second, "1") == 200
    assert "kept but not counted" in providers.gateway.last_answer
    assert "Thank you for your answer." not in providers.gateway.last_answer
    texted, *pressed = sorted(all_replies(), key=lambda r: (r.channel, r.id))
    assert (texted.channel, texted.kind, texted.after_close) == ("sms", "message", True)
    assert [(r.channel, r.after_close) for r in pressed] == [("voice", False), ("voice", True)]
    answers = replies.answers_of(db.session.get(Alert, alert.id))
    assert [option["count"] for option in answers["options"]] == [1, 0]
    assert answers["receipt"]["voice"]["confirmed"] == 1, answers["receipt"]
    assert answers["receipt"]["voice"]["not_confirmed"] == 1, answers["receipt"]


def _hidden_together(answers) -> list[int]:
    """Each option's total less its counts shown beside wards: what its hidden cells
    hold together."""
    return [
        option["count"] - sum(ward["counts"][option["number"]] or 0 for ward in answers["wards"])
        for option in answers["options"]
    ]


@pytest.mark.parametrize(
    "answered",
    [
        # Central 5 Yes, Lawrence Hill 5 No, one Yes in Southville: 6 - 5 left 1.
        {"BS1 6AD": "1" * 5, "BS1 3AE": "2" * 5, "BS3 1AA": "1"},
        # And with Central's 5 No too, Lawrence Hill's hidden Yes beside the plain
        # "fewer than 5": 0, so the ward not named had the 1.
        {"BS1 6AD": "1" * 5 + "2" * 5, "BS1 3AE": "2" * 5, "BS3 1AA": "1"},
    ],
)
def test_no_options_hidden_answers_hold_fewer_than_5_together(
    providers, officer, make_resident, run_worker, answered
):
    """Found by an outside check: an option's total less the wards shown beside it is
    what its hidden cells hold together; 1 to 4 was a count of people in wards the
    alert's public area names. Each such option's wards are hidden, and a hidden cell
    always reads as one that may protect another."""
    numbers = []
    for postcode, said in answered.items():
        for word in said:
            number = f"+44770090{len(numbers):04d}"
            make_resident(postcode=postcode, sms=number)
            numbers.append((number, word))
    alert = send(officer, run_worker, question="Seen it?", options=["Yes", "No"])
    for number, word in numbers:
        providers.gateway.text_in(inbound(providers), number, word)
    answers = replies.answers_of(db.session.get(Alert, alert.id))
    assert [o["count"] for o in answers["options"]] == [
        sum(said.count(n) for said in answered.values()) for n in "12"
    ]
    assert all(left == 0 or left >= 5 for left in _hidden_together(answers)), answers
    assert answers["hidden_label"] == "fewer than 5, or hidden to protect one"


def test_deleting_ones_details_takes_what_ones_number_texted_before_one_registered_it(
    providers, officer, make_resident, run_worker
):
    """Found by an outside check: texts from a number before its resident registered
    it (filed under nobody) stayed in the inbox after "delete my details". A number
    someone else still holds keeps its texts: they are that resident's too."""
    gateway = providers.gateway
    make_resident()
    send(officer, run_worker)
    for number in ("+447700900931", "+447700900932", "+447700900933"):
        gateway.text_in(inbound(providers), number, "Is the road open yet?")
    leaving = make_resident(sms="+447700900931", voice="+447700900932")
    make_resident(sms="+447700900932")  # holds the voice number too
    send(officer, run_worker)
    gateway.text_in(inbound(providers), "+447700900931", "Thanks, seen it")
    db.session.rollback()
    assert len(all_replies()) == 4
    delete_resident(db.session.merge(leaving))
    assert sorted(r.address for r in all_replies()) == ["+447700900932", "+447700900933"]
    # A number typed and never confirmed is nobody's: its texts are not taken with
    # the one who typed it, and do not keep a resident's from going with theirs.
    gateway.text_in(inbound(providers), "+447700900934", "A tip about the van")
    gateway.text_in(inbound(providers), "+447700900935", "My own earlier text")
    db.session.rollback()
    stranger = make_resident(sms="+447700900934", verified=False)
    owner = make_resident(sms="+447700900935")
    make_resident(sms="+447700900935", verified=False)  # typed by someone else
    delete_resident(db.session.merge(stranger))
    delete_resident(db.session.merge(owner))
    assert sorted(r.address for r in all_replies()) == [
        "+447700900932",
        "+447700900933",
        "+447700900934",
    ]


def test_the_answer_page_says_the_answer_and_the_receipt_when_both_were_given(
    providers, client, officer, make_resident, run_worker
):
    """Found by an outside check: after "I got this message" the page said only that,
    and nothing of the answer given before, which still counts."""
    make_resident(sms=None, email="both@example.invalid")
    send(officer, run_worker, question="Seen it?", options=["Yes", "No"], confirm=True)
    mail = db.session.scalar(select(Delivery.id).where(Delivery.channel == "email"))
    path = f"/answer/{answer_token(mail)}"
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)
    for choice in ("2", "confirm"):
        assert client.post(path, data={"csrf_token": token, "choice": choice}).status_code == 302
        client.get(path)  # the thanks, once
    said = client.get(path).text
    assert 'You answered “<span lang="en-GB">No</span>”' in said
    assert "You told us you got this message." in said
