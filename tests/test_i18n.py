"""English and Welsh (issue 15): every marked string is in the Welsh catalogue, with
its placeholders; pages follow ?lang=, the cookie, the resident's choice and the
browser; dates are in Welsh on Welsh pages; and what we send a resident (codes, links)
is in their language."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlalchemy import select

from app.extensions import db
from app.i18n import compile_catalogues, contact, when
from app.models import Resident
from tests.test_residents import (
    code_in,
    link_in,
    notices_sent,
    opened_page,
    page_token,
    register,
)
from tests.test_residents import resident_client as resident_client  # a fixture

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "app" / "translations" / "cy" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|\{[a-z_]*\}")


def extracted() -> dict[str, list[str]]:
    """Every string marked for translation, as `pybabel extract -F babel.cfg` finds it,
    with where it was found."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str, list[str]] = {}
    # `_l` is how app/residents/__init__.py spells lazy_gettext.
    keywords = {
        "_": None,
        "_l": None,
        "N_": None,  # geo/areas.py: marked there, translated by the app
        "gettext": None,
        "lazy_gettext": None,
        "ngettext": (1, 2),
    }
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        for text in message if isinstance(message, tuple) else (message,):
            if text:
                found.setdefault(text, []).append(f"{filename}:{lineno}")
    return found


@pytest.fixture(scope="module")
def welsh():
    with CATALOGUE.open("rb") as source:
        return read_po(source, locale="cy")


def test_every_marked_string_has_a_welsh_translation(welsh):
    strings = extracted()
    assert len(strings) > 250  # the extraction found the templates and the code
    # A plural message is found by its singular and by its plural.
    catalogue = {
        text: message
        for message in welsh
        for text in (message.id if isinstance(message.id, tuple) else (message.id,))
        if text
    }
    problems = []
    for text, where in strings.items():
        message = catalogue.get(text)
        forms = message.string if message and isinstance(message.string, tuple) else None
        if message is None:
            problems.append(f"not in the catalogue: {text!r} ({where[0]})")
        elif forms is not None and not all(form.strip() for form in forms):
            problems.append(f"a plural form without Welsh: {text!r} ({where[0]})")
        elif not message.string or not str(message.string).strip():
            problems.append(f"no Welsh: {text!r} ({where[0]})")
        elif message.fuzzy:
            problems.append(f"fuzzy: {text!r}")
    assert not problems, "\n".join(problems)


def test_placeholders_match_between_english_and_welsh(welsh):
    problems = []
    for message in welsh:
        if not message.id or not message.string:
            continue
        # A plural message has forms on both sides: each Welsh form against the
        # English plural.
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        for form in forms:
            english = sorted(PLACEHOLDER.findall(ids[-1]))
            cymraeg = sorted(PLACEHOLDER.findall(form))
            if set(english) != set(cymraeg):
                problems.append(f"{ids[-1]!r}: {english} but {cymraeg}")
            # Markup in the English is in the Welsh too: the same links, the same count.
            if ids[-1].count("<a ") != form.count("<a "):
                problems.append(f"{ids[-1]!r}: links differ")
    assert not problems, "\n".join(problems)


def test_not_sent_again_and_not_sent_yet_are_told_apart_in_welsh(welsh):
    """Found by an outside check: "It was not sent again" read "Nid yw wedi'i anfon eto",
    the words the catalogue gives "It has not been sent yet": "eto" is both "again" and
    "yet". Again, when not, is "eilwaith" (a second time)."""
    again = re.compile(r"\bnot (?:be )?sent again\b", re.IGNORECASE)
    found, problems = 0, []
    for message in welsh:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if not ids[0] or not again.search(ids[-1]):
            continue
        found += 1
        problems += [f"{ids[-1]!r}: {form!r}" for form in forms if "eilwaith" not in form]
    assert found >= 5
    assert not problems, "\n".join(problems)


def test_the_placeholder_check_finds_a_missing_one():
    english, cymraeg = "Hello %(name)s, {count}", "Helo %(enw)s"
    assert set(PLACEHOLDER.findall(english)) != set(PLACEHOLDER.findall(cymraeg))


def test_the_catalogue_compiles(tmp_path):
    target = tmp_path / "cy" / "LC_MESSAGES"
    target.mkdir(parents=True)
    (target / "messages.po").write_bytes(CATALOGUE.read_bytes())
    (written,) = compile_catalogues(tmp_path)
    assert written.stat().st_size > 1000
    assert compile_catalogues(tmp_path) == []  # up to date: nothing to do


# --- pages -----------------------------------------------------------------------


def test_the_switch_is_on_every_page_and_the_language_is_kept(client, app_ctx):
    english = client.get("/register").text
    assert '<html lang="en-GB">' in english
    assert 'href="/register?lang=cy" lang="cy" hreflang="cy">Cymraeg</a>' in english
    welsh = client.get("/register?lang=cy")
    assert '<html lang="cy">' in welsh.text and "Cofrestru i gael rhybuddion" in welsh.text
    assert 'hreflang="en-GB">English</a>' in welsh.text
    assert "Heddlu Avon a Gwlad yr Haf" in welsh.text
    assert "lang=cy" in welsh.headers["Set-Cookie"]
    # The cookie keeps the next page in Welsh, until the switch says otherwise.
    assert '<html lang="cy">' in client.get("/check").text
    assert '<html lang="en-GB">' in client.get("/check?lang=en").text
    assert '<html lang="en-GB">' in client.get("/check").text


def test_the_switch_keeps_the_pages_own_question(client, app_ctx):
    page = client.get("/alerts?category=appeal&page=2").text
    assert 'href="/alerts?category=appeal&amp;page=2&amp;lang=cy"' in page


def test_the_browsers_language_is_used_when_nothing_is_chosen(client, app_ctx):
    page = client.get("/", headers={"Accept-Language": "cy-GB,cy;q=0.9,en;q=0.5"}).text
    assert '<html lang="cy">' in page and "Clywed gan Heddlu Avon a Gwlad yr Haf" in page
    assert '<html lang="en-GB">' in client.get("/", headers={"Accept-Language": "fr"}).text


def test_error_pages_are_in_welsh_too(client, app_ctx):
    missing = client.get("/no-such-page?lang=cy")
    assert missing.status_code == 404
    assert "Heb ddod o hyd i&#39;r dudalen" in missing.text and '<html lang="cy">' in missing.text


def test_dates_are_welsh_on_welsh_pages(app):
    moment = datetime(2026, 7, 1, 17, 5, tzinfo=UTC)  # 18:05 BST
    with app.test_request_context("/?lang=cy"):
        assert when(moment) == "1 Gorffennaf 2026 am 18:05"
        assert when(moment, "date") == "1 Gorffennaf 2026"
    with app.test_request_context("/?lang=en"):
        assert when(moment) == "1 July 2026 at 18:05"
    # Staff pages' short dates too (found by an outside check: "03 Dec" on Welsh pages).
    uk = app.jinja_env.filters["uk"]
    with app.test_request_context("/?lang=cy"):
        assert uk(moment, "%d %b %H:%M") == "01 Gorff 18:05"
        assert uk(moment, "%H:%M") == "18:05"
    with app.test_request_context("/?lang=en"):
        assert uk(moment, "%d %b %Y %H:%M") == "01 Jul 2026 18:05"
    # And an alert's category ("Missing person" was English on Welsh staff pages).
    from app.models import Alert

    with app.test_request_context("/?lang=cy"):
        assert Alert(category="missing_person").category_label == "Person ar goll"
    with app.test_request_context("/?lang=en"):
        assert Alert(category="missing_person").category_label == "Missing person"


def test_numbers_are_shown_as_people_write_them():
    assert contact("+447700900952") == "07700 900952"
    assert contact("+441179000000") == "0117 900 0000"
    assert contact("+33123456789") == "+33 1 23 45 67 89"
    assert contact("me@example.invalid") == "me@example.invalid"


# --- the resident's language --------------------------------------------------------


def test_signing_up_in_welsh_keeps_the_choice_and_the_code_comes_in_welsh(
    client, app_ctx, run_worker
):
    client.get("/register?lang=cy")
    assert register(client, channels=["sms"], language="cy").status_code == 302
    resident = db.session.scalars(select(Resident)).one()
    assert resident.language == "cy"
    assert "Rwy'n cytuno y caiff Heddlu Avon a Gwlad yr Haf" in resident.consent_text
    (sms,) = notices_sent(run_worker)
    assert "yw eich cod i gadarnhau rhybuddion gan Heddlu Avon a Gwlad yr Haf" in sms.body
    page = client.get("/register/confirm").text
    assert "Gwiriwch eich negeseuon" in page and "07700 900123" in page
    token = page_token(client, "/register/confirm")
    done = client.post(
        "/register/confirm",
        data={"csrf_token": token, "channel": "sms", "code": code_in(sms)},
        follow_redirects=True,
    ).text
    assert "Wedi cadarnhau (Neges destun): rydych wedi cofrestru" in done
    assert "Beth sy&#39;n digwydd nesaf" in done or "Beth sy'n digwydd nesaf" in done


def test_a_welsh_residents_confirmation_e_mail_says_how_to_stop_in_welsh(
    client, app_ctx, run_worker
):
    """Found by an outside probe: its words were Welsh and its last line English."""
    client.get("/register?lang=cy")
    assert register(client, channels=["email"], language="cy").status_code == 302
    (mail,) = notices_sent(run_worker)
    assert mail.channel == "email" and "To stop" not in mail.body
    # It says the address's owner may ignore it, not to call the police about a sign-up
    # someone else may have made (it said "call 101": an outside check).
    assert mail.body.rstrip().endswith(
        "Os na wnaethoch ofyn am hyn, gallwch ei anwybyddu: nid anfonir dim mwy i'r cyfeiriad"
        " hwn oni bai ei fod yn cael ei gadarnhau."
    )
    assert "101" not in mail.body
    client.get("/register?lang=en")
    other = client.application.test_client()
    other.get("/register?lang=en")
    assert register(other, channels=["email"], email="en@example.invalid").status_code == 302
    english = notices_sent(run_worker)[-1]
    assert english.body.rstrip().endswith(
        "If you did not ask for this, you can ignore it: nothing more is sent to this address"
        " unless it is confirmed."
    )


def test_a_welsh_sign_up_says_what_is_wrong_in_welsh(client, app_ctx):
    """The postcode's and the number's refusals came in English under Welsh headings."""
    import html

    client.get("/register?lang=cy")
    wrong = html.unescape(register(client, postcode="GL1 1AD", sms_phone="0117 496").text)
    # The force as the page's heading names it (it said "Heddlu Avon and Somerset").
    assert "y tu allan i'r ardal y mae Heddlu Avon a Gwlad yr Haf yn ei chwmpasu" in wrong
    wrong_mail = html.unescape(register(client, channels=["email"], email="sam@example").text)
    assert "Mae angen atalnod llawn yn y rhan ar ôl yr @." in wrong_mail
    assert "should have a period" not in wrong_mail
    assert "Nid yw hwnnw'n rhif ffôn cyflawn yn y DU" in wrong
    assert "outside the area" not in wrong and "not a complete UK phone number" not in wrong
    place = client.post(
        "/register/postcode", data={"postcode": "xx", "csrf_token": page_token(client, "/register")}
    ).json
    assert place["error"].startswith("Nid cod post yw “xx”")
    assert db.session.scalars(select(Resident)).all() == []


def test_a_welsh_page_can_sign_up_someone_who_wants_english(client, app_ctx, run_worker):
    client.get("/register?lang=cy")
    register(client, channels=["sms"], language="en")
    assert db.session.scalars(select(Resident)).one().language == "en"
    (sms,) = notices_sent(run_worker)
    assert "is your code to confirm alerts from Avon and Somerset Police" in sms.body


def test_the_resident_changes_their_language_and_their_next_link_comes_in_it(
    resident_client,  # noqa: F811
    app_ctx,
    run_worker,
):
    token = page_token(resident_client, "/my-alerts")
    answer = resident_client.post(
        "/my-alerts", data={"csrf_token": token, "language": "cy"}, follow_redirects=True
    )
    # Their pages follow at once (the choice is also the cookie's) ...
    assert '<html lang="cy">' in answer.text and "Wedi&#39;i gadw: iaith." in answer.text
    resident = db.session.scalars(select(Resident)).one()
    db.session.refresh(resident)
    assert resident.language == "cy"
    # ... and so do the messages we send them.
    before = len(notices_sent(run_worker))
    manage = resident_client.post(
        "/manage",
        data={"csrf_token": page_token(resident_client, "/manage"), "address": "07700 900001"},
    )
    assert manage.status_code == 200 and "Gwiriwch eich negeseuon" in manage.text
    (link,) = notices_sent(run_worker)[before:]
    assert link.body.startswith(
        "Agorwch y ddolen hon i newid neu stopio eich rhybuddion gan Heddlu"
    )


def test_a_page_opened_from_a_link_is_in_the_language_switched_to_else_the_residents(
    app, client, app_ctx, make_resident, run_worker
):
    """Found by an outside check: a link asked for in Welsh opened the page of a
    resident who signed up in English in English. Their own language is what their
    pages are in when the visitor has not chosen."""
    make_resident(postcode="BS1 6AD", sms="+447700900001")
    welsh = make_resident(postcode="BS1 6AD", sms="+447700900002")
    welsh.language = "cy"
    db.session.commit()
    client.get("/manage?lang=cy")
    client.post(
        "/manage", data={"csrf_token": page_token(client, "/manage"), "address": "07700 900001"}
    )
    link = link_in(notices_sent(run_worker)[-1])
    assert "Agor tudalen fy rhybuddion" in client.get(link).text
    client.post(link, data={"csrf_token": page_token(client, link)})
    assert '<html lang="cy">' in client.get("/my-alerts").text
    fresh = app.test_client()
    opened_page(fresh, "+447700900002", run_worker)
    assert '<html lang="cy">' in fresh.get("/my-alerts").text
    fresh.get("/my-alerts?lang=en")  # the switch is over their own
    assert '<html lang="en-GB">' in fresh.get("/my-alerts").text


def test_a_refused_character_is_named_in_welsh_on_a_welsh_page(app):
    """Found by an outside probe: the words naming a refused character, a length and
    the field were English inside Welsh pages ("Y cod post has an invisible character")."""
    from flask_babel import force_locale

    from app.services.text import TextRefused, checked_text

    with app.test_request_context(), force_locale("cy"):
        refusals = []
        for value, length in (("\u202eBS1", None), ("Sam\nJones", None), ("x" * 41, 40)):
            try:
                checked_text(value, "Enw'r lle", max_length=length)
            except TextRefused as refusal:
                refusals.append(str(refusal))
    assert refusals == [
        "Enw'r lle: mae nod anweledig (U+202E RIGHT-TO-LEFT OVERRIDE) ynddo (nod 1). "
        "Tynnwch ef a rhowch gynnig arall arni.",
        "Enw'r lle: mae toriad llinell ynddo (nod 4). Tynnwch ef a rhowch gynnig arall arni.",
        "Enw'r lle: mae'n rhy hir. Cadwch ef i 40 nod.",
    ]


def test_interest_groups_have_their_welsh_names_on_welsh_pages(client, app_ctx):
    """Found by an outside probe: the Welsh sign-up form named the groups in English.
    A group with no Welsh name says its name is English."""
    from app.cli.demo import ensure_interest_groups
    from app.models import InterestGroup

    ensure_interest_groups()
    db.session.add(InterestGroup(slug="canal-watch", name="Canal Watch"))
    db.session.commit()
    page = client.get("/register?lang=cy").text
    assert 'lang="cy">Gwarchod Ffermydd</label>' in page
    assert 'lang="en-GB">Canal Watch</label>' in page
    assert "Farm Watch" not in page
    assert 'lang="en-GB">Farm Watch</label>' in client.get("/register?lang=en").text


def test_what_the_services_refuse_is_said_in_welsh_on_welsh_pages(
    app_ctx, officer_client, client, officer, make_resident, run_worker
):
    """Refusals written in the services (a recording, a template, an answer link)
    came in English on Welsh pages, and the field's name in a Welsh sentence was
    English ("The title: mae …"): a leftover of the outside checks."""
    import html
    import re
    from io import BytesIO

    from sqlalchemy import select

    from app.extensions import db
    from app.models import Delivery
    from app.services.dispatch import answer_token
    from tests.test_replies import send

    officer_client.get("/officers/?lang=cy")
    not_audio = officer_client.post(
        "/officers/recordings",
        data={"recording": (BytesIO(b"hello" * 100), "x.mp3")},
        content_type="multipart/form-data",
    )
    assert not_audio.json["error"].startswith("Nid recordiad MP3 neu WAV")
    template = {"name": "Lladrad", "category": "crime_prevention", "title": "T", "body": "B"}
    blank = officer_client.post("/officers/templates", json=template | {"title": "\u00a0 "})
    assert blank.json["errors"]["title"] == "Rhowch deitl i'r templed: mae'n wag."
    turned = officer_client.post("/officers/templates", json=template | {"title": "\u202eT"})
    assert turned.json["errors"]["title"].startswith("Y teitl: mae ")
    assert officer_client.post("/officers/templates", json=template).status_code == 201
    again = officer_client.post("/officers/templates", json=template)
    assert again.json["errors"]["template_name"].startswith("Mae templed o’r enw “Lladrad”")

    make_resident(sms=None, email="q@example.invalid")
    send(officer, run_worker, question="Seen it?", options=["Yes", "No"])
    (delivery_id,) = db.session.scalars(select(Delivery.id))
    path = f"/answer/{answer_token(delivery_id)}?lang=cy"
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)
    refused = client.post(path, data={"csrf_token": token, "choice": "7"})
    assert refused.status_code == 400
    assert "Dewiswch un o'r atebion a ddangosir." in html.unescape(refused.text)


def test_an_analysts_period_is_refused_and_named_in_welsh_on_welsh_pages(
    app, app_ctx, make_officer
):
    """The sent report's and the time line's refusals, and the report's period, were
    English on Welsh pages (the staff pages' Welsh was partial: an outside check)."""
    import html

    from tests.factories import signed_in

    client = signed_in(app, make_officer(role="analyst"), "analyst")
    client.get("/analysts/sent?lang=cy")
    backwards = client.get("/analysts/sent?from=2026-03-01&to=2026-02-01")
    assert backwards.status_code == 400
    words = html.unescape(backwards.text)
    assert "Mae'r dyddiad gorffen (1 Chwefror 2026) cyn y dyddiad dechrau (1 Mawrth 2026)" in words
    shown = html.unescape(client.get("/analysts/sent?from=2026-01-01&to=2026-01-31").text)
    assert "1 Ionawr 2026 i 31 Ionawr 2026" in shown
    unreadable = html.unescape(client.get("/analysts/timeline?from=tomorrow").text)
    assert "Rhaid i “O (wythnos)” fod yn ddyddiad" in unreadable


def test_an_analysts_maps_and_a_teams_areas_are_named_in_welsh_on_welsh_pages(
    app, app_ctx, make_officer
):
    """English on Welsh pages (an outside check): the density map's "All confirmed
    residents" and its channels, the reach page's force name, a team area's kind."""
    import html

    from app.services.teams import area_label_shown
    from tests.factories import signed_in

    client = signed_in(app, make_officer(role="analyst"), "analyst")
    client.get("/analysts/density?lang=cy")
    density = html.unescape(client.get("/analysts/density").text)
    assert "Pob preswylydd wedi'i gadarnhau" in density
    assert "All confirmed residents" not in density
    by_text = html.unescape(client.get("/analysts/density?channel=sms").text)
    assert "Ar neges destun" in by_text
    both = client.get("/analysts/density?channel=sms&group=x")
    assert both.status_code == 400 and "nid y ddau" in html.unescape(both.text)
    reach = html.unescape(client.get("/analysts/penetration").text)
    assert "Avon a Gwlad yr Haf" in reach and "Avon and Somerset" not in reach
    # ONS's attribution, and the groups' names in the filters (an outside check).
    assert "Ffynhonnell: y Swyddfa Ystadegau Gwladol" in reach
    # The licences' lines at the foot stay as written, and say they are English.
    body = reach[: reach.index('<footer class="attribution" id="attribution" lang="en-GB">')]
    assert "Source: Office for National Statistics licensed" not in body
    from app.cli.demo import ensure_interest_groups

    ensure_interest_groups()
    by_group = html.unescape(client.get("/analysts/density").text)
    assert ">Gwarchod Ffermydd</option>" in by_group and "Farm Watch" not in by_group
    chosen = html.unescape(client.get("/analysts/density?group=farm-watch").text)
    assert "Yn y grŵp Gwarchod Ffermydd" in chosen
    from flask_babel import force_locale

    with force_locale("cy"):
        assert area_label_shown("Bath and North East Somerset (district)") == (
            "Bath and North East Somerset (dosbarth)"
        )
        assert area_label_shown("The Old Market (drawn)") == "The Old Market (drawn)"


def test_a_list_of_forces_is_joined_as_each_language_joins_it(app):
    """Found by an outside check: the Welsh page read "Heddlu Avon a Gwlad yr Haf a(c)
    Heddlu Wiltshire", CLDR's "a(c)" standing for either form of "and"."""
    from app.i18n import and_list

    with app.test_request_context():
        assert and_list(["Avon Police", "Wiltshire Police"], "en") == (
            "Avon Police and Wiltshire Police"
        )
        assert and_list(["Heddlu Avon", "Heddlu Wiltshire"], "cy") == (
            "Heddlu Avon a Heddlu Wiltshire"
        )
        assert and_list(["Heddlu Gwent", "Heddlu De Cymru", "Arfon"], "cy") == (
            "Heddlu Gwent, Heddlu De Cymru ac Arfon"
        )
        assert and_list(["Heddlu Gwent"], "cy") == "Heddlu Gwent"


def test_the_welsh_catalogue_says_each_message_once():
    """A message given twice is a catalogue msgfmt refuses, and which of the two
    translations a page gets is chance (one was added again by this session)."""
    import collections
    import re
    from pathlib import Path

    catalogue = Path(__file__).resolve().parents[1] / "app/translations/cy/LC_MESSAGES/messages.po"
    entries = re.findall(
        r'^msgid ("(?:[^"\\]|\\.)*"(?:\n"(?:[^"\\]|\\.)*")*)', catalogue.read_text(), re.M
    )
    twice = [m for m, n in collections.Counter(entries).items() if n > 1 and m != '""']
    assert twice == []


def test_the_switch_never_links_to_another_site(client, app_ctx):
    # A browser reads "/\evil.example/x" as "//evil.example/x", another site: the 404
    # page of that address linked there (an outside check). Escaped, it stays ours.
    page = client.get("/%5Cevil.example/x")
    assert page.status_code == 404
    assert 'href="/%5Cevil.example/x?lang=cy" lang="cy"' in page.text
    assert 'href="/\\' not in page.text and 'href="//' not in page.text


def test_an_error_answered_in_json_is_in_the_pages_language(client, app_ctx):
    # The Welsh sign-up page's postcode check, its form expired: English under the box
    # (an outside check), where the same expiry on a page was Welsh.
    from flask_babel import force_locale, gettext

    english = "This page has expired. Reload it and try again."
    with force_locale("cy"):
        welsh = gettext(english)
    assert welsh != english
    client.get("/register?lang=cy")
    answer = client.post("/register/postcode", data={"postcode": "BS1 6AD"})
    assert (answer.status_code, answer.json) == (400, {"error": welsh, "reason": "expired"})
    missing = client.get("/api/places/999999999/nothing", headers={"Accept": "application/json"})
    assert missing.status_code == 404 and missing.json["error"] != "Page not found"
