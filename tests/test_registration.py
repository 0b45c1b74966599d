"""The resident journey: sign up by postcode; every refusal says what to do."""

import html
import re

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import Resident, ResidentChannel, ResidentLocation
from tests.factories import csrf_token, untied_errors

GOOD = {
    "postcode": "bs1 6ad",
    "channels": ["sms", "email"],
    "sms_phone": "07700 900123",
    "email": "Sam@Example.INVALID",
    "consent": "yes",
}


def post(client, **changes):
    data = GOOD | changes
    data = {k: v for k, v in data.items() if v is not None}
    data["csrf_token"] = csrf_token(client)
    return client.post("/register", data=data)


def count_residents():
    return db.session.scalar(select(func.count()).select_from(Resident))


def test_resident_is_stored_with_the_postcodes_point_and_told_where(client, app_ctx):
    response = post(client, groups=["neighbourhood-watch"])
    # The group does not exist yet: the form says so and stores nothing.
    assert response.status_code == 400
    assert count_residents() == 0

    response = post(client)
    assert response.status_code == 302
    done = client.get(response.headers["Location"])
    # Not "You're signed up" yet: nothing is sent until a way to reach them is confirmed,
    # and the page says so in words that read the same for a number already registered.
    assert "Check your messages" in done.text and "signed up" not in done.text
    assert "Central ward, City of Bristol" in done.text
    assert "If this number can get alerts, we have sent it a message." in done.text

    resident = db.session.scalars(select(Resident)).one()
    location = db.session.execute(
        select(ResidentLocation.postcode, func.ST_AsText(ResidentLocation.location))
    ).one()
    postcode_point = db.session.scalar(
        text("SELECT ST_AsText(location) FROM postcodes WHERE postcode = 'BS16AD'")
    )
    assert location == ("BS16AD", postcode_point)
    channels = dict(
        db.session.execute(select(ResidentChannel.channel, ResidentChannel.address)).all()
    )
    # In lower case: one mailbox, however it is typed (migration 0063).
    assert channels == {"sms": "+447700900123", "email": "sam@example.invalid"}
    assert resident.reference is not None


@pytest.mark.parametrize("again", [False, True], ids=["new", "already registered"])
def test_a_sign_up_answered_after_its_wait_needs_no_database(client, app_ctx, monkeypatch, again):
    """Found by an outside check: the database gone during the sign-up's wait (its
    answer takes as long for a number we hold as for a new one) answered "We cannot do
    that just now", though the sign-up was committed and its code texted, and another
    phone could not use the code for ten minutes. What the answer needs is read before
    the wait, and the resident's next page opens."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    import app.public as public

    if again:  # signed up first from another phone
        assert post(client.application.test_client()).status_code == 302
    waited = public._wait_until

    def refuse(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("the database went away"))

    def database_gone_while_waiting(moment):
        event.listen(db.engine, "before_cursor_execute", refuse)
        waited(moment)

    monkeypatch.setattr(public, "_wait_until", database_gone_while_waiting)
    try:
        response = post(client)
    finally:
        if event.contains(db.engine, "before_cursor_execute", refuse):
            event.remove(db.engine, "before_cursor_execute", refuse)
    assert response.status_code == 302, response.text[:300]
    assert response.headers["Location"].endswith("/confirm")
    assert count_residents() == 1
    assert "Check your messages" in client.get(response.headers["Location"]).text


def test_an_end_of_quiet_hours_refused_is_said_at_its_field(client, app_ctx):
    # It was said only in the summary at the top (an outside check).
    refused = post(client, quiet="yes", quiet_from="22:00", quiet_until="7\x00:00")
    assert refused.status_code == 400
    assert 'id="quiet_until-error"' in refused.text
    assert 'aria-describedby="quiet_until-error"' in refused.text
    assert "Give both times" not in refused.text  # both were given
    assert count_residents() == 0


@pytest.mark.parametrize("empty", ["quiet_from", "quiet_until"])
def test_quiet_hours_with_a_time_left_empty_are_refused_at_its_field(client, app_ctx, empty):
    """Found by an outside check: quiet hours ticked, the start left empty, were saved
    as 22:00 to 07:00 and nothing said; "Your alerts" asks for both times. So does
    the sign-up."""
    times = {"quiet_from": "23:00", "quiet_until": "06:00"} | {empty: ""}
    refused = post(client, quiet="yes", **times)
    assert refused.status_code == 400
    assert "Give both times" in refused.text
    assert 'aria-describedby="quiet_from-error"' in refused.text  # the pair's, by its fieldset
    assert count_residents() == 0


def test_the_place_is_told_back_in_the_language_signed_up_in(client, app_ctx):
    # A Welsh confirm page read "Central ward", the English order (an outside check).
    response = post(client, language="cy")
    assert response.status_code == 302
    done = client.get(response.headers["Location"])
    assert "ward Central, City of Bristol" in done.text


@pytest.mark.parametrize("typed", ["bs1-6ad", "BS1\u20136AD", "BS1\u2015 6AD", "BS1\u00ad6AD"])
def test_a_postcode_typed_with_a_dash_is_the_postcode(client, app_ctx, typed):
    # "BS1-6AD" was refused as not a postcode, and a horizontal bar or a soft hyphen
    # after that (outside checks).
    assert post(client, postcode=typed).status_code == 302
    assert db.session.scalar(select(ResidentLocation.postcode)) == "BS16AD"


def test_a_number_address_or_postcode_pasted_with_direction_marks_is_taken(client, app_ctx):
    """Copied out of a contact card, "\u202a07700 900123\u202c" was refused for a
    character nobody could see (an outside check); in words those marks are refused."""
    answer = post(
        client,
        postcode="\u200ebs1 6ad\u200f",
        sms_phone="\u202a07700 900123\u202c",
        email="\u2066Sam@Example.INVALID\u2069",
    )
    assert answer.status_code == 302
    assert set(db.session.scalars(select(ResidentChannel.address))) == {
        "+447700900123",
        "sam@example.invalid",
    }
    assert db.session.scalar(select(ResidentLocation.postcode)) == "BS16AD"
    typed_ahead = client.get("/api/autocomplete?q=%E2%80%AABS1%206A")
    assert typed_ahead.status_code == 200 and "BS1 6AD" in typed_ahead.text
    assert post(client, name="Sam \u202eJones").status_code == 400  # in words: refused


def test_our_own_sending_number_is_refused_as_a_residents(app, client, app_ctx, monkeypatch):
    """A code was texted from our number to itself, which the provider refuses."""
    monkeypatch.setitem(app.config, "TWILIO_FROM_NUMBER", "+447700900999")
    monkeypatch.setitem(app.config, "TWILIO_VOICE_FROM_NUMBER", "+441174960999")
    for field, typed in (("sms_phone", "07700 900999"), ("voice_phone", "0117 496 0999")):
        channels = ["sms"] if field == "sms_phone" else ["voice"]
        refused = post(client, channels=channels, email=None, **{field: typed})
        assert refused.status_code == 400, field
        assert "the number our texts and calls come from" in html.unescape(refused.text)
    assert count_residents() == 0


def test_resident_can_join_interest_groups(client, app_ctx, runner):
    runner.invoke(args=["demo", "seed", "--residents", "1"])
    db.session.execute(text("TRUNCATE residents CASCADE"))
    db.session.commit()
    response = post(client, groups=["farm-watch", "horse-watch"])
    assert response.status_code == 302
    resident = db.session.scalars(select(Resident)).one()
    assert sorted(g.slug for g in resident.groups) == ["farm-watch", "horse-watch"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"postcode": ""}, "postcode", "Enter a postcode"),
        ({"postcode": "hello"}, "postcode", "“hello” is not a postcode"),
        # A forces family read "not a postcode" as a typing mistake (an outside check).
        ({"postcode": "BFPO 1"}, "postcode", "(BFPO) addresses are not covered"),
        ({"postcode": "B.F.P.O. 1"}, "postcode", "(BFPO) addresses are not covered"),
        ({"postcode": "BF1 3AA"}, "postcode", "(BFPO) addresses are not covered"),
        ({"postcode": "BS99 9ZZ"}, "postcode", "We can't find BS99 9ZZ"),
        (
            {"postcode": "ba12 9aa"},
            "postcode",
            "BA12 9AA is in Wiltshire, outside the area Avon and Somerset Police covers",
        ),
        ({"channels": []}, "channels", "Choose at least one way"),
        ({"sms_phone": "0117 496 0123"}, "sms_phone", "Texts can only go to a mobile"),
        ({"sms_phone": "0909 879 0000"}, "sms_phone", "premium-rate"),
        (
            {"channels": ["voice"], "sms_phone": None, "voice_phone": "0300 123 4567"},
            "voice_phone",
            "We can't send to 03 numbers: they reach an organisation",
        ),
        (
            {"channels": ["voice"], "sms_phone": None, "voice_phone": "05511 123456"},
            "voice_phone",
            "We can't send to 055 numbers: they reach an organisation",
        ),
        (
            {"channels": ["voice"], "sms_phone": None, "voice_phone": "07640 123456"},
            "voice_phone",
            "We can't send to pagers (076 numbers)",
        ),
        ({"sms_phone": "0701 234 5678"}, "sms_phone", "personal"),
        ({"sms_phone": "+33 6 12 34 56 78"}, "sms_phone", "only send to UK phone numbers"),
        # Another country's, not a real one, or not whole: not "check the digits".
        ({"sms_phone": "+1 268 555 0100"}, "sms_phone", "only send to UK phone numbers"),
        ({"sms_phone": "+882 1234 5678"}, "sms_phone", "only send to UK phone numbers"),
        ({"sms_phone": "07700"}, "sms_phone", "not a complete UK phone number"),
        # Enough digits, but no number starts so: not "check the number of digits".
        ({"sms_phone": "07911 999999"}, "sms_phone", "No UK phone number starts like that"),
        ({"sms_phone": "call me"}, "sms_phone", "Enter a UK phone number"),
        ({"email": "sam@"}, "email", "There must be something after the @-sign"),
        # One spelling of "e-mail" in a sentence (the library's own said "email").
        ({"email": "sam"}, "email", "can't be used. An e-mail address must have an @-sign."),
        # One address, never several recipients.
        ({"email": "sam,bob@example.com"}, "email", "before the @-sign: ','"),
        ({"email": "sam;bob@example.com"}, "email", "before the @-sign: ';'"),
        ({"email": '"sam,bob"@example.com'}, "email", "Quoting"),
        ({"sms_phone": "07700 900123 ext 5"}, "sms_phone", "without an extension"),
        ({"sms_phone": "07700 900123 x5"}, "sms_phone", "without an extension"),
        ({"sms_phone": "07700 900123 #5"}, "sms_phone", "without an extension"),
        ({"name": "Sam\nJones"}, "name", "Your name has a line break in it"),
        ({"name": "Sam\rJones"}, "name", "carriage return"),
        ({"name": "Sam\x00"}, "name", "a null character"),
        ({"name": "\u200b\u2060 "}, "name", "only invisible characters"),
        ({"postcode": "BS1\x00 6AD"}, "postcode", "a null character"),
        ({"consent": None}, "consent", "Tick the box"),
        # Read whole: cut to five characters, this was saved as 09:09 (an outside check).
        (
            {"quiet": "yes", "quiet_from": "0909 8790000"},
            "quiet_from",
            "0909 8790000 is not a time of day",
        ),
        (
            {"quiet": "yes", "quiet_from": "22:00", "quiet_until": "22:00:00.5"},
            "quiet_from",  # the pair's one error, on the fieldset
            "22:00:00.5 is not a time of day",
        ),
        # As "Your alerts" refuses it (taken silently: an outside check).
        ({"language": "fr"}, "language", "Choose English or Cymraeg."),
        # Named, not taken out ("22\x00:00" was saved as 22:00: an outside check).
        ({"quiet": "yes", "quiet_from": "22\x00:00"}, "quiet_from", "a null character"),
    ],
)
def test_each_refusal_says_what_to_do_and_stores_nothing(client, app_ctx, changes, field, message):
    response = post(client, **changes)
    assert response.status_code == 400
    assert "There is a problem" in response.text
    assert message in html.unescape(response.text)
    anchor = {"channels": "channel-sms", "language": "language-en"}.get(field, field)
    assert f'href="#{anchor}"' in response.text
    # Each error is read with the control at fault, the ticks and choices too.
    assert untied_errors(response.text) == []
    assert count_residents() == 0
    # What the resident typed is kept, so they only fix the mistake.
    if field != "postcode":
        assert 'value="bs1 6ad"' in response.text
    # The postcode box is described by its error and its place hint, in one attribute
    # (two made the HTML invalid and the hint was dropped: an outside probe).
    box = re.search(r'<input id="postcode"[^>]*>', response.text).group(0)
    assert box.count("aria-describedby") == 1
    described = "postcode-error postcode-place" if field == "postcode" else "postcode-place"
    assert f'aria-describedby="{described}"' in box


@pytest.mark.parametrize(
    ("typed", "kept"),
    [("10:30pm", "22:30:00"), ("6:30am", "06:30:00"), ("2215", "22:15:00"), ("21.45", "21:45:00")],
)
def test_quiet_hours_are_read_as_typed_not_cut_short(client, app_ctx, typed, kept):
    """ "10:30pm" was cut to "10:30" and saved as the morning: routine alerts held about
    20.5 hours a day, with no word (an outside check)."""
    assert post(client, quiet="yes", quiet_from=typed, quiet_until="07:00").status_code == 302
    assert str(db.session.scalars(select(Resident.quiet_from)).one()) == kept


def test_postcode_with_no_location_is_refused(client, make_postcode):
    make_postcode(postcode="BS1 0ZZ", easting=None, northing=None)
    response = post(client, postcode="BS1 0ZZ")
    assert response.status_code == 400
    assert "BS1 0ZZ has no location in the postcode data" in html.unescape(response.text)


def test_a_terminated_postcode_is_refused_with_when(client, make_postcode):
    make_postcode(postcode="BS1 9ZZ", terminated_on="2019-06-01")
    response = post(client, postcode="BS1 9ZZ")
    assert response.status_code == 400
    assert "BS1 9ZZ is no longer in use: Royal Mail stopped using it in June 2019" in (
        html.unescape(response.text)
    )
    assert count_residents() == 0


def test_several_mistakes_are_reported_together(client, app_ctx):
    response = post(client, postcode="nope", sms_phone="123", consent=None)
    assert response.status_code == 400
    errors = re.findall(r'<li><a href="#(\w+)">', response.text)
    assert errors == ["postcode", "sms_phone", "consent"]


def test_registration_without_csrf_token_is_refused(client, app_ctx):
    response = client.post("/register", data=GOOD)
    assert response.status_code == 400
    assert count_residents() == 0


def test_a_form_not_sent_as_utf8_is_told_so_not_that_the_page_expired(client, app_ctx):
    """Found by an outside check: werkzeug reads no field of a form with bytes that are
    not UTF-8, its token neither, and the answer was "This page has expired"."""
    token = csrf_token(client)
    body = f"csrf_token={token}&postcode=BS1+6AD&name=".encode() + b"\xff\xfeSam&consent=yes"
    answer = client.post("/register", data=body, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400
    assert "could not be read as text: it was not sent as UTF-8" in html.unescape(answer.text)
    # Only that: not the general advice about forms that stop working after a while,
    # which has nothing to do with it (an outside check).
    assert "forms stop working" not in answer.text
    assert count_residents() == 0
    # A form without its token is still told the page expired.
    assert "has expired" in client.post("/register", data=GOOD).text


def test_an_escape_of_bytes_not_utf8_is_refused_not_stored_as_its_characters(client, app_ctx):
    """Found by an outside check: werkzeug keeps "%ED%A0%80" (an escape of bytes that are
    not UTF-8) as those nine characters, and a place's label was stored so. Every form
    and address is refused before a view reads it; a good escape still reads as text."""
    token = csrf_token(client)
    form = "application/x-www-form-urlencoded"
    base = f"csrf_token={token}&postcode=BS1+6AD&channels=email&email=sam%40example.invalid"
    for bad in ("%ED%A0%80", "%FF", "Sam%C3", "%E2%82"):
        answer = client.post("/register", data=f"{base}&consent=yes&name={bad}", content_type=form)
        assert answer.status_code == 400, bad
        assert "could not be read as text" in html.unescape(answer.text)
    assert count_residents() == 0
    answer = client.get("/?q=%ED%A0%80", headers={"Accept": "application/json"})
    assert answer.status_code == 400
    assert answer.json["reason"] == "unreadable"
    assert "address could not be read as text" in answer.json["error"]
    welsh = client.get("/?q=%ED%A0%80&lang=cy")  # in the page's language
    assert "Nid oedd modd darllen rhan o'r cyfeiriad hwnnw" in html.unescape(welsh.text)

    answer = client.post("/register", data=f"{base}&consent=yes&name=Ren%C3%A9e", content_type=form)
    assert answer.status_code == 302
    assert db.session.scalar(select(Resident.name)) == "Renée"


def test_a_nul_in_a_postcode_typed_ahead_or_a_recordings_name_is_told_so(client, app_ctx):
    """Found by an outside check: "BS1%00" typed ahead, and a recording's name with a
    NUL, reached PostgreSQL, and the answer ("not a value we can use") did not say what
    to change. The postcode's NUL is named as a lookup names it; such a name is no
    recording's."""
    api = client.get("/api/autocomplete?q=BS1%00")
    assert api.status_code == 400 and "null character (NUL)" in api.json["error"]
    page = client.get("/media/recordings/%00")  # no page's address (app/web.py _CONTROL)
    assert page.status_code == 404 and "Page not found" in page.text
    assert client.get("/api/autocomplete?q=BS1").status_code == 200


def test_drama_numbers_are_refused_in_production():
    from app.services.contacts import ContactRefused, normalise_phone

    with pytest.raises(ContactRefused):
        normalise_phone("07700 900123", need_mobile=True, allow_drama=False)
    assert normalise_phone("07700 900123", need_mobile=True, allow_drama=True) == "+447700900123"
    assert normalise_phone("07911 123456", need_mobile=True) == "+447911123456"
    assert normalise_phone("+44 1534 123456", need_mobile=False) == "+441534123456"


def test_a_refused_postcode_gives_the_same_example_as_the_hint(client, app_ctx):
    """Found by an outside check: the hint's example was the force's (BA5 3EX) and the
    error's a fixed Bristol one (BS1 6AD)."""
    from app.services.forces import example_postcode

    example = example_postcode()
    assert f"For example, {example}." in client.get("/register").text
    refused = html.unescape(post(client, postcode="hello").text)
    assert f"“hello” is not a postcode. A postcode looks like {example}." in refused
    empty = html.unescape(post(client, postcode="").text)
    assert f"Enter a postcode, for example {example}." in empty
