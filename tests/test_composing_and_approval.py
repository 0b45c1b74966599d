"""Choosing who hears, writing it, approval, scheduling, follow-ups, tests to oneself and
exercises, on real PostgreSQL + PostGIS and Redis, through the officer's JSON API."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text, update

from app.extensions import db
from app.models import Alert, AlertTemplate, AuditEvent, Delivery, OutboxMessage, Place
from app.services.alerts import release_scheduled_alerts
from tests.factories import approval_form, form_token, signed_in

BS1_6AD = [-2.588230, 51.451967]
FROME = [-2.3197, 51.2300]  # BA11, a few km from the Wiltshire border
WARMINSTER = [-2.1790, 51.2050]  # BA12, Wiltshire, 8 km east of the border


def circle(center=BS1_6AD, radius_m=2000, **extra):
    return {"kind": "circle", "center": center, "radius_m": radius_m} | extra


def place_id(kind: str, name: str) -> int:
    return db.session.scalar(select(Place.id).where(Place.kind == kind, Place.name == name))


@pytest.fixture
def exact_counts(app, monkeypatch):
    """No count hidden: these tests check who an alert reaches with a handful of
    residents. tests/test_small_counts.py checks that officers never see such counts."""
    monkeypatch.setitem(app.config, "DENSITY_MIN_COUNT", 0)


@pytest.fixture
def town(make_resident):
    """Central Bristol: watch members and others, on different channels."""
    return {
        "watch": make_resident(
            postcode="BS1 6AD", sms="+447700900001", groups=("neighbourhood-watch",)
        ),
        "farm": make_resident(
            postcode="BS8 1TH", sms=None, email="farm@example.invalid", groups=("farm-watch",)
        ),
        "both": make_resident(
            postcode="BS1 6AD",
            sms="+447700900002",
            voice="+441174960002",
            groups=("neighbourhood-watch", "farm-watch"),
        ),
        "none": make_resident(postcode="BS8 1TH", sms="+447700900004", email="n@example.invalid"),
        "taunton": make_resident(postcode="TA1 1AA", sms="+447700900005"),
    }


def send(client, **payload):
    body = {"shapes": [circle()], "title": "Burglaries", "body": "Lock your doors."} | payload
    return client.post("/officers/alerts", json=body)


# --- choosing who hears -------------------------------------------------------------


def test_groups_and_channels_narrow_the_audience_and_the_send_matches_the_preview(
    officer_client, town, run_worker, exact_counts
):
    request = {"shapes": [circle()], "groups": ["neighbourhood-watch"], "channels": ["sms"]}
    preview = officer_client.post("/officers/preview", json=request)
    assert preview.status_code == 200
    assert preview.json["residents"] == 2
    assert preview.json["channels"] == {"sms": 2, "voice": 0, "email": 0}

    sent = send(officer_client, **request, expected_residents=preview.json["residents"])
    assert sent.status_code == 201, sent.json
    deliveries = db.session.scalars(select(Delivery)).all()
    assert sorted((d.channel, d.address) for d in deliveries) == [
        ("sms", "+447700900001"),
        ("sms", "+447700900002"),
    ]


def test_preview_counts_each_group_reached(officer_client, town, exact_counts):
    preview = officer_client.post("/officers/preview", json={"shapes": [circle()]})
    assert preview.json["residents"] == 4
    assert preview.json["groups"] == {"neighbourhood-watch": 2, "farm-watch": 2}


def test_a_ward_minus_a_circle_reaches_the_rest_of_the_ward(officer_client, town, exact_counts):
    central = place_id("ward", "Central")
    whole = officer_client.post(
        "/officers/preview", json={"shapes": [{"kind": "place", "place_id": central}]}
    )
    assert whole.json["residents"] == 4  # Taunton is in another ward
    # BS1 6AD and BS8 1TH are about 1.1 km apart: a 300 m hole round BS1 6AD.
    minus = officer_client.post(
        "/officers/preview",
        json={
            "shapes": [
                {"kind": "place", "place_id": central},
                circle(radius_m=300, exclude=True),
            ]
        },
    )
    assert minus.json["residents"] == 2
    assert minus.json["channels"] == {"sms": 1, "voice": 0, "email": 2}


def test_places_are_searchable_force_first(officer_client):
    found = officer_client.get("/officers/places?q=bristol").json["places"]
    assert found[0] == {
        "id": place_id("district", "Bristol, City of"),
        "kind": "district",
        "name": "City of Bristol",  # as pages name it
    }
    wards = officer_client.get("/officers/places?q=centr").json["places"]
    assert {"kind": "ward", "name": "Central"} in [
        {"kind": p["kind"], "name": p["name"]} for p in wards
    ]
    # Posted as the map does (what was typed stays out of the address), the same.
    posted = officer_client.post("/officers/places", json={"q": "centr"})
    assert posted.json["places"] == wards
    # What a paste brings along unseen (a soft hyphen, a zero-width joiner) is not part
    # of the name (found nothing, as a reference so pasted was not ours: an outside check).
    unseen = officer_client.post("/officers/places", json={"q": "cen\u00adt\u200dr"})
    assert unseen.json["places"] == wards
    for nonsense in ([1], {"q": 5}, None):
        assert officer_client.post("/officers/places", json=nonsense).json["places"] == []
    # Districts of other forces are not offered.
    assert officer_client.get("/officers/places?q=wiltshire").json["places"] == []
    outline = officer_client.get(f"/officers/places/{place_id('ward', 'Central')}").json
    assert outline["name"] == "Central" and '"Polygon"' in outline["geometry"]


def test_another_forces_officer_is_not_offered_this_forces_wards(app, second_force, make_officer):
    """A Wiltshire officer searching "Central" was offered Bristol's ward."""
    from tests.factories import signed_in

    theirs = make_officer(role="officer", email="pc@wilts.example", force_id=second_force.id)
    client = signed_in(app, theirs, "officer")
    found = client.get("/officers/places?q=centr").json["places"]
    assert "Central" not in [p["name"] for p in found]
    wilts = client.get("/officers/places?q=wilts").json["places"]
    assert {"kind": "force", "name": "Wiltshire"} in [
        {"kind": p["kind"], "name": p["name"]} for p in wilts
    ]


def test_residents_near_the_edge_are_counted_both_sides(
    officer_client, make_resident, exact_counts
):
    make_resident(postcode="BS1 6AD", sms="+447700900001")
    # A circle whose edge passes about 50 m from BS1 6AD, first with it just inside...
    east = [BS1_6AD[0] + 0.0135, BS1_6AD[1]]  # ~940 m east
    inside = officer_client.post(
        "/officers/preview", json={"shapes": [circle(center=east, radius_m=990)]}
    ).json
    assert inside["residents"] == 1
    assert inside["near_edge"] == {"inside": 1, "outside": 0}
    # ...then just outside.
    outside = officer_client.post(
        "/officers/preview", json={"shapes": [circle(center=east, radius_m=890)]}
    ).json
    assert outside["residents"] == 0
    assert outside["near_edge"] == {"inside": 0, "outside": 1}


def test_the_map_gets_squares_never_homes(app, officer_client, make_resident):
    for n in range(6):
        make_resident(postcode="BS1 6AD", sms=f"+4477009001{n:02d}")
    make_resident(postcode="BS8 1TH", sms="+447700900200")
    cells = officer_client.post("/officers/preview", json={"shapes": [circle()]}).json["cells"]
    # Six residents in one square are shown; the lone one's square is left out: shown
    # blank, it would still say that someone is registered there.
    assert [c["residents"] for c in cells] == [6]
    assert all('"Polygon"' in c["geometry"] for c in cells)


def test_an_area_reaching_outside_the_force_is_flagged(officer_client):
    inside = officer_client.post("/officers/preview", json={"shapes": [circle(radius_m=500)]})
    assert inside.json["outside_force_km2"] == 0
    frome = officer_client.post(
        "/officers/preview", json={"shapes": [circle(center=FROME, radius_m=10_000)]}
    )
    assert frome.status_code == 200
    assert 20 < frome.json["outside_force_km2"] < 314  # part, not all, of a 314 km² circle
    assert inside.json["wholly_outside_force"] is False
    assert frome.json["wholly_outside_force"] is False
    # Warminster, in Wiltshire: all of it outside, and the map says so (it said "fewer
    # than 5" and no more).
    warminster = officer_client.post(
        "/officers/preview", json={"shapes": [circle(center=WARMINSTER, radius_m=2000)]}
    )
    assert warminster.status_code == 200
    assert warminster.json["wholly_outside_force"] is True
    assert warminster.json["outside_force_km2"] == pytest.approx(12.57, abs=0.05)
    # And sending there says why nobody is reached, as the map does (it said only
    # "Nobody registered is inside this area": an outside check).
    refused = officer_client.post(
        "/officers/alerts",
        json={"shapes": [circle(center=WARMINSTER, radius_m=2000)], "title": "T", "body": "B"},
    )
    assert refused.status_code == 400
    assert "All of this area is outside Avon and Somerset" in refused.json["error"]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"groups": "watch"}, "groups", "list"),
        ({"groups": ["no-such-group"]}, "groups", "no longer exists"),
        ({"channels": ["fax"]}, "channels", "text, voice or e-mail"),
        ({"shapes": [{"kind": "place", "place_id": 999999}]}, "area", "no longer have"),
        # Past what an id can be: not the database's "value out of range" (an outside check).
        ({"shapes": [{"kind": "place", "place_id": 10**20}]}, "area", "no longer have"),
        ({"shapes": [{"kind": "place", "place_id": -1}]}, "area", "no longer have"),
        ({"shapes": [{"kind": "place", "place_id": "Central"}]}, "area", "names no place"),
        ({"send_at": "next tuesday"}, "send_at", "date and time"),
        ({"category": "gossip"}, "category", "what the alert is about"),
        ({"mode": "test"}, "mode", "live or exercise"),
        ({"parent_id": "7"}, "parent_id", 'must be a number, not text: 7, not "7".'),
        ({"expected_residents": "7"}, "expected_residents", "not text"),
        ({"audience": "parent"}, "area", "Only a follow-up goes to the residents an alert"),
        ({"parent_id": 7.5}, "parent_id", "whole number"),
    ],
)
def test_bad_requests_get_a_400_naming_the_field(officer_client, town, payload, field, message):
    response = send(officer_client, **payload)
    assert response.status_code == 400
    assert message in response.json["errors"][field]
    assert db.session.scalar(select(Alert.id)) is None  # nothing half-written


# --- writing it ---------------------------------------------------------------------


def test_the_compose_preview_of_words_far_too_long_is_quick_and_cut(officer_client):
    # Folding a 900 KB title into an e-mail subject held a server thread for a minute.
    huge = {"title": "T" * 900_000, "body": "b" * 50_000, "question": "q" * 50_000}
    answer = officer_client.post(
        "/officers/compose", json=huge | {"answer_options": ["o" * 9] * 99}
    )
    assert answer.status_code == 200
    assert answer.json["sms"]["too_long"] is True
    assert len(answer.json["sms"]["text"]) < 10_000
    # Answers by the ten thousand: the first ten read, too many said (50,000 held a
    # server thread 2.7 s: a review).
    many = officer_client.post(
        "/officers/compose", json={"title": "T", "body": "B", "answer_options": ["o"] * 50_000}
    )
    assert many.json["refused"]["answer_options"].startswith("Give at most 4 answers")
    # The send refuses what the preview cut, saying by how much.
    refused = officer_client.post("/officers/alerts", json=huge | {"shapes": []})
    assert "Keep the title to 120 characters (it is 900,000)" in refused.json["errors"]["title"]
    # On a Welsh page, in Welsh (found by an outside probe: the compose page's
    # refusals were English there).
    welsh = officer_client.post(
        "/officers/alerts?lang=cy", json=huge | {"shapes": [], "channels": ["fax"]}
    )
    errors = welsh.json["errors"]
    officer_client.get("/officers/?lang=en")
    assert errors["title"] == "Cadwch y teitl i 120 nod (mae'n 900,000)."
    assert errors["channels"] == "Dewiswch neges destun, llais neu e-bost."


@pytest.mark.parametrize("value", [["x"], {"x": 1}, 7, True])
def test_words_that_are_not_text_are_refused_not_turned_into_text(officer_client, value):
    # As text, ["x"] was "['x']": an alert's or a template's title.
    for path, body in (
        ("/officers/alerts", {"shapes": [], "body": "B"}),
        ("/officers/compose", {"body": "B"}),
        ("/officers/templates", {"name": "N", "category": "incident", "body": "B"}),
    ):
        answer = officer_client.post(path, json=body | {"title": value})
        assert answer.status_code == 400, path
        assert answer.json["errors"]["title"] == "title must be text.", path
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0
    assert db.session.scalar(select(func.count()).select_from(AlertTemplate)) == 0


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("answer_options", [1, 2], "answer_options must be a list of words, each in quotes."),
        ("answer_options_cy", "Ie", "answer_options_cy must be a list of words, each in quotes."),
        ("recording_id", "7", 'recording_id must be a number, not text: 7, not "7".'),
        ("recording_id", -1, "recording_id must be a whole number from 0 to"),
        ("confirm_receipt", "yes", "confirm_receipt must be true or false."),
    ],
)
def test_the_compose_preview_refuses_each_box_of_the_wrong_type_as_the_send_does(
    officer_client, field, value, said
):
    # The preview dropped them quietly (answers of numbers, a tick of "yes") and showed
    # the words as fine; only "Send now" refused them.
    words = {"title": "Lock up", "body": "Sheds", "question": "Seen it?", field: value}
    for path, body in (("/officers/compose", words), ("/officers/alerts", words | {"shapes": []})):
        answer = officer_client.post(path, json=body)
        assert answer.status_code == 400, path
        assert answer.json["errors"][field].startswith(said), path
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0


def test_a_hand_made_requests_mistakes_are_said_in_the_pages_language(officer_client):
    # The page never sends these, but a Welsh page's answer to them was English, the
    # value named in it too ("nid text ("a")"): an outside check.
    ring = [[-2.6, 51.45], [-2.59, 51.45], ["a", 51.46], [-2.6, 51.45]]
    body = {
        "title": 7,
        "body": "B",
        "groups": "Farm Watch",
        "confirm_receipt": "yes",
        "audience": "all",
        "shapes": [{"kind": "polygon", "coordinates": [ring]}],
    }
    welsh = officer_client.post("/officers/alerts?lang=cy", json=body).json["errors"]
    english = officer_client.post("/officers/alerts?lang=en", json=body).json["errors"]
    assert english["title"] == "title must be text."
    assert welsh["title"] == "title: rhaid iddo fod yn destun."
    assert welsh["groups"] == "groups: rhaid iddo fod yn rhestr o eiriau, pob un mewn dyfynodau."
    assert welsh["confirm_receipt"] == "Rhaid i confirm_receipt fod yn true neu false."
    assert welsh["audience"].startswith("Rhaid i audience fod yn area")
    shapes = {"shapes": body["shapes"]}
    area = officer_client.post("/officers/preview?lang=cy", json=shapes).json["error"]
    officer_client.get("/officers/?lang=en")
    assert 'testun ("a")' in area and "text (" not in area
    assert db.session.scalar(select(func.count()).select_from(AlertTemplate)) == 0


def test_the_compose_preview_says_what_sending_would_refuse_in_the_words(officer_client, town):
    """Found by an outside check: the preview cleaned a tab in the title, a line
    separator or a right-to-left override quietly and showed the words as fine; only
    "Send now" refused them. It says what the send will refuse, by the same checks."""
    words = {"title": "Lock\tup", "body": "Sheds \u202eopen", "question": "Ok\u2028?"}
    preview = officer_client.post("/officers/compose", json=words)
    assert preview.status_code == 200
    assert set(preview.json["refused"]) == {"title", "body", "question"}
    sent = officer_client.post(
        "/officers/alerts", json={"shapes": [circle()], "title": "Lock\tup", "body": "Sheds"}
    )
    assert sent.status_code == 400
    assert preview.json["refused"]["title"] in sent.json["error"]
    fine = officer_client.post("/officers/compose", json={"title": "Lock up", "body": "Sheds"})
    assert fine.json["refused"] == {}
    # The answers too, English and Welsh, in the send's words (only "Send now" refused
    # them: an outside check).
    base = {"title": "T", "body": "B", "question": "Seen it?", "title_cy": "T", "body_cy": "B"}
    for options, said in (
        (["Y\u202ees", "No"], "Answer 1 has"),
        (["Yes", "o" * 31], "Keep each answer to 30 characters."),
        (["Yes", "yes"], "Two answers are the same."),
        # Full width is the same answer as a reply reads it (an outside check).
        (["Yes", "\uff39\uff45\uff53"], "Two answers are the same."),
        (["A", "B", "C", "D", "E"], "Give at most 4 answers."),
        # Texted back as the word, it stops every text (an outside check offered it).
        (["Stop", "Carry on"], "An answer cannot be STOP"),
        (["Yes", "Stopio"], "An answer cannot be STOP"),
        # HELP is answered with who we are, START takes texts again, "2" is answer 2
        # (a re-check).
        (["Help", "No"], "An answer cannot be HELP"),
        (["Yes", "Unstop"], "An answer cannot be HELP"),
        (["1", "2"], "An answer cannot be HELP"),
    ):
        for key in ("answer_options", "answer_options_cy"):
            asked = base | {key: options, "question_cy": "Welsoch chi?"}
            preview = officer_client.post("/officers/compose", json=asked)
            assert preview.json["refused"][key].startswith(
                said.replace("Answer", "Welsh answer") if key.endswith("_cy") else said
            ), (key, options, preview.json["refused"])
    # Which answer of those typed it is about, so the page marks that box (it marked
    # the first: a re-check).
    for options, at in (
        (["Yes", "No", "yes"], 3),
        (["Yes", "Help", "No"], 2),
        (["Yes", "N\u202eo"], 2),
    ):
        preview = officer_client.post("/officers/compose", json=base | {"answer_options": options})
        assert preview.json["refused_answer"] == {"answer_options": at}, options
    # Answers of no letters are told apart as they are written (👍 and 👎 were "the
    # same": a re-check).
    thumbs = base | {"answer_options": ["\U0001f44d", "\U0001f44e"]}
    assert (
        "answer_options"
        not in officer_client.post("/officers/compose", json=thumbs).json["refused"]
    )
    # An English answer refused is said as itself, not as "write it in English too".
    sent = officer_client.post(
        "/officers/alerts",
        json=base
        | {
            "shapes": [circle()],
            "answer_options": ["Y\u202ees", "No"],
            "question_cy": "Welsoch chi?",
            "answer_options_cy": ["Do", "Naddo"],
        },
    )
    assert sent.status_code == 400 and "answer_options" in sent.json["errors"]
    assert "question_cy" not in sent.json["errors"], sent.json["errors"]


def test_the_sends_refusal_of_an_answer_says_which_as_the_preview_does(officer_client):
    """Found in review: the send's refusal of an answer named the answers but not
    which, and the page asked the preview again to mark it. The send's 400 names it
    as the preview does, for the send and the test to yourself; an alert written in
    Welsh only is refused at the Welsh boxes it was typed in (it was at the empty
    English ones)."""
    base = {"shapes": [circle()], "title": "T", "body": "B", "question": "Seen it?"}
    for options, at in (
        (["Yes", "No", "yes"], 3),
        (["Yes", "Help", "No"], 2),
        (["Yes", "N\u202eo"], 2),
        (["Y\u202ees", "No"], 1),
        (["A", "B", "C", "D", "E"], 5),
    ):
        asked = base | {"answer_options": options}
        preview = officer_client.post("/officers/compose", json=asked)
        for url in ("/officers/alerts", "/officers/alerts/test"):
            sent = officer_client.post(url, json=asked)
            assert sent.status_code == 400, (url, options)
            assert sent.json["refused_answer"] == {"answer_options": at}, (url, options)
            assert sent.json["refused_answer"] == preview.json["refused_answer"]
            assert (
                sent.json["errors"]["answer_options"] == preview.json["refused"]["answer_options"]
            )
    # Refused for something else, no answer is named.
    sent = officer_client.post("/officers/alerts", json=base | {"answer_options": ["Yes"]})
    assert sent.status_code == 400 and sent.json["refused_answer"] == {}
    # Written in Welsh only: said at the Welsh boxes, as the preview says it.
    welsh = {
        "shapes": [circle()],
        "title_cy": "Fan wedi'i dwyn",
        "body_cy": "\u202eDwyn",
        "question_cy": "Welsoch chi?",
        "answer_options_cy": ["Do", "Naddo", "do"],
    }
    sent = officer_client.post("/officers/alerts", json=welsh)
    preview = officer_client.post("/officers/compose", json=welsh)
    assert sent.status_code == 400
    assert set(sent.json["errors"]) == {"body_cy", "answer_options_cy"}, sent.json["errors"]
    assert sent.json["refused_answer"] == {"answer_options_cy": 3}, sent.json
    assert sent.json["refused_answer"] == preview.json["refused_answer"]
    assert sent.json["errors"]["body_cy"] == preview.json["refused"]["body_cy"]


def test_the_plain_punctuation_measure_is_of_the_longer_text_made_plain(officer_client):
    """Found by a review: the composer pointed at the plain-punctuation button when it
    brought the English text within the limit, while the send refuses by the Welsh
    speakers' (longer), which made plain was still too long."""
    english = {"title": "Road closed", "body": "Don’t go near the river. " + "x" * 220}
    welsh = {"title_cy": "Ffordd ar gau", "body_cy": "Peidiwch mynd ger yr afon. " + "y" * 220}
    sms = officer_client.post("/officers/compose", json=english | welsh).json["sms"]
    most = sms["max_segments"]
    assert sms["plain_segments"] <= most < sms["plain_longest_segments"], sms
    assert sms["plain_longest_segments"] < sms["longest_segments"]  # it does save parts
    alone = officer_client.post("/officers/compose", json=english).json["sms"]
    assert alone["plain_longest_segments"] == alone["plain_segments"] < alone["segments"]


def test_compose_preview_counts_segments_and_marks_what_forces_ucs2(officer_client):
    plain = officer_client.post("/officers/compose", json={"title": "Lock up", "body": "x" * 60})
    assert plain.json["sms"]["encoding"] == "GSM-7"
    # The e-mail's own links are shown as this site's (an example's address was: an
    # outside check).
    site = officer_client.application.config["PUBLIC_BASE_URL"].rstrip("/")
    assert f"{site}/unsubscribe/" in plain.json["email"]["text"]
    assert "example.invalid/unsubscribe" not in plain.json["email"]["text"]
    assert plain.json["sms"]["segments"] == 1
    curly = officer_client.post(
        "/officers/compose", json={"title": "Lock up", "body": "Don’t leave keys out " + "x" * 20}
    )
    assert curly.json["sms"]["encoding"] == "UCS-2"
    assert curly.json["sms"]["segments"] == 2  # 97 characters: over 70, so two parts
    assert curly.json["sms"]["ucs2_characters"] == ["’"]
    # Named as a person knows them, with the plain one that would fit, and the saving.
    assert curly.json["sms"]["characters"] == [
        {"character": "’", "name": "curly quote", "plain": "'", "welsh": False}
    ]
    assert curly.json["sms"]["plain_segments"] == 1
    emoji = officer_client.post(
        "/officers/compose", json={"title": "Lock up", "body": "Stay safe 🙂 – thanks"}
    ).json["sms"]
    assert [(c["name"], c["plain"]) for c in emoji["characters"]] == [
        ("emoji", None),
        ("long dash", "-"),
    ]
    assert emoji["plain_segments"] == emoji["segments"]  # the emoji still costs its parts
    html = officer_client.post(
        "/officers/compose", json={"title": "T", "body": "<b>not bold</b> & more"}
    ).json["email"]["html"]
    assert "&lt;b&gt;not bold&lt;/b&gt; &amp; more" in html
    voice = plain.json["voice"]
    assert voice["script"].startswith("This is a message from Avon and Somerset Police.")
    assert voice["minutes"] == 1 and voice["cost"] > 0


def test_welsh_letters_are_said_to_cost_parts_but_never_offered_for_replacing(officer_client, town):
    """Found by an outside check: the Welsh text's ŵ and ŷ were listed among what makes
    parts shorter, as punctuation is, and a text over the limit said "Replacing ŵŷ
    would fit far more". They are the spelling. The names are in the page's language."""
    welsh = {"title": "Ffordd ar gau", "body": "Road shut.", "title_cy": "Ffordd ar gau"}
    composed = officer_client.post(
        "/officers/compose?lang=cy", json=welsh | {"body_cy": "Mae’r ffordd i’r dŵr ar gau."}
    ).json["sms"]
    assert composed["characters"] == [
        {"character": "’", "name": "dyfynnod cyrliog", "plain": "'", "welsh": False},
        {"character": "ŵ", "name": "llythyren Gymraeg ŵ", "plain": None, "welsh": True},
    ]

    def send_welsh(body_cy: str):
        return officer_client.post(
            "/officers/alerts?lang=en",
            json={"shapes": [circle()], **welsh, "body_cy": body_cy + " " + "a" * 300},
        )

    too_long = send_welsh("Mae’r dŵr yn uchel.")
    assert too_long.status_code == 400
    refusal = too_long.json["errors"]["body_cy"]
    assert "at most 4 are allowed" in refusal and "Replacing" not in refusal
    # Without Welsh letters, replacing the punctuation would fit more: it is said.
    assert "Replacing ’" in send_welsh("Mae’r ffordd yn uchel.").json["errors"]["body_cy"]


def test_a_text_message_over_the_part_limit_is_refused_with_what_to_do(officer_client, town):
    response = send(officer_client, body="Don’t " + "a" * 300)  # UCS-2: 5+ parts
    assert response.status_code == 400
    assert "at most 4 are allowed" in response.json["errors"]["body"]
    assert "Replacing ’" in response.json["errors"]["body"]
    # Without text messages, the same words are fine (e-mail and voice only).
    assert (
        send(officer_client, body="Don’t " + "a" * 300, channels=["email", "voice"]).status_code
        == 201
    )


def test_templates_are_saved_once_per_name_and_offered_to_the_team(officer_client):
    template = {"name": "Burglary", "category": "crime_prevention", "title": "T", "body": "B"}
    saved = officer_client.post("/officers/templates", json=template)
    assert saved.status_code == 201
    again = officer_client.post("/officers/templates", json=template)
    assert again.status_code == 400
    assert "already a template called" in again.json["errors"]["template_name"]
    listed = officer_client.get("/officers/templates").json["templates"]
    assert [(t["name"], t["category"]) for t in listed] == [("Burglary", "crime_prevention")]
    assert "Burglary" in officer_client.get("/officers/").text
    # Found by an outside probe: a title of spaces was told to keep within 120
    # characters, and a look-alike name (a space of no width in it) was another name.
    blank = officer_client.post("/officers/templates", json=template | {"title": "\u00a0 "})
    assert blank.json["errors"]["title"] == "Give the template a title: it is empty."
    twin = officer_client.post("/officers/templates", json=template | {"name": "Burg\u200blary"})
    assert "already a template called" in twin.json["errors"]["template_name"]
    # Names that read alike are one name, as teams' are (case, accents, full width),
    # and the one there is named; a letter of another alphabet is refused.
    for alike in ("BURGLÁRY", "\uff22\uff55\uff52\uff47\uff4c\uff41\uff52\uff59"):
        refused = officer_client.post("/officers/templates", json=template | {"name": alike})
        assert refused.status_code == 400
        assert refused.json["errors"]["template_name"] == (
            "There is already a template called “Burglary”. Choose another name."
        )
    cyrillic = officer_client.post("/officers/templates", json=template | {"name": "Burgl\u0430ry"})
    assert "CYRILLIC SMALL LETTER A" in cyrillic.json["errors"]["template_name"]
    # Quotes and apostrophes as a phone types them, and a minus sign, read as the
    # keyboard's (outside checks, a review).
    quoted = template | {"name": "Burglary 'hot spot' - Bath/Wells"}
    assert officer_client.post("/officers/templates", json=quoted).status_code == 201
    for alike in (
        "Burglary \u2018hot spot\u2019 \u2212 Bath\u2215Wells",
        "Burglary \u02bchot spot\u02bc - Bath/Wells",
    ):
        refused = officer_client.post("/officers/templates", json=template | {"name": alike})
        assert refused.status_code == 400, alike
        assert "There is already a template called “Burglary 'hot spot'" in str(refused.json)
    listed = officer_client.get("/officers/templates").json["templates"]
    assert sorted(t["name"] for t in listed) == ["Burglary", "Burglary 'hot spot' - Bath/Wells"]
    # The Welsh it was written with is kept, both or neither (it was lost).
    welsh = template | {"name": "Lladrad", "title_cy": "Lladrad", "body_cy": "Cloi'r sied."}
    assert officer_client.post("/officers/templates", json=welsh).status_code == 201
    (kept,) = [
        t
        for t in officer_client.get("/officers/templates").json["templates"]
        if t["name"] == "Lladrad"
    ]
    assert (kept["title_cy"], kept["body_cy"]) == ("Lladrad", "Cloi'r sied.")
    half = officer_client.post(
        "/officers/templates", json=template | {"name": "Hanner", "title_cy": "Lladrad"}
    )
    assert half.json["errors"]["body_cy"] == "Give the Welsh title and message both, or neither."


# --- approval -----------------------------------------------------------------------


def test_a_large_alert_waits_for_another_supervisors_approval(
    app,
    monkeypatch,
    officer_client,
    supervisor_client,
    make_officer,
    town,
    run_worker,
    exact_counts,
):
    monkeypatch.setitem(app.config, "APPROVAL_THRESHOLD", 3)
    preview = officer_client.post("/officers/preview", json={"shapes": [circle()]})
    assert preview.json["needs_approval"] is True
    response = send(officer_client)
    assert response.json["status"] == "pending_approval"
    alert_id = response.json["alert_id"]
    assert db.session.scalar(select(Delivery.id)) is None  # nothing sent yet

    # The officer who wrote it cannot approve it, nor can any officer.
    assert officer_client.post(f"/officers/alerts/{alert_id}/approve").status_code == 403

    supervisor = make_officer(role="supervisor", email="sarge@police.example")
    author_client = signed_in(app, supervisor, "supervisor")
    own = send(author_client, title="Mine")
    refused = author_client.post(
        f"/officers/alerts/{own.json['alert_id']}/approve",
        data={"csrf_token": form_token(author_client, f"/officers/alerts/{own.json['alert_id']}")},
        follow_redirects=True,
    )
    assert "another supervisor must approve it" in refused.text
    assert db.session.get(Alert, own.json["alert_id"]).status == "pending_approval"

    page = supervisor_client.get(f"/officers/alerts/{alert_id}")
    assert "Approve this alert?" in page.text
    approved = supervisor_client.post(
        f"/officers/alerts/{alert_id}/approve",
        data=approval_form(supervisor_client, f"/officers/alerts/{alert_id}"),
    )
    assert approved.status_code == 302
    db.session.expire_all()
    assert db.session.get(Alert, alert_id).status == "sending"
    run_worker()
    assert db.session.scalar(select(Alert.status).where(Alert.id == alert_id)) == "sent"
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.subject_type == "alert", AuditEvent.subject_id == str(alert_id))
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["alert.drafted", "alert.approval_requested", "alert.approved", "alert.sent"]


def test_an_approval_goes_to_the_count_its_supervisor_saw_or_not_at_all(
    app, monkeypatch, officer_client, supervisor_client, make_resident, town, exact_counts
):
    """Found by an outside check: approved for 11 residents, an alert went to 51 (40
    imported in between), and one approved for 17 went to 30,017. The page's count is
    sent with the approval: a count now different, as staff see it, refuses it and
    sends nothing; the page then shows the new one, and approving that sends it."""
    monkeypatch.setitem(app.config, "APPROVAL_THRESHOLD", 1)
    alert_id = send(officer_client).json["alert_id"]
    page = supervisor_client.get(f"/officers/alerts/{alert_id}").text
    seen = int(re.search(r'name="expected_residents" value="(\d+)"', page).group(1))
    assert seen == db.session.get(Alert, alert_id).recipient_count
    for n in range(10):  # signed up meanwhile, in the area
        make_resident(postcode="BS1 6AD", sms=f"+4477009002{n:02d}")
    token = form_token(supervisor_client, f"/officers/alerts/{alert_id}")
    refused = supervisor_client.post(
        f"/officers/alerts/{alert_id}/approve",
        data={"csrf_token": token, "expected_residents": str(seen)},
        follow_redirects=True,
    )
    assert f"now reaches {seen + 10} residents, not {seen} as the page said" in refused.text
    db.session.expire_all()
    assert db.session.get(Alert, alert_id).status == "pending_approval"
    assert db.session.scalar(select(Delivery.id)) is None  # nothing sent
    again = re.search(r'name="expected_residents" value="(\d+)"', refused.text).group(1)
    assert int(again) == seen + 10
    approved = supervisor_client.post(
        f"/officers/alerts/{alert_id}/approve",
        data={"csrf_token": token, "expected_residents": again},
    )
    assert approved.status_code == 302
    db.session.expire_all()
    alert = db.session.get(Alert, alert_id)
    assert (alert.status, alert.recipient_count) == ("sending", seen + 10)


def test_an_approval_that_does_not_say_its_count_sends_nothing(
    app, monkeypatch, officer_client, supervisor_client, town
):
    """Found reading the change: an approval posted without the count its page showed
    (a page kept open from before the count was sent, or a form by hand), or with one
    that is no number, went to whatever the count was then, unchecked."""
    monkeypatch.setitem(app.config, "APPROVAL_THRESHOLD", 1)
    alert_id = send(officer_client).json["alert_id"]
    url = f"/officers/alerts/{alert_id}"
    token = form_token(supervisor_client, url)
    for said in (
        {},
        {"expected_residents": ""},
        {"expected_residents": "-3"},
        {"expected_residents": "12abc"},
        {"expected_residents": "9" * 40},
    ):
        refused = supervisor_client.post(
            url + "/approve", data={"csrf_token": token, **said}, follow_redirects=True
        )
        assert refused.status_code == 200, said
        assert "the approval did not say how many residents you saw" in refused.text, said
        db.session.expire_all()
        assert db.session.get(Alert, alert_id).status == "pending_approval", said
        assert db.session.scalar(select(Delivery.id)) is None, said
    welsh = supervisor_client.post(
        url + "/approve?lang=cy", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Ni anfonwyd dim" in welsh.text and "did not say" not in welsh.text
    approved = supervisor_client.post(url + "/approve", data=approval_form(supervisor_client, url))
    assert approved.status_code == 302
    db.session.expire_all()
    assert db.session.get(Alert, alert_id).status == "sending"


def test_urgent_categories_need_approval_and_a_rejection_says_why(
    officer_client, supervisor_client, town
):
    response = send(officer_client, category="missing_person")
    assert response.json["status"] == "pending_approval"
    alert_id = response.json["alert_id"]
    token = form_token(supervisor_client, f"/officers/alerts/{alert_id}")
    empty = supervisor_client.post(
        f"/officers/alerts/{alert_id}/reject",
        data={"csrf_token": token, "reason": " "},
        follow_redirects=True,
    )
    assert "Say why" in empty.text
    # Too long is refused, not cut short: its end may be what matters.
    long = supervisor_client.post(
        f"/officers/alerts/{alert_id}/reject",
        data={"csrf_token": token, "reason": "Add the description. " * 60},
        follow_redirects=True,
    )
    assert "The reason is too long: keep it to 1,000 characters." in long.text
    assert db.session.get(Alert, alert_id).status == "pending_approval"
    # A refused reason comes back in its box, by its error (it came back empty: an
    # outside check).
    odd = supervisor_client.post(
        f"/officers/alerts/{alert_id}/reject",
        data={"csrf_token": token, "reason": "Add his clothing \u202e please."},
    )
    assert odd.status_code == 400
    assert 'aria-invalid="true"' in odd.text and "Add his clothing" in odd.text
    assert 'id="reason-error"' in odd.text
    # Its title says there is an error, as every form's does (an outside check), and
    # the page leads to the decision, three screens down on a phone.
    assert "<title>Error: Alert" in odd.text
    assert 'href="#decision-heading"' in supervisor_client.get(f"/officers/alerts/{alert_id}").text
    supervisor_client.post(
        f"/officers/alerts/{alert_id}/reject",
        data={"csrf_token": token, "reason": "Add the child's description."},
    )
    page = officer_client.get(f"/officers/alerts/{alert_id}")
    assert "Rejected by" in page.text and "Add the child&#39;s description." in page.text
    assert db.session.scalar(select(Delivery.id)) is None


# --- scheduling, cancelling ---------------------------------------------------------


def test_a_scheduled_alert_goes_when_its_time_comes_and_not_before(officer_client, town):
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    response = send(officer_client, send_at=later)
    assert response.json["status"] == "scheduled"
    assert release_scheduled_alerts() == 0
    assert db.session.scalar(select(Delivery.id)) is None

    db.session.execute(update(Alert).values(send_at=text("now() - interval '1 second'")))
    db.session.commit()
    assert release_scheduled_alerts() == 1
    assert release_scheduled_alerts() == 0  # twice is harmless
    assert db.session.scalar(select(Alert.status)) == "sending"
    assert len(db.session.scalars(select(Delivery)).all()) == 6  # 4 residents, 6 channels


def test_a_time_in_the_past_is_refused(officer_client, town):
    earlier = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    response = send(officer_client, send_at=earlier)
    assert response.status_code == 400
    assert "That time has passed" in response.json["errors"]["send_at"]


def test_cancelling_a_scheduled_alert_means_it_never_goes(officer_client, town):
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    alert_id = send(officer_client, send_at=later).json["alert_id"]
    token = form_token(officer_client, f"/officers/alerts/{alert_id}")
    # One stray tap cancels nothing: the form asks for a tick as well (an outside check).
    stray = officer_client.post(
        f"/officers/alerts/{alert_id}/cancel", data={"csrf_token": token}, follow_redirects=True
    )
    assert "Nothing was cancelled" in stray.text
    # Said in the page's language (the officers' messages were English on Welsh pages).
    welsh = officer_client.post(
        f"/officers/alerts/{alert_id}/cancel?lang=cy",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "Ni chanslwyd dim: ticiwch “Ydw, atal y rhybudd hwn” yn gyntaf." in welsh.text
    officer_client.get("/officers/?lang=en")
    # In the language of the page it is shown on, not the post's, and once (a re-check).
    officer_client.post(f"/officers/alerts/{alert_id}/cancel", data={"csrf_token": token})
    switched = officer_client.get(f"/officers/alerts/{alert_id}?lang=cy")
    assert "Ni chanslwyd dim" in switched.text and "Nothing was cancelled" not in switched.text
    assert (
        "Nothing was cancelled"
        not in officer_client.get(f"/officers/alerts/{alert_id}?lang=en").text
    )
    assert db.session.scalar(select(Alert.status)) == "scheduled"
    # Refused for want of its tick, then cancelled with it in another tab before the
    # refusal's page came: that page says only that it was cancelled.
    officer_client.post(f"/officers/alerts/{alert_id}/cancel", data={"csrf_token": token})
    done = officer_client.post(
        f"/officers/alerts/{alert_id}/cancel",
        data={"csrf_token": token, "confirm": "yes"},
    )
    done = officer_client.get(done.headers["Location"])
    # Not "0 messages will not be sent", which read as if nothing was stopped.
    assert "Alert cancelled: it will not be sent to anyone." in done.text
    assert "<title>Error:" not in done.text and "Nothing was" not in done.text
    # Refused, and cancelled by another officer before its page came: the page says
    # nothing was done, not "Error:" in its title alone (an outside check).
    with officer_client.session_transaction() as kept:  # as the refused post left it
        kept["tick_refused"] = {"alert": alert_id, "form": "cancel"}
    refused_late = officer_client.get(f"/officers/alerts/{alert_id}")
    assert "Nothing was done: this is no longer offered" in refused_late.text
    assert "<title>Error:" not in refused_late.text
    db.session.execute(update(Alert).values(send_at=text("now() - interval '1 second'")))
    db.session.commit()
    assert release_scheduled_alerts() == 0
    assert db.session.scalar(select(Alert.status)) == "cancelled"
    assert db.session.scalar(select(Delivery.id)) is None


# --- follow-ups, tests and exercises ------------------------------------------------


def test_an_all_clear_goes_to_the_same_people_and_joins_the_thread(
    officer_client, town, make_resident, run_worker
):
    first = send(officer_client, channels=["sms"]).json["alert_id"]
    run_worker()
    original = set(db.session.scalars(select(Delivery.resident_id)))
    # Someone registers in the area afterwards; someone else leaves text messages.
    make_resident(postcode="BS1 6AD", sms="+447700900099")
    all_clear = send(
        officer_client,
        shapes=[],
        audience="parent",
        parent_id=first,
        category="all_clear",
        title="All clear",
        body="The man has been arrested.",
        channels=["sms"],
    )
    assert all_clear.status_code == 201, all_clear.json
    second = all_clear.json["alert_id"]
    reached = set(
        db.session.scalars(select(Delivery.resident_id).where(Delivery.alert_id == second))
    )
    assert reached == original
    page = officer_client.get(f"/officers/alerts/{first}").text
    assert "This alert and its follow-ups" in page and "All clear" in page
    form = officer_client.get(f"/officers/?follow_up={second}&kind=all_clear").text
    assert f"Follow-up to “Burglaries” (alert {first})" in form  # the original, not the update
    # A second all-clear for the thread is refused, in other words and from the update
    # too (two tabs sent one each, to every resident: an outside check).
    for parent in (first, second):
        again = send(
            officer_client,
            shapes=[],
            audience="parent",
            parent_id=parent,
            category="all_clear",
            title="All clear again",
            body=f"Arrested, said again ({parent}).",
            channels=["sms"],
        )
        assert again.status_code == 400
        assert "all-clear has gone already" in again.json["error"]
    clears = db.session.scalars(select(Alert.id).where(Alert.category == "all_clear")).all()
    assert clears == [second]
    # An update is still welcome.
    update = send(
        officer_client,
        shapes=[],
        audience="parent",
        parent_id=first,
        title="Update",
        body="Court date set.",
        channels=["sms"],
    )
    assert update.status_code == 201, update.json


def test_a_follow_up_of_an_update_joins_the_original_so_its_thread_has_one_all_clear(
    officer_client, town, run_worker, exact_counts
):
    """Found by an outside check: an all-clear sent (by a direct request) as the
    follow-up of an update made a thread within the thread; the thread's check did not
    see it, and a second all-clear on the original went to every resident too. A
    follow-up of a follow-up is the original's, as the alert's page makes it."""
    first = send(officer_client, channels=["sms"]).json["alert_id"]
    run_worker()
    follow = {"shapes": [], "audience": "parent", "channels": ["sms"]}
    update = send(officer_client, **follow, parent_id=first, title="Update", body="More.")
    update_id = update.json["alert_id"]
    run_worker()
    clear = send(
        officer_client,
        **follow,
        parent_id=update_id,
        category="all_clear",
        title="All clear",
        body="Arrested.",
    )
    assert clear.status_code == 201, clear.json
    assert db.session.get(Alert, clear.json["alert_id"]).parent_id == first
    again = send(
        officer_client,
        **follow,
        parent_id=first,
        category="all_clear",
        title="All clear",
        body="Arrested, said again.",
    )
    assert again.status_code == 400 and "all-clear has gone already" in again.json["error"]
    # The preview of a follow-up of the update counts the original's people too.
    counted = officer_client.post("/officers/preview", json={**follow, "parent_id": update_id}).json
    assert counted["residents"] == db.session.get(Alert, first).recipient_count


def test_a_test_goes_only_to_the_officer_marked_as_a_test(
    officer_client, officer, town, run_worker
):
    response = officer_client.post("/officers/alerts/test", json={"title": "T", "body": "Check me"})
    assert response.status_code == 201
    # No mobile on the account: e-mail only, and the officer is told why.
    assert response.json["channels"] == ["email"]
    assert "by e-mail" in response.json["message"]
    assert "your account has no mobile number" in response.json["message"]
    run_worker()
    messages = db.session.scalars(select(OutboxMessage)).all()
    assert [(m.channel, m.recipient) for m in messages] == [("email", officer.email)]
    assert messages[0].subject.startswith("TEST, only to you:")
    assert (
        db.session.scalar(select(Delivery.resident_id).where(Delivery.resident_id.is_not(None)))
        is None
    )


def test_a_test_tapped_again_goes_once_and_tests_are_limited_per_hour(
    app, officer_client, officer, town, run_worker, monkeypatch
):
    """Found by an outside check: 15 taps in 0.8 s sent 15 tests, each a paid text,
    call and e-mail. The same test again moments later is the first one (as an alert
    is); any tests past TESTS_PER_HOUR are refused, in the page's language. A test
    is no repeat of the alert itself: sending it for real after its test still sends."""
    monkeypatch.setitem(app.config, "ALERT_REPEAT_SECONDS", 120)
    monkeypatch.setitem(app.config, "TESTS_PER_HOUR", 3)
    draft = {"shapes": [circle()], "title": "T", "body": "Check me"}
    first = officer_client.post("/officers/alerts/test", json=draft)
    again = officer_client.post("/officers/alerts/test", json=draft)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["repeated"] is True and again.json["alert_id"] == first.json["alert_id"]
    assert "It was not sent again" in again.json["message"]
    # Moved to another area, the test is the same message to the same officer: once.
    moved = officer_client.post(
        "/officers/alerts/test", json={**draft, "shapes": [circle(radius_m=900)]}
    )
    assert moved.status_code == 200 and moved.json["alert_id"] == first.json["alert_id"]
    run_worker()
    assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 1
    for n in (2, 3):
        assert (
            officer_client.post("/officers/alerts/test", json={**draft, "body": f"{n}"}).status_code
            == 201
        )
    refused = officer_client.post("/officers/alerts/test", json={**draft, "body": "4"})
    assert refused.status_code == 400
    assert "3 tests in the last hour" in json.dumps(refused.json)
    welsh = officer_client.post("/officers/alerts/test?lang=cy", json={**draft, "body": "5"})
    assert "Rydych wedi anfon 3 prawf" in json.dumps(welsh.json, ensure_ascii=False)
    tests = select(func.count()).select_from(Alert).where(Alert.mode == "test")
    assert db.session.scalar(tests) == 3
    # The alert itself, right after its test, is sent.
    sent = send(officer_client, title="T", body="Check me")
    assert sent.status_code == 201 and not sent.json["repeated"]


def test_an_exercise_says_so_in_every_message_and_on_its_page(officer_client, town, run_worker):
    alert_id = send(officer_client, mode="exercise").json["alert_id"]
    run_worker()
    bodies = db.session.scalars(select(OutboxMessage.body)).all()
    assert bodies and all("EXERCISE EXERCISE EXERCISE" in b for b in bodies)
    assert all("This is an exercise. No action is needed." in b for b in bodies)
    assert "EXERCISE — not a live alert" in officer_client.get(f"/officers/alerts/{alert_id}").text


def test_a_follow_up_is_an_exercise_when_what_it_follows_is(officer_client, town, run_worker):
    """A follow-up of an exercise went live unless the box was ticked again, and put
    real messages under the exercise (an outside check). Its page ticks the box and
    keeps it ticked; a live follow-up of an exercise, or an exercise's of a live
    alert, is refused."""
    exercise = send(officer_client, mode="exercise").json["alert_id"]
    live = send(officer_client, title="Real", body="Real news.").json["alert_id"]
    run_worker()
    page = officer_client.get(f"/officers/?follow_up={exercise}").text
    assert re.search(r'<input type="checkbox" id="exercise" checked disabled', page)
    assert "It follows up an exercise, so it is one too." in page
    page = officer_client.get(f"/officers/?follow_up={live}").text
    assert re.search(r'<input type="checkbox" id="exercise" disabled', page)
    follow = {"audience": "parent", "category": "update", "title": "Update", "body": "More."}
    for parent, mode, refused in (
        (exercise, "live", "tick “This is an exercise”"),
        (live, "exercise", "untick the exercise box"),
    ):
        answer = send(officer_client, parent_id=parent, mode=mode, **follow)
        assert answer.status_code == 400 and refused in answer.json["errors"]["mode"]
        preview = officer_client.post(
            "/officers/preview", json={"parent_id": parent, "mode": mode, **follow}
        )
        assert preview.status_code == 400
    before = db.session.scalar(select(func.count()).select_from(Alert))
    assert send(officer_client, parent_id=exercise, mode="exercise", **follow).status_code == 201
    assert send(officer_client, parent_id=live, mode="live", **follow).status_code == 201
    assert db.session.scalar(select(func.count()).select_from(Alert)) == before + 2


def test_an_alert_cancelled_part_way_offers_an_update_and_the_all_clear(
    officer_client, officer, town
):
    """Cancelled part-way through sending, it had reached some residents, and its page
    offered nothing to put them right, though a follow-up of it may be sent (an outside
    check). One cancelled before it went offers none."""
    from app.services.alerts import cancel_alert

    going = send(officer_client).json["alert_id"]  # released, its messages queued
    assert cancel_alert(officer, going) >= 0
    page = officer_client.get(f"/officers/alerts/{going}").text
    assert "Send an update" in page and "Send the all-clear" in page
    form = officer_client.get(f"/officers/?follow_up={going}&kind=update").text
    # Not "the same N residents": it was for more than it reached.
    assert "The residents it reached before it was cancelled" in form
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    waiting = send(officer_client, title="Later", send_at=later).json["alert_id"]
    assert cancel_alert(officer, waiting) >= 0
    assert "Send an update" not in officer_client.get(f"/officers/alerts/{waiting}").text


def test_a_follow_up_does_not_go_by_a_channel_whose_message_was_cancelled(
    officer_client, officer, town, run_worker
):
    """An alert cancelled after its e-mails went had reached some residents by e-mail
    only; its all-clear texted and called them as well, about an alert they had only
    read (an outside check: 46 paid messages). A channel the alert did not use is still
    the officer's to add."""
    from app.services import dispatch
    from app.services.alerts import cancel_alert

    first = send(officer_client).json["alert_id"]
    emails = db.session.scalars(
        select(Delivery.id).where(Delivery.alert_id == first, Delivery.channel == "email")
    ).all()
    dispatch.deliver_alert_range(first, min(emails), max(emails), "email")
    assert cancel_alert(officer, first) > 0  # the texts and calls, not yet sent
    ways = {
        (row.resident_id, row.channel, row.status)
        for row in db.session.execute(
            select(Delivery.resident_id, Delivery.channel, Delivery.status).where(
                Delivery.alert_id == first
            )
        )
    }
    assert {way[2] for way in ways} == {"delivered", "cancelled"}  # the outbox delivers
    went = {(resident, channel) for resident, channel, status in ways if status != "cancelled"}
    assert went == {(town["farm"].id, "email"), (town["none"].id, "email")}
    clear = send(
        officer_client,
        shapes=[],
        audience="parent",
        parent_id=first,
        category="all_clear",
        title="All clear",
        body="Nothing to fear.",
    )
    assert clear.status_code == 201, clear.json

    def reached(alert_id: int) -> set[tuple[int, str]]:
        rows = select(Delivery.resident_id, Delivery.channel).where(Delivery.alert_id == alert_id)
        return set(db.session.execute(rows).tuples())

    assert reached(clear.json["alert_id"]) == went  # not town["none"]'s text as well
    # An e-mail alert, then an update by text too: the text is the officer's choice.
    by_email = send(officer_client, channels=["email"], title="Scam").json["alert_id"]
    run_worker()
    update = send(
        officer_client,
        shapes=[],
        audience="parent",
        parent_id=by_email,
        title="Update",
        body="Callers claim to be us.",
        channels=["sms", "email"],
    )
    assert update.status_code == 201, update.json
    assert reached(update.json["alert_id"]) == went | {(town["none"].id, "sms")}
    # The follow-up page starts from the ways the alert went: all three were ticked, and
    # an all-clear of a text-only alert called and e-mailed too (an outside check).
    form = officer_client.get(f"/officers/?follow_up={by_email}&kind=all_clear").text
    ticked = re.findall(r'id="channel-(\w+)" name="channels" value="\w+" checked', form)
    assert ticked == ["email"] and "Ticked: the ways the alert went." in form
    form = officer_client.get(f"/officers/?follow_up={first}&kind=all_clear").text
    ticked = re.findall(r'id="channel-(\w+)" name="channels" value="\w+" checked', form)
    assert ticked == ["sms", "voice", "email"]  # it went by every channel


# --- accounts -----------------------------------------------------------------------


def test_an_admin_disables_an_account_and_its_session_ends(
    app, make_officer, officer_client, officer
):
    assert officer_client.get("/officers/alerts").status_code == 200
    assert officer_client.get("/admin/officers").status_code == 403
    admin_client = signed_in(app, make_officer(role="admin"), "admin")
    page = admin_client.get("/admin/officers")
    assert officer.email in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    admin_client.post(f"/admin/officers/{officer.id}/disable", data={"csrf_token": token})
    after = officer_client.get("/officers/alerts")
    assert after.status_code == 302 and "/sign-in" in after.headers["Location"]
    assert db.session.scalar(
        select(AuditEvent.action).where(AuditEvent.action == "officer.disabled")
    )


def test_the_demo_offers_templates_to_start_from(app_ctx, runner):
    from app.models import AlertTemplate

    result = runner.invoke(args=["demo", "seed", "--residents", "1"])
    assert result.exit_code == 0, result.output
    names = db.session.scalars(select(AlertTemplate.name).order_by(AlertTemplate.name)).all()
    assert names == ["Burglary warning", "Missing person appeal"]
    runner.invoke(args=["demo", "seed", "--residents", "1"])  # again: nothing doubled
    assert db.session.scalar(select(func.count()).select_from(AlertTemplate)) == 2
    # Both forces say how the public reach them in Welsh too (their Welsh feed said it
    # in English).
    from app.models import Force

    contacts = db.session.execute(select(Force.name, Force.contact_cy).order_by(Force.id)).all()
    assert contacts == [
        ("Avon and Somerset", "Ffoniwch 101, neu 999 mewn argyfwng"),
        ("Wiltshire", "Ffoniwch 101, neu 999 mewn argyfwng"),
    ]


def test_the_demo_seed_writes_nothing_before_its_data_and_mends_a_team_left_without_wards(
    app, app_ctx, runner, monkeypatch
):
    from app.cli.demo import DEMO_TEAM
    from app.models import Officer, Team
    from app.services import teams

    # No postcodes for the force yet: refused before anything is written.
    monkeypatch.setitem(app.config, "FORCE_CODE", "E23000999")
    early = runner.invoke(args=["demo", "seed", "--residents", "1"])
    assert early.exit_code != 0 and "flask geo load-shipped" in early.output
    assert db.session.scalar(select(func.count()).select_from(Officer)) == 0
    monkeypatch.undo()
    # A team a seed left without its wards (it would send anywhere) gets them.
    assert runner.invoke(args=["demo", "seed", "--residents", "1"]).exit_code == 0
    team = db.session.scalars(select(Team).where(Team.name == DEMO_TEAM)).one()
    wards = sorted(area.label for area in team.areas)
    assert wards
    admin = db.session.scalars(select(Officer).where(Officer.role == "admin")).first()
    for area in list(team.areas):
        teams.remove_area(admin, team.id, area.id)
    db.session.expire_all()
    assert runner.invoke(args=["demo", "seed", "--residents", "1"]).exit_code == 0
    db.session.expire_all()
    team = db.session.get(Team, team.id)
    assert sorted(area.label for area in team.areas) == wards
    listed = runner.invoke(args=["demo", "accounts"]).output
    assert wards[0].removesuffix(" (ward)") in listed
    # And where messages go, as the app sends them (`make run` said "the Outbox page"
    # with Twilio and SMTP set: an outside check of the install).
    assert "Messages go to the Outbox page" in listed and "Twilio" not in listed
    monkeypatch.setitem(app.config, "DELIVERY_TRANSPORT", "providers")
    listed = runner.invoke(args=["demo", "accounts"]).output
    assert "Messages go to the Twilio and SMTP servers set here" in listed
    assert "Outbox" not in listed


def test_a_follow_up_skips_those_whose_message_was_cancelled(officer_client, town, run_worker):
    first = send(officer_client, channels=["sms"]).json["alert_id"]
    token = form_token(officer_client, f"/officers/alerts/{first}")
    officer_client.post(
        f"/officers/alerts/{first}/cancel", data={"csrf_token": token, "confirm": "yes"}
    )
    update_ = send(
        officer_client, shapes=[], audience="parent", parent_id=first, title="Update", body="B"
    )
    assert update_.status_code == 400
    assert "Nobody the alert reached can be sent this" in update_.json["error"]


def test_odd_input_gets_a_400_never_a_500(officer_client, town):
    missing_parent = send(officer_client, parent_id=987654)
    assert missing_parent.status_code == 400
    assert "no longer exists" in missing_parent.json["errors"]["parent_id"]
    # Shapes that are not a list were taken as none, without a word; answers given as
    # one word were called "names" (outside checks).
    for path in ("/officers/alerts", "/officers/alerts/test"):
        odd = officer_client.post(path, json={"title": "T", "body": "B", "shapes": "x"})
        assert odd.status_code == 400 and "shapes must be a list" in odd.json["errors"]["area"]
    odd = send(officer_client, question="Seen it?", answer_options="Yes")
    assert odd.status_code == 400
    assert (
        odd.json["errors"]["answer_options"]
        == "answer_options must be a list of words, each in quotes."
    )
    surrogate = officer_client.post(
        "/officers/compose",
        data='{"title": "T", "body": "x\\ud800"}',
        content_type="application/json",
    )
    assert surrogate.status_code == 200  # only a preview: the send refuses it
    refused = send(officer_client, body="x\ud800y")
    assert refused.status_code == 400
    assert "half of a pair" in refused.json["errors"]["body"]


def test_cancelling_a_finished_alert_says_there_is_nothing_to_cancel(
    officer_client, town, run_worker
):
    alert_id = send(officer_client).json["alert_id"]
    run_worker()
    token = form_token(officer_client, f"/officers/alerts/{alert_id}")
    answer = officer_client.post(
        f"/officers/alerts/{alert_id}/cancel",
        data={"csrf_token": token, "confirm": "yes"},
        follow_redirects=True,
    )
    assert "already finished" in answer.text


def test_cancelling_says_one_message_as_one(officer_client, make_resident):
    # "1 messages will not be sent" (a browser check).
    make_resident(postcode="BS1 6AD", sms="+447700900071")
    alert_id = send(officer_client, shapes=[circle(radius_m=300)]).json["alert_id"]
    token = form_token(officer_client, f"/officers/alerts/{alert_id}")
    answer = officer_client.post(
        f"/officers/alerts/{alert_id}/cancel",
        data={"csrf_token": token, "confirm": "yes"},
        follow_redirects=True,
    )
    assert "Alert cancelled: 1 message will not be sent." in answer.text


def wav(seconds: float) -> bytes:
    import io
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x01" * int(8000 * seconds))
    return buffer.getvalue()


def upload(client, data: bytes, name="message.wav"):
    from io import BytesIO

    return client.post(
        "/officers/recordings",
        data={"recording": (BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_an_officers_recording_is_checked_served_and_costed(officer_client, town):
    assert "not an MP3 or WAV" in upload(officer_client, b"hello" * 100, "x.mp3").json["error"]
    assert "1.0 seconds long" in upload(officer_client, wav(1)).json["error"]
    # Not rounded up to the least it may be (1.6 s said "2 seconds long": an outside check).
    assert "is 1.6 seconds long" in upload(officer_client, wav(1.6)).json["error"]
    # The page's 950 KB, on the server too, and in the same words past what a request
    # may carry (it got the words about texts and areas).
    for size in (950 * 1024 + 1, 1_200_000):
        big = upload(officer_client, wav(3) + b"\x00" * (size - len(wav(3))))
        assert big.status_code in (400, 413)
        assert "That file is over 950 KB" in big.json["error"], size
    # A header that claims seconds its file does not hold (found by an outside probe:
    # a 44-byte header alone was kept as 3 seconds), or 0 channels.
    for short in (wav(3)[:44], wav(3)[:100], wav(3)[:24000]):
        refused = upload(officer_client, short)
        assert refused.status_code == 400 and "less sound than its length" in refused.json["error"]
    no_channels = bytearray(wav(3))
    no_channels[22:24] = (0).to_bytes(2, "little")
    assert upload(officer_client, bytes(no_channels)).status_code == 400
    saved = upload(officer_client, wav(40))
    assert saved.status_code == 201 and saved.json["seconds"] == 40.0
    served = officer_client.get(saved.json["url"])
    assert served.headers["Content-Type"] == "audio/wav" and served.data == wav(40)
    preview = officer_client.post(
        "/officers/compose", json={"title": "T", "body": "B", "recording_id": saved.json["id"]}
    ).json["voice"]
    assert preview["recording"] is True and preview["minutes"] == 2  # 40 s twice, and words
    sent = send(officer_client, recording_id=saved.json["id"])
    assert db.session.get(Alert, sent.json["alert_id"]).recording.seconds == 40.0
    # Written again after a rejection, its recording is said not to come with it.
    db.session.execute(
        text("UPDATE alerts SET status = 'rejected', sent_at = NULL WHERE id = :id"),
        {"id": sent.json["alert_id"]},
    )
    db.session.commit()
    again = officer_client.get(f"/officers/?again={sent.json['alert_id']}").text
    assert "Its recorded message is not carried over" in again
    gone = send(officer_client, recording_id=999999)
    assert "no longer here" in gone.json["errors"]["recording"]


def test_a_test_also_goes_to_the_officers_mobile_when_they_gave_one(app_ctx, runner, run_worker):
    result = runner.invoke(
        args=[
            "officers",
            "create",
            "--email",
            "pc@police.example",
            "--name",
            "PC Test",
            "--role",
            "officer",
            "--mobile",
            "07700 900555",
            "--password",
            "pw-123456789",
        ]
    )
    assert result.exit_code == 0, result.output
    from app.models import Officer
    from app.services.alerts import send_test_to_self

    officer = db.session.scalars(select(Officer)).one()
    send_test_to_self(officer, title="T", body="Check")
    run_worker()
    sent = {m.channel: m.recipient for m in db.session.scalars(select(OutboxMessage))}
    # Every channel: texts and calls to the mobile, e-mail to the e-mail address.
    assert sent == {"email": "pc@police.example", "sms": "+447700900555", "voice": "+447700900555"}
    refused = runner.invoke(
        args=[
            "officers",
            "create",
            "--email",
            "x@police.example",
            "--name",
            "X",
            "--role",
            "officer",
            "--mobile",
            "0117 496 0000",
            "--password",
            "pw-123456789",
        ]
    )
    assert refused.exit_code != 0 and "--mobile: Texts can only go to a mobile" in refused.output


def test_an_officer_uses_only_their_own_recordings_and_old_ones_go(
    app, officer_client, supervisor_client, town
):
    from app.models import AlertRecording
    from app.services.residents import purge_expired

    theirs = upload(supervisor_client, wav(5)).json["id"]
    refused = send(officer_client, recording_id=theirs)
    assert "recording you uploaded yourself" in refused.json["errors"]["recording"]
    # Nor does the preview of the words say how long someone else's recording is (an
    # outside probe read another force's by trying ids).
    words = officer_client.post(
        "/officers/compose", json={"title": "T", "body": "B", "recording_id": theirs}
    ).json
    assert "Your recording" not in str(words) and "5 seconds" not in str(words)
    mine = upload(officer_client, wav(5)).json["id"]
    words = officer_client.post(
        "/officers/compose", json={"title": "T", "body": "B", "recording_id": mine}
    ).json
    assert "Your recording, 5 seconds" in str(words)
    sent = send(officer_client, recording_id=mine)
    assert sent.status_code == 201
    db.session.execute(text("UPDATE alert_recordings SET created_at = now() - interval '100 days'"))
    db.session.execute(text("UPDATE alerts SET status = 'sent'"))
    db.session.commit()
    purge_expired()
    assert db.session.scalar(select(func.count()).select_from(AlertRecording)) == 0
    assert db.session.scalar(select(Alert.recording_id)) is None


@pytest.fixture
def pc_with_mobile(app):
    from app.services.accounts import create_officer
    from tests.factories import PASSWORDS

    with app.app_context():
        officer = create_officer(
            email="pc@police.example",
            name="PC Mobile",
            role="officer",
            password=PASSWORDS["officer"],
            mobile="07700 900555",
        )
        return signed_in(app, officer, "officer")


def test_a_test_goes_by_every_channel_the_alert_uses_as_residents_will_get_it(
    app_ctx, pc_with_mobile, town, run_worker
):
    client = pc_with_mobile
    recording = upload(client, wav(5)).json
    response = client.post(
        "/officers/alerts/test",
        json={
            "title": "Drill",
            "body": "Practice.",
            "category": "missing_person",
            "mode": "exercise",
            "recording_id": recording["id"],
            "channels": [],  # every channel
            "question": "Did you get this?",
            "answer_options": ["Yes", "No"],
        },
    )
    assert response.status_code == 201, response.json
    assert response.json["channels"] == ["sms", "voice", "email"]
    assert "by text, call and e-mail" in response.json["message"]
    run_worker()
    sent = {m.channel: m for m in db.session.scalars(select(OutboxMessage))}
    assert {c: m.recipient for c, m in sent.items()} == {
        "sms": "+447700900555",
        "voice": "+447700900555",
        "email": "pc@police.example",
    }
    # The exercise marking residents get, not "TEST": the officer sees it as they will.
    sms = sent["sms"].body
    assert sms.startswith("EXERCISE EXERCISE EXERCISE. Drill: Practice.")
    assert "Did you get this? Reply 1 for Yes, 2 for No." in sms
    assert sms.endswith("This is an exercise. No action is needed.")
    assert sent["voice"].body.startswith(
        "This is a message from Avon and Somerset Police. EXERCISE EXERCISE EXERCISE"
    )
    assert f"[Then plays the recording, twice: http://127.0.0.1:5000{recording['url']}]" in (
        sent["voice"].body
    )
    assert sent["email"].subject.startswith("EXERCISE EXERCISE EXERCISE")
    assert "Did you get this? Answer here:" in sent["email"].body
    test = db.session.scalars(select(Alert)).one()
    assert (test.category, test.mode, test.audience) == ("missing_person", "exercise", "self")
    assert test.filters == {"channels": ["sms", "voice", "email"]}
    assert db.session.scalar(select(Delivery.id).where(Delivery.resident_id.is_not(None))) is None
    # Still a test: marked as one, never followed up.
    assert '<span class="tag">TEST</span>' in client.get("/officers/alerts").text
    page = client.get(f"/officers/alerts/{test.id}").text
    assert "A test, sent only to PC Mobile." in page and "Send an update" not in page
    follow_up = send(client, shapes=[], audience="parent", parent_id=test.id, title="U", body="B")
    assert "has not been sent" in follow_up.json["errors"]["area"]


def test_a_test_of_a_live_alert_by_text_only_is_marked_test(app_ctx, pc_with_mobile, run_worker):
    response = pc_with_mobile.post(
        "/officers/alerts/test",
        json={"title": "T", "body": "Check", "channels": ["sms"], "category": "appeal"},
    )
    assert response.json["channels"] == ["sms"] and response.json["unreachable"] == []
    assert "by text." in response.json["message"]
    run_worker()
    (message,) = db.session.scalars(select(OutboxMessage)).all()
    assert (message.channel, message.body[:24]) == ("sms", "TEST, only to you: T: Ch")
    assert db.session.scalar(select(Alert.category)) == "appeal"


def test_a_test_that_cannot_reach_the_officer_says_why(officer_client, supervisor_client):
    no_mobile = officer_client.post(
        "/officers/alerts/test",
        json={"title": "T", "body": "B", "channels": ["sms", "voice"]},
    )
    assert no_mobile.status_code == 400
    assert "no mobile number" in no_mobile.json["errors"]["channels"]
    theirs = upload(supervisor_client, wav(5)).json["id"]
    not_mine = officer_client.post(
        "/officers/alerts/test", json={"title": "T", "body": "B", "recording_id": theirs}
    )
    assert "recording you uploaded yourself" in not_mine.json["errors"]["recording"]
    unknown = officer_client.post(
        "/officers/alerts/test", json={"title": "T", "body": "B", "channels": ["fax"]}
    )
    assert "text, voice or e-mail" in unknown.json["errors"]["channels"]
    assert db.session.scalar(select(Alert.id)) is None


def test_an_alerts_page_in_welsh_counts_its_residents_in_welsh(officer_client, town):
    """A Welsh page said "· 4 residents ·" and "fewer than 5" in English (an outside
    check)."""
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    alert_id = send(officer_client, send_at=later).json["alert_id"]
    welsh = officer_client.get(f"/officers/alerts/{alert_id}?lang=cy").text
    assert "llai na 5 o breswylwyr" in welsh and "fewer than 5 residents" not in welsh
    english = officer_client.get(f"/officers/alerts/{alert_id}?lang=en").text
    assert "fewer than 5 residents" in english


def test_a_rejected_follow_up_is_written_again_on_its_thread_to_its_audience(
    officer_client, town, run_worker
):
    """Found by a review: written again, a rejected update to the earlier alert's
    residents became a new alert with no area, off its thread."""
    import json as json_

    first = send(officer_client).json["alert_id"]
    run_worker()
    follow = send(
        officer_client,
        shapes=[],
        audience="parent",
        parent_id=first,
        title="Update",
        body="Two were found.",
    ).json["alert_id"]
    db.session.execute(
        text("UPDATE alerts SET status = 'rejected', sent_at = NULL WHERE id = :id"),
        {"id": follow},
    )
    db.session.commit()
    opened = officer_client.get(f"/officers/?again={follow}")
    assert opened.status_code == 302
    assert f"follow_up={first}" in opened.location and f"again={follow}" in opened.location
    page = officer_client.get(opened.location).text
    found = re.search(r'<script type="application/json" id="target-config">(.*?)</script>', page)
    settings = json_.loads(found.group(1))
    assert settings["parentId"] == first
    assert settings["startFrom"]["checked"]["audience"] == ["parent"]
    assert settings["startFrom"]["fields"]["title"] == "Update"


def test_a_follow_up_to_an_alert_not_ours_is_not_found(
    app, officer_client, make_officer, make_resident, second_force
):
    # Another force's alert (or none) opened a blank new alert, saying nothing of the
    # follow-up asked for (an outside check).
    from app.services.alerts import submit_alert

    make_resident(postcode="BA12 9AA", sms="+447700900071")  # Warminster, Wiltshire
    theirs = submit_alert(
        make_officer(role="officer", force_id=second_force.id, email="w@police.example"),
        shapes=[circle(center=[-2.1790, 51.2050], radius_m=500)],
        title="Theirs",
        body="Wiltshire's.",
    ).alert
    assert officer_client.get(f"/officers/?follow_up={theirs.id}").status_code == 404
    assert officer_client.get("/officers/?follow_up=987654").status_code == 404
    # Nor a value that names no alert at all: it opened a new alert, saying nothing;
    # "write it again" from no alert, and the outbox of no alert, were the page without
    # it likewise (one way to read an argument that names a record).
    for page in ("/officers/?follow_up=", "/officers/?again=", "/officers/outbox?alert="):
        for odd in ("0", "abc", "9" * 20, "-1", "\u0661", "1.0", " 1"):
            assert officer_client.get(page + odd).status_code == 404, page + odd
        assert officer_client.get(page).status_code == 200, page  # none asked


def test_the_words_preview_refuses_a_mode_the_send_refuses(officer_client):
    # "nonsense" was previewed as live (an outside check), where the send refuses it.
    answer = officer_client.post(
        "/officers/compose", json={"title": "T", "body": "B", "mode": "nonsense"}
    )
    assert answer.status_code == 400 and "Choose live or exercise." in str(answer.json)
    fine = officer_client.post(
        "/officers/compose", json={"title": "T", "body": "B", "mode": "exercise"}
    )
    assert fine.status_code == 200


def test_a_mode_sent_empty_null_or_unknown_is_refused_by_every_route_that_reads_it(
    officer_client, make_resident
):
    """Found by an outside check: a send with "mode" empty or null went live (to 7
    residents), and the reach preview took "TEST", "Live" or "" as live without a word.
    Each is refused where the mode is read; absent, it is live, as before."""
    from app.models import Alert

    make_resident(postcode="BS1 6AD", sms="+447700900931")
    area = {"shapes": [circle()], "title": "T", "body": "B"}
    # ("test" too: the send-a-test-to-myself's own mode, which the words' preview took,
    # and the send refused: a review.)
    for odd in ("", None, "TEST", "Live", "test", 1, ["live"]):
        for route in ("/officers/alerts", "/officers/preview", "/officers/compose"):
            answer = officer_client.post(route, json=area | {"mode": odd})
            assert answer.status_code == 400, (route, odd, answer.json)
            assert "Choose live or exercise." in str(answer.json), (route, odd)
    assert db.session.scalar(select(func.count()).select_from(Alert)) == 0
    assert officer_client.post("/officers/preview", json=area).status_code == 200
    assert officer_client.post("/officers/alerts", json=area).status_code == 201


def test_cancelling_when_every_message_is_on_its_way_says_none_was_waiting(
    officer_client, make_resident
):
    # "Alert cancelled: 0 messages will not be sent." when all had gone or were going,
    # and the alert was shown cancelled (an outside check).
    from sqlalchemy import text

    from app.extensions import db

    make_resident(postcode="BS1 6AD", sms="+447700900072")
    alert_id = send(officer_client, shapes=[circle(radius_m=300)]).json["alert_id"]
    db.session.execute(
        text("UPDATE deliveries SET status = 'sending' WHERE alert_id = :id"), {"id": alert_id}
    )
    db.session.commit()
    token = form_token(officer_client, f"/officers/alerts/{alert_id}")

    def cancel():
        return officer_client.post(
            f"/officers/alerts/{alert_id}/cancel",
            data={"csrf_token": token, "confirm": "yes"},
            follow_redirects=True,
        )

    answer = cancel()
    assert "none of its messages was still waiting" in answer.text
    assert "0 messages will not be sent" not in answer.text
    # Cancelled again (a second tap, another officer): it says it was cancelled, not
    # "already finished" (an outside check).
    again = cancel()
    assert "This alert was cancelled already" in again.text
    assert "already finished" not in again.text
