"""Alerts in English and Welsh (issue 15): the officer writes both, every resident gets
both, their own language first; the counter shows what the Welsh costs; calls say the
Welsh in the Welsh voice; the public page, the check and CAP know the Welsh too."""

from __future__ import annotations

import re

import pytest
from lxml import etree, html
from sqlalchemy import func, select, text

from app.channels.twilio import voice_twiml
from app.extensions import db
from app.models import Alert, OutboxMessage
from tests.test_residents import opened_page

BS1_6AD = [-2.588230, 51.451967]
WELSH = {
    "title_cy": "Lladradau ceir",
    "body_cy": "Mae ceir wedi’u torri i mewn iddynt ar Heol y Farchnad. Cadwch ŵyl.",
}
ENGLISH = {"title": "Car thefts", "body": "Cars broken into on Old Market Street."}


def send(client, **extra) -> Alert:
    payload = {"shapes": [{"kind": "circle", "center": BS1_6AD, "radius_m": 800}]}
    response = client.post("/officers/alerts", json=payload | ENGLISH | WELSH | extra)
    assert response.status_code == 201, response.json
    return db.session.get(Alert, response.json["alert_id"])


def outbox(alert: Alert, channel: str) -> dict[str, str]:
    return dict(
        db.session.execute(
            select(OutboxMessage.recipient, OutboxMessage.body).where(
                OutboxMessage.alert_id == alert.id, OutboxMessage.channel == channel
            )
        ).all()
    )


def test_the_counter_shows_what_the_welsh_costs_and_both_orders(officer_client):
    english = officer_client.post("/officers/compose", json=ENGLISH).json["sms"]
    both = officer_client.post("/officers/compose", json=ENGLISH | WELSH).json["sms"]
    assert english["welsh_segments"] is None
    # ŵ is not in the texts' alphabet: the whole text goes as UCS-2, in more parts.
    assert both["encoding"] == "UCS-2" and "ŵ" in both["ucs2_characters"]
    assert both["english_segments"] == english["segments"]
    assert both["welsh_segments"] == both["segments"] - english["segments"] > 0
    assert both["text"].startswith("Car thefts: ")
    assert both["text_welsh_first"].startswith("Lladradau ceir: ")
    assert "Atebwch STOP i stopio." in both["text_welsh_first"]


def test_welsh_comes_as_a_pair_and_is_checked_like_the_english(officer_client):
    shapes = {"shapes": [{"kind": "circle", "center": BS1_6AD, "radius_m": 800}]}
    half = officer_client.post("/officers/alerts", json=shapes | ENGLISH | {"title_cy": "Teitl"})
    assert half.status_code == 400
    assert "Welsh message too" in half.json["errors"]["body_cy"]
    long = officer_client.post(
        "/officers/alerts", json=shapes | ENGLISH | WELSH | {"body_cy": "ŵ " * 300}
    )
    assert long.status_code == 400
    assert "With the Welsh, the text message is" in long.json["errors"]["body_cy"]
    assert db.session.scalar(select(Alert.id).limit(1)) is None  # nothing half-written


def test_each_resident_gets_both_languages_their_own_first(
    officer_client, make_resident, run_worker
):
    english = make_resident(postcode="BS1 6AD", sms="+447700900101", email="en@example.invalid")
    welsh = make_resident(
        postcode="BS1 6AD", sms="+447700900102", voice="+441174960102", email="cy@example.invalid"
    )
    db.session.execute(
        text("UPDATE residents SET language = 'cy' WHERE id = :id"), {"id": welsh.id}
    )
    db.session.commit()
    alert = send(officer_client)
    assert alert.title_cy == WELSH["title_cy"]
    run_worker()
    db.session.expire_all()
    texts = outbox(alert, "sms")
    assert texts["+447700900101"].startswith("Car thefts: Cars broken into")
    assert "Lladradau ceir: " in texts["+447700900101"]
    assert texts["+447700900101"].rstrip().endswith("Reply STOP to stop.")
    assert texts["+447700900102"].startswith("Lladradau ceir: Mae ceir")
    assert "Heddlu Avon a Gwlad yr Haf / Avon and Somerset Police." in texts["+447700900102"]
    assert f"Cyf {alert.reference}. Atebwch STOP i stopio." in texts["+447700900102"]
    mails = outbox(alert, "email")
    assert mails["cy@example.invalid"].index("Mae ceir") < mails["cy@example.invalid"].index(
        "Cars broken"
    )
    assert mails["en@example.invalid"].index("Cars broken") < mails["en@example.invalid"].index(
        "Mae ceir"
    )
    assert f"Cyfeirnod: {alert.reference}" in mails["cy@example.invalid"]
    [call] = outbox(alert, "voice").values()
    assert call.startswith("Dyma neges gan Heddlu Avon a Gwlad yr Haf.")
    assert english.id != welsh.id
    # The alert's page shows the Welsh that went, for its officer and an approver
    # (found by an outside check: only the English was shown).
    page = officer_client.get(f"/officers/alerts/{alert.id}").text
    assert '<div lang="cy"' in page and WELSH["title_cy"] in page


def test_a_call_says_the_welsh_in_the_welsh_voice():
    twiml = voice_twiml(
        "This is a message from Avon and Somerset Police. Car thefts.",
        "Polly.Amy",
        welsh="Dyma neges gan Heddlu Avon a Gwlad yr Haf. Lladradau ceir.",
        welsh_voice="Polly.Gwyneth",
        welsh_first=True,
    )
    document = etree.fromstring(twiml.encode())
    said = [(s.get("voice"), s.get("language"), s.text) for s in document.iter("Say")]
    assert said[0][:2] == ("Polly.Gwyneth", "cy-GB") and said[0][2].startswith("Dyma neges")
    assert said[1][:2] == ("Polly.Amy", "en-GB")
    assert len([s for s in said if s[1] == "cy-GB"]) == 2  # said twice, like the English


def test_the_public_page_the_check_and_cap_know_the_welsh(
    app, client, officer_client, make_resident, run_worker
):
    resident = make_resident(postcode="BS1 6AD", sms="+447700900103")
    db.session.execute(
        text("UPDATE residents SET language = 'cy' WHERE id = :id"), {"id": resident.id}
    )
    db.session.commit()
    alert = send(officer_client)
    run_worker()
    db.session.expire_all()
    page = client.get(f"/alerts/{alert.reference}?lang=cy").text
    assert "<title>Lladradau ceir" in page
    main = page[page.index('id="main"') :]
    assert main.index("Lladradau ceir") < main.index("Car thefts")
    english = client.get(f"/alerts/{alert.reference}?lang=en").text
    main = english[english.index('id="main"') :]
    assert main.index("Car thefts") < main.index("Lladradau ceir")
    # The list of alerts shows the Welsh title on a Welsh page, marked Welsh; an alert
    # with English only says its words are English (WCAG 3.1.2).
    only_english = send(officer_client, title="Road closed", title_cy="", body_cy="")
    listed = client.get("/alerts?lang=cy").text
    assert 'lang="cy">Lladradau ceir' in listed
    assert 'lang="en-GB">Road closed</a>' in listed
    alone = client.get(f"/alerts/{only_english.reference}?lang=cy").text
    assert '<h1 lang="en-GB">Road closed</h1>' in alone
    [received] = outbox(alert, "sms").values()
    token = client.get("/check").text.split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post("/check?lang=en", data={"message": received, "csrf_token": token})
    assert alert.reference in answer.text and answer.status_code == 200
    assert 'class="panel panel-success"' in answer.text and "“Car thefts”" in answer.text
    # A Welsh page names the alert by its Welsh title (it quoted the English: an
    # outside check), as does the resident's page of what they were sent.
    welsh_answer = client.post("/check?lang=cy", data={"message": received, "csrf_token": token})
    assert "“Lladradau ceir”" in welsh_answer.text and "“Car thefts”" not in welsh_answer.text
    own = opened_page(app.test_client(), "+447700900103", run_worker)
    assert (
        '<td data-label="Rhybudd" lang="cy">Lladradau ceir</td>'
        in own.get("/my-alerts/data?lang=cy").text
    )
    assert (
        '<td data-label="Alert" lang="en-GB">Car thefts</td>'
        in own.get("/my-alerts/data?lang=en").text
    )
    cap = etree.fromstring(client.get(f"/alerts/{alert.reference}/cap.xml").data)
    ns = "{urn:oasis:names:tc:emergency:cap:1.2}"
    assert [i.findtext(f"{ns}language") for i in cap.findall(f"{ns}info")] == ["en-GB", "cy"]
    # The Welsh block names the force and links the page in Welsh (found by an outside
    # probe: "Avon and Somerset Police", and the English page).
    english, welsh = cap.findall(f"{ns}info")
    assert english.findtext(f"{ns}senderName").endswith(" Police")
    assert welsh.findtext(f"{ns}senderName").startswith("Heddlu ")
    assert welsh.findtext(f"{ns}web").endswith(f"/alerts/{alert.reference}?lang=cy")
    assert english.findtext(f"{ns}web").endswith(f"/alerts/{alert.reference}")


def test_our_own_words_are_welsh_for_a_resident_who_chose_welsh(
    officer_client, make_resident, run_worker
):
    resident = make_resident(postcode="BS1 6AD", sms="+447700900104", email="w@example.invalid")
    db.session.execute(
        text("UPDATE residents SET language = 'cy' WHERE id = :id"), {"id": resident.id}
    )
    db.session.commit()
    alert = send(officer_client, title_cy="", body_cy="")  # written in English only
    run_worker()
    db.session.expire_all()
    [received] = outbox(alert, "sms").values()
    assert received.startswith("Car thefts: Cars broken into")
    assert received.endswith(
        f"- Heddlu Avon a Gwlad yr Haf. Cyf {alert.reference}. Atebwch STOP i stopio."
    )
    [mail] = outbox(alert, "email").values()
    assert f"Heddlu Avon a Gwlad yr Haf\nCyfeirnod: {alert.reference}" in mail
    # Its subject names the force in Welsh too (it alone was English: an outside check).
    subject = db.session.scalar(
        select(OutboxMessage.subject).where(
            OutboxMessage.alert_id == alert.id, OutboxMessage.channel == "email"
        )
    )
    assert subject == "Heddlu Avon a Gwlad yr Haf: Car thefts"
    # Its way to stop is in Welsh too, and its page opens in Welsh (both were English:
    # an outside probe).
    assert "To stop" not in mail and "not read" not in mail
    assert (
        "\n\nNid yw atebion i'r e-bost hwn yn cael eu darllen.\nI atal yr e-byst hyn: http" in mail
    )
    link = mail.rsplit(": ", 1)[1].strip()
    assert link.endswith("?lang=cy")
    # Its check-it-is-us page too (it opened in English: an outside check).
    # The link last on its own line: a bracket after it went into the link, "/check)"
    # (an outside check).
    assert "\nGwiriwch fod y neges hon yn ddilys: http" in mail
    assert re.search(r"/check\?lang=cy\n", mail) and "/check?lang=cy)" not in mail
    from urllib.parse import urlsplit

    address = urlsplit(link)
    page = officer_client.application.test_client().get(f"{address.path}?{address.query}")
    assert page.status_code == 200 and 'lang="cy"' in page.text
    twiml = voice_twiml(
        "Words.",
        "Polly.Amy",
        welsh_voice="Polly.Gwyneth",
        welsh_first=True,
        closing="I atal y galwadau hyn, ffoniwch 101.",
    )
    last = list(etree.fromstring(twiml.encode()).iter("Say"))[-1]
    assert (last.get("voice"), last.text) == (
        "Polly.Gwyneth",
        "I atal y galwadau hyn, ffoniwch 101.",
    )


def test_an_exercises_words_and_a_questions_are_welsh_for_a_resident_who_chose_welsh(
    client, officer_client, make_resident, run_worker
):
    """A Welsh speaker's exercise began "EXERCISE EXERCISE EXERCISE", and its question
    said "Reply 1 for Yes" (the e-mail's "Answer here"); the Welsh call said nothing of
    an exercise. Our words are in Welsh; the officer's question as they wrote it."""
    welsh = make_resident(postcode="BS1 6AD", sms="+447700900106", email="cy@example.invalid")
    make_resident(postcode="BS1 6AD", sms="+447700900107", email="en@example.invalid")
    db.session.execute(
        text("UPDATE residents SET language = 'cy' WHERE id = :id"), {"id": welsh.id}
    )
    db.session.commit()
    question = {"question": "Seen it?", "answer_options": ["Yes", "No"], "mode": "exercise"}
    alert = send(officer_client, title_cy="", body_cy="", **question)
    run_worker()
    db.session.expire_all()
    texts, mails = outbox(alert, "sms"), outbox(alert, "email")
    cymraeg = texts["+447700900106"]
    assert cymraeg.startswith("YMARFER YMARFER YMARFER. Car thefts: ")
    assert "\nSeen it? Atebwch 1 ar gyfer Yes, 2 ar gyfer No.\n" in cymraeg
    assert cymraeg.endswith(" Ymarfer yw hwn. Nid oes angen gweithredu.")
    assert "EXERCISE" not in cymraeg and "Reply 1" not in cymraeg
    english = texts["+447700900107"]
    assert english.startswith("EXERCISE EXERCISE EXERCISE. Car thefts: ")
    assert "Seen it? Reply 1 for Yes, 2 for No." in english
    assert "Seen it? Atebwch yma: http" in mails["cy@example.invalid"]
    assert "Seen it? Answer here: http" in mails["en@example.invalid"]
    # Its page opens in Welsh (it opened in English), the English title marked so.
    from urllib.parse import urlsplit

    link = urlsplit(mails["cy@example.invalid"].split("Atebwch yma: ", 1)[1].split()[0])
    assert link.query == "lang=cy"
    page = client.application.test_client().get(f"{link.path}?{link.query}").text
    assert '<html lang="cy"' in page and '<h1 lang="en-GB">Car thefts</h1>' in page
    assert '<h2 lang="en-GB">Seen it?</h2>' in page
    # The check page knows the Welsh words as ours.
    token = client.get("/check").text.split('name="csrf_token" value="')[1].split('"')[0]
    checked = client.post("/check?lang=cy", data={"message": cymraeg, "csrf_token": token})
    assert 'class="panel panel-success"' in checked.text
    # Written in both languages, the Welsh call says it is an exercise too.
    from app.services.message_text import welsh_voice_script

    said = welsh_voice_script(title="Ymarfer", body="Dim byd.", mode="exercise")
    assert "YMARFER YMARFER YMARFER. Ymarfer. Dim byd." in said
    assert said.endswith("Ymarfer yw hwn. Nid oes angen gweithredu.")


def test_an_alert_written_in_welsh_only_goes_in_welsh(
    client, officer_client, make_resident, run_worker
):
    make_resident(postcode="BS1 6AD", sms="+447700900105")
    preview = officer_client.post("/officers/compose", json={"title": "", "body": ""} | WELSH)
    assert preview.json["sms"]["text"].startswith("Lladradau ceir: Mae ceir")
    # Its words marked Welsh in the e-mail (unmarked, under an English page's mark, a
    # screen reader read them with English rules: found by reading), ours not.
    page = preview.json["email"]["html"]
    assert '<html lang="en-GB">' in page and '<p lang="cy">Mae ceir' in page
    assert "<p>Avon and Somerset Police" in page
    alert = send(officer_client, title="", body="")
    assert (alert.language, alert.title, alert.title_cy) == ("cy", WELSH["title_cy"], None)
    run_worker()
    db.session.expire_all()
    [received] = outbox(alert, "sms").values()
    assert received.startswith(f"Lladradau ceir: {WELSH['body_cy']}")
    page = client.get(f"/alerts/{alert.reference}").text
    assert f'<h1 lang="cy">{WELSH["title_cy"]}</h1>' in page
    # The English page says why it shows only Welsh (as the README says it does).
    assert "The police wrote this alert in Welsh only." in page
    welsh_page = client.get(f"/alerts/{alert.reference}?lang=cy").text
    assert "in Welsh only" not in welsh_page
    cap = etree.fromstring(client.get(f"/alerts/{alert.reference}/cap.xml").data)
    ns = "{urn:oasis:names:tc:emergency:cap:1.2}"
    assert [i.findtext(f"{ns}language") for i in cap.findall(f"{ns}info")] == ["cy"]


def test_a_call_of_an_alert_written_in_welsh_only_is_said_by_the_welsh_voice(
    providers, officer_client, make_resident, run_worker
):
    """Found by an outside check: a call of an alert written in Welsh only was read by
    the English voice, its English opening before, to Welsh and English speakers alike.
    Its words and its question are said by the Welsh voice to everyone; how to stop the
    calls, in the resident's language; the composer's script says the same."""
    providers.gateway.send_callbacks = False
    welsh = make_resident(postcode="BS1 6AD", sms=None, voice="+441174960106")
    make_resident(postcode="BS1 6AD", sms=None, voice="+441174960107")
    db.session.execute(
        text("UPDATE residents SET language = 'cy' WHERE id = :id"), {"id": welsh.id}
    )
    db.session.commit()
    asked = {"question_cy": "Welsoch chi rywbeth?", "answer_options_cy": ["Do", "Naddo"]}
    preview = officer_client.post(
        "/officers/compose", json={"title": "", "body": ""} | WELSH | asked
    )
    script = preview.json["voice"]["script"]
    assert script.startswith("Dyma neges gan Heddlu Avon a Gwlad yr Haf. Lladradau ceir.")
    assert "This is a message" not in script and "Pwyswch 1 ar gyfer Do" in script
    alert = send(officer_client, title="", body="", channels=["voice"], **asked)
    run_worker()
    calls = {a.to: a.params["Twiml"] for a in providers.gateway.accepted if a.kind == "Calls"}
    assert set(calls) == {"+441174960106", "+441174960107"}
    for number, twiml in calls.items():
        said = [(s.get("language"), s.text) for s in etree.fromstring(twiml.encode()).iter("Say")]
        words = [text for language, text in said if WELSH["body_cy"][:20] in text]
        assert len(words) == 2 and all(
            language == "cy-GB" for language, text in said if text in words
        ), said
        assert not any("This is a message" in text for _, text in said)
        assert ("cy-GB", "Welsoch chi rywbeth? Pwyswch 1 ar gyfer Do, 2 ar gyfer Naddo.") in said
        ending = said[-1]
        if number == "+441174960107":  # an English speaker is told how to stop in English
            assert ending == ("en-GB", "To stop these calls, press 9 now, or call 101.")
        else:
            assert ending[0] == "cy-GB"
    assert alert.language == "cy"


def test_an_alert_in_welsh_only_with_its_question_in_english_alone_is_refused_at_it(
    officer_client, make_resident
):
    """Found by an outside check: an alert written in Welsh only, its question typed in
    the English boxes alone, went to everyone as Welsh words and an English question,
    and "Send … now?" said nothing of the question. Refused, at the English question,
    by the preview and the send alike; asked in the Welsh boxes, it goes."""
    make_resident(postcode="BS1 6AD", sms="+447700900106")
    payload = {"shapes": [{"kind": "circle", "center": BS1_6AD, "radius_m": 800}]}
    words = {"title": "", "body": ""} | WELSH
    english_ask = {"question": "Seen it?", "answer_options": ["Yes", "No"]}
    preview = officer_client.post("/officers/compose", json=words | english_ask)
    assert "written in Welsh only" in preview.json["refused"]["question"]
    refused = officer_client.post("/officers/alerts", json=payload | words | english_ask)
    assert refused.status_code == 400, refused.json
    assert "written in Welsh only" in refused.json["errors"]["question"]
    # Said first, whatever else is wrong with it: not "Give at least two answers", then
    # this once they were given (a re-check).
    no_answers = {"question": "Seen it?"}
    for path in ("/officers/compose", "/officers/alerts"):
        said = officer_client.post(path, json=payload | words | no_answers).json
        said = said.get("refused") or said["errors"]
        assert "written in Welsh only" in said["question"] and "answer_options" not in said
    # Blank English boxes are no question.
    blank = {"question": " ", "answer_options": ["", " "]}
    welsh_ask = {"question_cy": "Welsoch chi e?", "answer_options_cy": ["Do", "Naddo"]}
    alert = send(officer_client, title="", body="", **blank, **welsh_ask)
    assert (alert.question, alert.answer_options) == ("Welsoch chi e?", ["Do", "Naddo"])
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 1


def test_english_answers_beside_the_welsh_question_of_an_alert_in_welsh_only_are_not_its(
    officer_client, make_resident
):
    """Found by an outside check: an alert written in Welsh only, asking its question in
    the Welsh boxes, left English answers in theirs (two the same, one too long): the
    preview refused them, and the send, whose question is the Welsh one, went. The
    preview leaves them too."""
    make_resident(postcode="BS1 6AD", sms="+447700900108")
    payload = {"shapes": [{"kind": "circle", "center": BS1_6AD, "radius_m": 800}]}
    words = {"title": "", "body": ""} | WELSH
    welsh_ask = {"question_cy": "Welsoch chi e?", "answer_options_cy": ["Do", "Naddo"]}
    for english in (["Yes", "yes"], ["x" * 40, "No"], ["Yes\u202e", "No"]):
        left = {"question": "Seen it?", "answer_options": english}
        preview = officer_client.post("/officers/compose", json=words | welsh_ask | left).json
        assert preview["refused"] == {} and not preview["unfinished"], preview
        sent = officer_client.post("/officers/alerts", json=payload | words | welsh_ask | left)
        assert sent.status_code == 201, sent.json
        alert = db.session.get(Alert, sent.json["alert_id"])
        assert (alert.question, alert.answer_options) == ("Welsoch chi e?", ["Do", "Naddo"])
    # The same English answers of an alert in English are refused, by both.
    left = {"question": "Seen it?", "answer_options": ["Yes", "yes"]}
    preview = officer_client.post("/officers/compose", json=ENGLISH | left).json
    sent = officer_client.post("/officers/alerts", json=payload | ENGLISH | left)
    assert "answer_options" in preview["refused"] and sent.status_code == 400


def test_a_welsh_question_the_send_refuses_is_refused_by_the_preview_as_it_is_typed(
    officer_client, make_resident
):
    """Found by an outside check: a Welsh question alone (the English boxes empty) of
    an alert in both languages, and a Welsh question of an alert in English alone,
    passed the preview quietly, and "Send … now?" was asked; only "Send now" refused
    them. The preview says what the send says, at the Welsh question."""
    make_resident(postcode="BS1 6AD", sms="+447700900107")
    payload = {"shapes": [{"kind": "circle", "center": BS1_6AD, "radius_m": 800}]}
    welsh_ask = {"question_cy": "Welsoch chi e?", "answer_options_cy": ["Do", "Naddo"]}
    english_ask = {"question": "Seen it?", "answer_options": ["Yes", "No"]}
    for words in (ENGLISH | WELSH | welsh_ask, ENGLISH | english_ask | welsh_ask):
        preview = officer_client.post("/officers/compose", json=words).json
        sent = officer_client.post("/officers/alerts", json=payload | words)
        assert sent.status_code == 400
        assert preview["refused"]["question_cy"] == sent.json["errors"]["question_cy"]
    # Asked in both, it is no refusal.
    fine = officer_client.post("/officers/compose", json=ENGLISH | WELSH | english_ask | welsh_ask)
    assert "question_cy" not in fine.json["refused"]
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0


def test_another_forces_alert_is_signed_by_that_force_in_both_languages(app, second_force):
    """Found reading an outside check's report: the words naming the police (the Welsh
    sign-off, a bilingual text's two names, the e-mail's subject, the Welsh call) named
    the request's force, and a worker's is the default one: a Wiltshire alert in both
    languages was signed by Avon and Somerset Police."""
    from app.models import Alert
    from app.services.dispatch import render_message
    from app.services.outbound import Claimed

    alert = Alert(
        force_id=second_force.id,
        title="Road closed",
        body="The A36 is closed.",
        title_cy="Ffordd ar gau",
        body_cy="Mae'r A36 ar gau.",
        mode="live",
        reference="WLT-DEMO-1",
    )
    for channel, address in (
        ("sms", "+447700900001"),
        ("email", "sam@example.invalid"),
        ("voice", "+441174960000"),
    ):
        for welsh_first in (True, False):
            claimed = Claimed(1, None, None, channel, address, 1)
            with app.test_request_context():
                message = render_message(alert, claimed, welsh_first)
            words = " ".join(
                [message.subject or "", message.body, message.welsh or "", *message.also_reads]
            )
            assert "Avon" not in words, (channel, welsh_first, words)
            assert "Wiltshire Police" in words or "Heddlu Wiltshire" in words, (channel, words)
            if channel == "email":  # its check page is its force's (it was the first's)
                assert f"/forces/{second_force.slug}/check" in message.body


def test_a_follow_up_keeps_its_alerts_languages(officer_client, make_resident):
    """Only the English title was filled in: an all-clear after a bilingual alert went
    in English alone unless the officer opened "Also in Welsh", and a Welsh-only alert's
    update read "Update: Lladradau ceir" in the English box (an outside check)."""
    make_resident(postcode="BS1 6AD", sms="+447700900106")
    both = send(officer_client)
    form = html.fromstring(
        officer_client.get(f"/officers/?follow_up={both.id}&kind=all_clear").text
    )
    assert form.get_element_by_id("title").get("value") == "All clear: Car thefts"
    assert form.get_element_by_id("title-cy").get("value") == "Popeth yn glir: Lladradau ceir"
    assert form.get_element_by_id("welsh-version").get("open") is not None
    # The count when it went, said so: the bar counts who can be reached now, and two
    # "same residents" figures read as a fault (an outside check).
    label = form.xpath('//label[@for="audience-parent"]')[0].text_content()
    assert label.startswith("The same residents it reached (") and label.endswith(" when it went)")
    welsh = send(officer_client, title="", body="")
    form = html.fromstring(officer_client.get(f"/officers/?follow_up={welsh.id}&kind=update").text)
    assert form.get_element_by_id("title").get("value") is None
    assert form.get_element_by_id("title-cy").get("value") == "Diweddariad: Lladradau ceir"
    english = send(officer_client, title_cy="", body_cy="")
    form = html.fromstring(
        officer_client.get(f"/officers/?follow_up={english.id}&kind=update").text
    )
    assert form.get_element_by_id("title").get("value") == "Update: Car thefts"
    assert form.get_element_by_id("title-cy").get("value") is None
    assert form.get_element_by_id("welsh-version").get("open") is None


def test_staff_pages_mark_an_alerts_words_with_their_language(officer_client, make_resident):
    # A screen reader read a Welsh-only alert on an English staff page with an English
    # voice (an outside check); on a Welsh page, English words are marked too.
    make_resident(postcode="BS1 6AD", sms="+447700900107")
    welsh = send(officer_client, title="", body="")
    page = officer_client.get(f"/officers/alerts/{welsh.id}").text
    assert f'<h1 lang="cy">{WELSH["title_cy"]}</h1>' in page
    assert f'<blockquote class="message" lang="cy">{WELSH["body_cy"]}' in page
    assert f'lang="cy">{WELSH["title_cy"]}</a>' in officer_client.get("/officers/alerts").text
    english = send(officer_client, title_cy="", body_cy="")
    on_welsh_page = officer_client.get(f"/officers/alerts/{english.id}?lang=cy").text
    officer_client.get("/officers/?lang=en")
    assert f'<h1 lang="en-GB">{ENGLISH["title"]}</h1>' in on_welsh_page
    plain = officer_client.get(f"/officers/alerts/{english.id}").text
    assert f"<h1>{ENGLISH['title']}</h1>" in plain


def test_each_part_of_an_e_mail_is_marked_with_its_language(app, app_ctx):
    """A Welsh resident's e-mail was Welsh throughout to a screen reader, the officer's
    English included; an English resident's read the Welsh half with English rules."""
    from app.channels.smtp import build_email
    from app.services import forces
    from app.services.dispatch import render_message
    from app.services.outbound import Claimed

    force_id = forces.default_force().id

    def html_of(alert: Alert, welsh_first: bool) -> str:
        with app.test_request_context():
            message = render_message(
                alert, Claimed(1, None, None, "email", "a@b.invalid", 1), welsh_first
            )
        return build_email(message, "alerts@police.example").get_body(("html",)).get_content()

    english_only = Alert(
        force_id=force_id,
        title="Road closed",
        body="The A36 is closed.\n\nUse the A4.",
        mode="live",
    )
    to_welsh = html_of(english_only, True)
    assert '<html lang="cy">' in to_welsh
    assert '<p lang="en-GB">The A36 is closed.</p><p lang="en-GB">Use the A4.</p>' in to_welsh
    assert "<p>Heddlu Avon a Gwlad yr Haf</p>" in to_welsh  # our words, in the page's
    both = Alert(
        force_id=force_id,
        title="Road closed",
        body="The A36 is closed.",
        title_cy="Ffordd ar gau",
        body_cy="Mae'r A36 ar gau.\n\nDefnyddiwch yr A4.",
        mode="live",
    )
    to_english = html_of(both, False)
    assert '<html lang="en-GB"><body><p>The A36 is closed.</p>' in to_english
    assert (
        '<p>---</p><p lang="cy">Mae&#x27;r A36 ar gau.</p><p lang="cy">Defnyddiwch yr A4.</p>'
        '<p lang="cy">Heddlu Avon a Gwlad yr Haf</p>'
    ) in to_english
    to_welsh = html_of(both, True)
    assert "<body><p>Mae&#x27;r A36 ar gau.</p>" in to_welsh
    assert '<p>---</p><p lang="en-GB">The A36 is closed.</p><p lang="en-GB">Avon' in to_welsh
    # An exercise's closing words are the resident's, a paragraph of their own (they
    # sat in the English half's last paragraph: a re-check).
    both.mode = "exercise"
    drill = html_of(both, True)
    assert "<p>Ymarfer yw hwn. Nid oes angen gweithredu.</p>" in drill
    # Its opening words too, before the rest, each part still marked as it was.
    assert "<body><p>YMARFER YMARFER YMARFER.</p><p>Mae&#x27;r A36 ar gau.</p>" in drill
    english_only.mode = "exercise"
    english_drill = html_of(english_only, True)
    assert '<p>YMARFER YMARFER YMARFER.</p><p lang="en-GB">The A36 is closed.</p>' in english_drill
    assert '<p lang="en-GB">Avon and Somerset Police</p>' in drill


def test_a_text_too_long_in_a_welsh_residents_words_is_refused(officer_client):
    """Our words are longer in Welsh ("ar gyfer" for "for", "Atebwch" for "Reply"): a
    text that kept to SMS_MAX_SEGMENTS in English went past it to Welsh residents, and
    cost more than said (a review)."""
    from app.references import SAMPLE
    from app.services import forces, message_text
    from app.services.dispatch import sms_reference

    asked = ("Seen it?", ["Yes", "No", "Maybe", "Unsure"], False)
    most = officer_client.application.config["SMS_MAX_SEGMENTS"]

    def parts(body: str, first: bool) -> int:
        text = message_text.sms_text(
            title="T",
            body=body,
            force=forces.current_force().name,
            ask=message_text.sms_ask(*asked, "cy" if first else "en"),
            reference=sms_reference(SAMPLE),
            welsh_first=first,
        )
        return message_text.sms_length(text).segments

    body = next(
        "x" * n for n in range(400, 700) if parts("x" * n, False) <= most < parts("x" * n, True)
    )
    payload = {"title": "T", "body": body, "question": asked[0], "answer_options": asked[1]}
    refused = officer_client.post(
        "/officers/alerts",
        json={"shapes": [{"kind": "circle", "center": BS1_6AD, "radius_m": 800}]} | payload,
    )
    assert refused.status_code == 400 and "parts" in refused.json["errors"]["body"]
    # The counter says so before the send: it showed the English alone, within the
    # limit, and "Send now" refused it (a review).
    preview = officer_client.post("/officers/compose", json=payload).json["sms"]
    assert preview["segments"] == parts(body, False) <= most
    assert preview["welsh_speakers_segments"] == preview["longest_segments"] > most
    assert preview["too_long"] is True
    # Its cost is the longer's (a review: it was the English's).
    price = float(officer_client.application.config["SMS_PRICE_PER_SEGMENT"])
    assert preview["cost"] == round(preview["longest_segments"] * price, 4) > 0


def test_a_welsh_speakers_call_asks_and_introduces_in_welsh(app, app_ctx):
    """A Welsh speaker's call asked "Seen it? Press 1 for Yes, 2 for No." in English,
    in the English voice, between its Welsh words and its Welsh ending, and a recorded
    message was introduced (and marked an exercise) in English: our words are Welsh,
    said by the Welsh voice. The officer's question as they wrote it: in English only,
    it is asked in English, in the English voice, as the English words are said (the
    Welsh voice read "Seen it? Pwyswch 1 ar gyfer Yes, 2 ar gyfer No.": an outside
    check); in Welsh too, in Welsh. An English speaker's call is as it was."""
    from app.models import AlertRecording
    from app.services.dispatch import render_message
    from app.services.forces import default_force
    from app.services.outbound import Claimed

    alert = Alert(
        force_id=default_force().id,
        title="Car thefts",
        body="Cars broken into.",
        mode="exercise",
        reference="ASP-DEMO-1",
        question="Seen it?",
        answer_options=["Yes", "No"],
    )
    claimed = Claimed(1, None, None, "voice", "+441174960000", 1)

    def said(welsh_first: bool) -> list[tuple[str, str]]:
        with app.test_request_context():
            message = render_message(alert, claimed, welsh_first)
        twiml = voice_twiml(
            message.body,
            "Polly.Amy",
            message.audio_url,
            ask=message.ask,
            answer_url=message.answer_url,
            welsh=message.welsh,
            welsh_voice="Polly.Gwyneth",
            welsh_first=message.welsh_first,
            closing=message.closing,
            ask_welsh=message.ask_welsh,
        )
        document = etree.fromstring(twiml.encode())
        return [(s.get("voice"), s.text) for s in document.iter("Say")]

    cymraeg = said(True)
    assert ("Polly.Amy", "Seen it? Press 1 for Yes, 2 for No.") in cymraeg
    assert not any("Pwyswch 1 ar gyfer" in words for _, words in cymraeg)
    alert.question_cy, alert.answer_options_cy = "Welsoch chi?", ["Do", "Naddo"]
    assert ("Polly.Gwyneth", "Welsoch chi? Pwyswch 1 ar gyfer Do, 2 ar gyfer Naddo.") in said(True)
    alert.question_cy = alert.answer_options_cy = None
    english = said(False)
    assert ("Polly.Amy", "Seen it? Press 1 for Yes, 2 for No.") in english
    alert.question, alert.answer_options, alert.confirm_receipt = None, None, True
    assert ("Polly.Gwyneth", "Pwyswch 1 i gadarnhau eich bod wedi cael y neges hon.") in said(True)
    # A recording: introduced in Welsh, an exercise marked so, "again" in Welsh.
    alert.recording = AlertRecording(
        token="t" * 20, filename="a.mp3", content_type="audio/mpeg", seconds=3, data=b"x"
    )
    cymraeg = said(True)
    assert cymraeg[0][0] == "Polly.Gwyneth"
    assert cymraeg[0][1].startswith("Dyma neges gan Heddlu Avon a Gwlad yr Haf.")
    assert "YMARFER YMARFER YMARFER." in cymraeg[0][1] and "EXERCISE" not in cymraeg[0][1]
    assert ("Polly.Gwyneth", "Eto.") in cymraeg
    assert all(voice == "Polly.Gwyneth" for voice, _ in cymraeg)
    english = said(False)
    assert english[0] == (
        "Polly.Amy",
        "This is a message from Avon and Somerset Police. EXERCISE EXERCISE EXERCISE. "
        "The reference for this message is " + english[0][1].split("message is ")[1],
    )
    assert ("Polly.Amy", "Again.") in english


def test_an_e_mails_own_links_are_links_and_an_officers_are_text(app, app_ctx):
    """The check page's link (and a question's answer page's) was text in the e-mail's
    HTML, to be copied by a resident who is not technical (an outside check); a link
    the officer typed stays text, as it always was."""
    from app.channels.smtp import build_email
    from app.services import forces
    from app.services.dispatch import render_message
    from app.services.outbound import Claimed

    alert = Alert(
        force_id=forces.default_force().id,
        title="Road closed",
        body="The A36 is closed. See https://example.com/roads for more.",
        mode="live",
        reference="A7K2-9QF",
        question="Seen it?",
        answer_options=["Yes", "No"],
    )
    with app.test_request_context():
        message = render_message(alert, Claimed(7, None, None, "email", "a@b.invalid", 1))
    page = build_email(message, "alerts@police.example").get_body(("html",)).get_content()
    anchors = html.fromstring(page).xpath("//a/@href")
    assert any(href.endswith("/check") for href in anchors), anchors
    assert any("/answer/" in href for href in anchors), anchors
    assert "https://example.com/roads" in page
    assert not any("example.com" in href for href in anchors)
    # Written in both languages, each language's check link opens its own page (the
    # Welsh lines' opened the English page for an English reader, and the other way
    # round: an outside re-check), whichever comes first.
    alert.title_cy, alert.body_cy = "Ffordd ar gau", "Mae'r A36 ar gau."
    for welsh_first in (False, True):
        with app.test_request_context():
            message = render_message(
                alert, Claimed(7, None, None, "email", "a@b.invalid", 1), welsh_first
            )
        english_half, welsh_half = message.body.split("\n\n---\n\n")[
            :: 1 if not welsh_first else -1
        ]
        assert re.search(r"genuine: \S+/check(\n|$)", english_half), english_half
        assert re.search(r"ddilys: \S+/check\?lang=cy(\n|$)", welsh_half), welsh_half


WELSH_ASK = {
    "question": "Seen it?",
    "answer_options": ["Yes", "No"],
    "question_cy": "Welsoch chi e?",
    "answer_options_cy": ["Do", "Naddo"],
}


def test_a_welsh_speaker_is_asked_the_welsh_question_and_answers_in_welsh(
    app, client, officer_client, make_resident, run_worker
):
    """Found by a review: a Welsh speaker's text, call and e-mail asked the
    officer's English question ("Seen it?", the Welsh voice reading it) between Welsh
    words, as there was nowhere to write it in Welsh. The question and its answers in
    Welsh go to those who chose Welsh, "Naddo" answers 2, and its page asks in Welsh."""
    from app.services import replies
    from app.services.alerts.drafts import written_again
    from app.services.dispatch import render_message
    from app.services.outbound import Claimed

    welsh = make_resident(postcode="BS1 6AD", sms="+447700900111", email="cy2@example.invalid")
    make_resident(postcode="BS1 6AD", sms="+447700900112", email="en2@example.invalid")
    db.session.execute(
        text("UPDATE residents SET language = 'cy' WHERE id = :id"), {"id": welsh.id}
    )
    db.session.commit()
    short = WELSH | {"body_cy": "Ceir ar Heol y Farchnad."}  # in 4 parts, with the question
    preview = officer_client.post("/officers/compose", json=ENGLISH | short | WELSH_ASK).json
    assert (
        "\nWelsoch chi e? Atebwch 1 ar gyfer Do, 2 ar gyfer Naddo.\n"
        in (preview["sms"]["text_welsh_first"])
    )
    assert "Welsoch" not in preview["sms"]["text"]
    # The e-mail preview says what the Welsh speakers' e-mails ask (it showed the English).
    assert preview["email"]["welsh_ask"].startswith("Welsoch chi e? Atebwch yma: ")
    english_only = officer_client.post("/officers/compose", json=ENGLISH | short).json
    assert english_only["email"]["welsh_ask"] is None
    alert = send(officer_client, **short, **WELSH_ASK)
    assert (alert.question_cy, alert.answer_options_cy) == ("Welsoch chi e?", ["Do", "Naddo"])
    run_worker()
    db.session.expire_all()
    texts, mails = outbox(alert, "sms"), outbox(alert, "email")
    cymraeg, english = texts["+447700900111"], texts["+447700900112"]
    assert "\nWelsoch chi e? Atebwch 1 ar gyfer Do, 2 ar gyfer Naddo.\n" in cymraeg
    assert "Seen it?" not in cymraeg
    assert "Seen it? Reply 1 for Yes, 2 for No." in english and "Welsoch" not in english
    assert "Welsoch chi e? Atebwch yma: http" in mails["cy2@example.invalid"]
    assert "Seen it? Answer here: http" in mails["en2@example.invalid"]
    link = mails["cy2@example.invalid"].split("Atebwch yma: ", 1)[1].split()[0]
    page = client.get(link.split("127.0.0.1", 1)[-1].split(":", 1)[-1].lstrip("0123456789"))
    assert '<h2 lang="cy">Welsoch chi e?</h2>' in page.text and "Naddo" in page.text
    # A call to a Welsh speaker asks in Welsh, in the Welsh voice's words.
    with app.test_request_context():
        called = render_message(
            alert, Claimed(1, welsh.id, None, "voice", "+441174960001", 1), True
        )
    assert called.ask == "Welsoch chi e? Pwyswch 1 ar gyfer Do, 2 ar gyfer Naddo."
    # "Naddo" answers the second option; the check page knows the Welsh text as ours.
    assert replies.receive_text("+447700900111", "Naddo", "SM" + "7" * 32) == "answer"
    answers = replies.answers_of(db.session.get(Alert, alert.id))
    assert [o["count"] for o in answers["options"]] == [0, 1]
    token = client.get("/check").text.split('name="csrf_token" value="')[1].split('"')[0]
    checked = client.post("/check?lang=cy", data={"message": cymraeg, "csrf_token": token})
    assert 'class="panel panel-success"' in checked.text
    # Its officer's page shows it; written again, it comes back.
    assert (
        "Welsoch chi e? (1: Do, 2: Naddo)"
        in officer_client.get(f"/officers/alerts/{alert.id}").text
    )
    alert.status, alert.sent_at = "rejected", None
    assert written_again(alert)["fields"]["question-cy"] == "Welsoch chi e?"
    db.session.rollback()


def test_a_welsh_question_is_checked_as_the_english_one_is(officer_client, make_resident):
    make_resident(postcode="BS1 6AD", sms="+447700900113")
    shapes = {"shapes": [{"kind": "circle", "center": BS1_6AD, "radius_m": 800}]}

    def refused(**words) -> dict:
        response = officer_client.post("/officers/alerts", json=shapes | words)
        assert response.status_code == 400, response.json
        return response.json["errors"]

    # Without the Welsh words it goes with; without the English question; a count of
    # answers other than the English's; two the same; a question without answers.
    assert "Welsh title and message" in refused(**ENGLISH, **WELSH_ASK)["question_cy"]
    no_english = WELSH_ASK | {"question": "", "answer_options": []}
    assert "in English too" in refused(**ENGLISH, **WELSH, **no_english)["question_cy"]
    three = WELSH_ASK | {"answer_options_cy": ["Do", "Naddo", "Efallai"]}
    assert (
        "each of the 2 English answers" in refused(**ENGLISH, **WELSH, **three)["answer_options_cy"]
    )
    same = WELSH_ASK | {"answer_options_cy": ["Do", "do"]}
    assert "Two answers are the same" in refused(**ENGLISH, **WELSH, **same)["answer_options_cy"]
    bare = WELSH_ASK | {"question_cy": ""}
    assert "Welsh question the Welsh answers" in refused(**ENGLISH, **WELSH, **bare)["question_cy"]
    assert (
        "\n"
        not in refused(**ENGLISH, **WELSH, **WELSH_ASK | {"question_cy": "a\u202eb"})["question_cy"]
    )
    # Written in Welsh only, its question in the Welsh boxes is everyone's.
    alone = officer_client.post(
        "/officers/alerts",
        json=shapes | {"title": "", "body": ""} | WELSH | WELSH_ASK | {"question": ""},
    )
    assert alone.status_code == 201, alone.json
    alert = db.session.get(Alert, alone.json["alert_id"])
    assert (alert.language, alert.question, alert.answer_options) == (
        "cy",
        "Welsoch chi e?",
        ["Do", "Naddo"],
    )
    assert alert.question_cy is None and alert.answer_options_cy is None


WELSH_ONLY = {"title": "", "body": "", **WELSH}
ENGLISH_ASK = {"question": "Seen it?", "answer_options": ["Yes", "No"]}


@pytest.mark.parametrize(
    ("words", "key", "said"),
    [
        (
            WELSH_ONLY | {"question_cy": "Welaist ti?", "answer_options_cy": ["Do"]},
            "answer_options_cy",
            "Give at least two answers to choose from.",
        ),
        (
            WELSH_ONLY | {"answer_options_cy": ["Do", "Naddo"]},
            "question_cy",
            "Write the Welsh question the Welsh answers are for",
        ),
        (
            ENGLISH | WELSH | ENGLISH_ASK | {"answer_options_cy": ["Do", "Naddo"]},
            "question_cy",
            "Write the Welsh question the Welsh answers are for",
        ),
        (
            ENGLISH | WELSH | ENGLISH_ASK | {"question_cy": "Welaist ti?"},
            "answer_options_cy",
            "Give at least two answers to choose from.",
        ),
        (
            ENGLISH
            | WELSH
            | ENGLISH_ASK
            | {"question_cy": "Welaist ti?", "answer_options_cy": ["Do", "Naddo", "Efallai"]},
            "answer_options_cy",
            "Give each of the 2 English answers in Welsh, in the same order.",
        ),
        (ENGLISH | {"answer_options": ["Yes", "No"]}, "question", "Write the question the"),
        (ENGLISH | {"question": "Seen it?", "answer_options": ["Yes"]}, "answer_options", "Give"),
    ],
)
def test_the_preview_says_at_send_what_the_send_refuses_of_a_question_not_finished(
    officer_client, words, key, said
):
    """Found by an outside check: a Welsh-only alert's Welsh question with one answer
    was asked "Send … now? It asks “Welaist ti?”, with 1 answers.", and only "Send
    now" refused it; answers with no question, and the Welsh short of the English, the
    same. The preview says it as "unfinished" (shown at "Send…", not as it is typed),
    in the send's words, at the same box."""
    preview = officer_client.post("/officers/compose", json=words).json
    assert preview["unfinished"][key].startswith(said)
    assert key not in preview["refused"]
    sent = officer_client.post("/officers/alerts", json=words | {"shapes": []})
    assert sent.status_code == 400
    assert sent.json["errors"][key] == preview["unfinished"][key]
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0


def test_a_finished_question_is_not_said_to_be_unfinished(officer_client):
    for words in (ENGLISH | ENGLISH_ASK, ENGLISH | WELSH | WELSH_ASK, ENGLISH, WELSH_ONLY):
        assert officer_client.post("/officers/compose", json=words).json["unfinished"] == {}
