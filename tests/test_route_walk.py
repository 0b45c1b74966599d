"""Every route the app registers, walked with hostile values: ids beyond PostgreSQL's
integer range, CR/LF and NUL in path parts, query values and form fields, JSON nested
a thousand levels deep, and numbers in JSON too large for a column. Whoever asks
(nobody, a resident, an admin), the answer is never a server error.

Routes are read from the app's URL map, so a new route is walked without anyone
remembering to add it.
"""

from __future__ import annotations

import logging
import re

import pytest
from flask import url_for

from app.extensions import db
from app.residents import SESSION_KEY
from tests.factories import PASSWORDS, form_token, signed_in

HUGE = "99999999999"
# Values for path parts of type string/path/any: CR/LF, NUL, encoded slashes, long.
HOSTILE_PARTS = ["%0D%0A", "%00", "a%0Ab", "%2F%2Fx", "x" * 3000, "%F0%9F%92%A9", "%ED%A0%80"]
# Query values sent to every GET, under every name a route reads.
QUERY_NAMES = [
    "next",
    "follow_up",
    "again",
    "alert",
    "parent_id",
    "recording_id",
    "kind",
    "q",
    "postcode",
    "limit",
    "radius_m",
    "latitude",
    "longitude",
    "page",
    "id",
    "channel",
    "token",
    "sort",
    "order",
]
NAMING_A_RECORD = {"officers.target": ("follow_up", "again"), "officers.outbox": ("alert",)}
HOSTILE_QUERY = [HUGE, "%0D%0A", "%00", "-1", "1e309", "nan", "x" * 3000, "%ED%A0%80"]
FORM_NAMES = [
    "email",
    "password",
    "name",
    "postcode",
    "channels",
    "sms_phone",
    "voice_phone",
    "address",
    "label",
    "code",
    "channel",
    "action",
    "reason",
    "quiet",
    "quiet_from",
    "quiet_until",
    "groups",
    "notify",
    "forces_shown",
    "forces",
    "csrf_token",
]


def deep_json(levels: int = 1000) -> str:
    return '{"shapes": ' + "[" * levels + "]" * levels + "}"


def huge_json() -> dict:
    return {
        "shapes": [{"type": "circle", "center": [-2.59, 51.45], "radius_m": 10**30}],
        "title": "T",
        "body": "B",
        "parent_id": 10**20,
        "recording_id": 10**20,
        "expected_residents": 10**20,
        "postcodes": ["\r\n", "\x00", "x" * 5000],
    }


def paths_for(rule) -> list[str]:
    """The rule's URL with hostile values in each of its parts."""
    if not rule.arguments:
        return [rule.rule]
    paths = []
    for hostile in [HUGE, *HOSTILE_PARTS]:
        path = rule.rule
        for argument, converter in rule._converters.items():
            kind = type(converter).__name__
            value = HUGE if kind in ("IdConverter", "IntegerConverter") else hostile
            if kind == "AnyConverter":
                value = sorted(converter.items)[0] if hasattr(converter, "items") else "sms"
            path = re.sub(rf"<[^>]*:?{argument}>", value, path)
        paths.append(path)
    return paths


def links_lead_nowhere(answer) -> list[str]:
    """The error summary's links ("#field") that name no element of the page: a
    person who follows one is not taken to what they must correct."""
    if not answer.content_type.startswith("text/html"):
        return []
    text = answer.get_data(as_text=True)
    summary = re.search(r'class="error-summary".*?</div>', text, re.S)
    if summary is None:
        return []
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    return [link for link in re.findall(r'href="#([^"]+)"', summary.group(0)) if link not in ids]


def walk(client, rules, seen_statuses):
    """Every route, every method. The first of a route's paths (its ids beyond the
    integer range) gets every hostile query, form and JSON body; its other paths (CR/LF,
    NUL, long, broken UTF-8 in its string parts) get one of each: every hostile value
    reaches every route, every hostile path part every route, without the product of
    the two."""
    for rule in rules:
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        for n, path in enumerate(paths_for(rule)):
            every = n == 0
            for method in methods:
                if method == "GET":
                    # An argument that names a record is "no such page" when it can
                    # name none (a follow-up of no alert opened a new alert, saying
                    # nothing): the other names reach those pages without it
                    # (test_ids_beyond_the_integer_range_are_404_not_500).
                    names = [
                        name
                        for name in QUERY_NAMES
                        if name not in NAMING_A_RECORD.get(rule.endpoint, ())
                    ]
                    for value in HOSTILE_QUERY if every else HOSTILE_QUERY[:1]:
                        query = "&".join(f"{name}={value}" for name in names)
                        answer = client.get(f"{path}?{query}")
                        seen_statuses.append((rule.endpoint, answer.status_code))
                        assert answer.status_code < 500, (method, path, value)
                        assert links_lead_nowhere(answer) == [], (method, path, value)
                    continue
                # Already URL-encoded; %ED%A0%80 is half a surrogate pair in UTF-8.
                forms = ("%0D%0A", "%00", HUGE, "x" * 5000, "%ED%A0%80")
                for value in forms if every else forms[:1]:
                    form = "&".join(f"{name}={value}" for name in FORM_NAMES[:-1])
                    answer = client.open(
                        path,
                        method=method,
                        data=form,
                        content_type="application/x-www-form-urlencoded",
                    )
                    assert answer.status_code < 500, (method, path, "form", value)
                    assert links_lead_nowhere(answer) == [], (method, path, value)
                if not every:
                    continue
                for body in (deep_json(), huge_json()):
                    answer = client.open(path, method=method, json=body)
                    assert answer.status_code < 500, (method, path, "json")
                answer = client.open(
                    path, method=method, data=deep_json(), content_type="application/json"
                )
                assert answer.status_code < 500, (method, path, "deep json")


def app_rules(app, *, skip=("static", "auth.sign_out", "residents.sign_out")):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint not in skip]


def with_csrf(client, page="/register"):
    text = client.get(page).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', text) or re.search(
        r'name="csrf_token" value="([^"]+)"', text
    )
    client.environ_base["HTTP_X_CSRFTOKEN"] = token.group(1)
    return client


@pytest.mark.timeout(600)
def test_no_route_answers_hostile_values_with_a_server_error(app, make_officer, make_resident):
    statuses: list[tuple[str, int]] = []
    # Nobody signed in: the public pages, the API, and the sign-in redirects.
    walk(with_csrf(app.test_client()), app_rules(app), statuses)

    # A resident on their own page.
    resident = make_resident(email="sam@example.invalid")
    reference = str(resident.reference)
    db.session.commit()
    client = app.test_client()
    with client.session_transaction() as session:
        session[SESSION_KEY] = reference
    walk(with_csrf(client), app_rules(app), statuses)

    # An admin, who may use every staff page.
    admin = make_officer(role="admin")
    client = app.test_client()
    page = client.get("/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    signed = client.post(
        "/sign-in",
        data={"email": admin.email, "password": PASSWORDS["admin"], "csrf_token": token},
    )
    assert signed.status_code == 302
    walk(with_csrf(client, "/officers/"), app_rules(app), statuses)
    # The walk really reached the pages (not only sign-in redirects and 404s).
    reached = {endpoint for endpoint, status in statuses if status == 200}
    assert {"officers.target", "admin.officers", "residents.my_alerts"} <= reached


def test_ids_beyond_the_integer_range_are_404_not_500(app, make_officer):
    admin = make_officer(role="admin")
    client = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/sign-in").text).group(1)
    client.post(
        "/sign-in", data={"email": admin.email, "password": PASSWORDS["admin"], "csrf_token": token}
    )
    assert client.get(f"/officers/alerts/{HUGE}").status_code == 404
    assert client.get(f"/officers/alerts/{HUGE}/progress").status_code == 404
    # A follow-up of no alert at all: no such page, not a new alert saying nothing.
    for endpoint, names in NAMING_A_RECORD.items():
        with app.test_request_context():
            path = url_for(endpoint)
        for name in names:
            assert client.get(f"{path}?{name}={HUGE}").status_code == 404, (path, name)


def test_deep_json_is_a_clear_400_from_the_public_api(client):
    answer = client.post("/api/postcodes", data=deep_json(), content_type="application/json")
    assert answer.status_code == 400
    assert answer.is_json and answer.json["error"]


@pytest.mark.parametrize("host", ["a" * 64 + ".example", ".example", "a..b"])
def test_a_host_header_that_names_no_host_is_a_400_in_words_never_a_500(app, client, host, caplog):
    """No address of ours can be made for such a request, and every page links to
    ours: the page failed, then the 500 page, a 500 and three tracebacks a request,
    /healthz too (an outside check). Any route, any language."""
    for path in ("/healthz", "/", "/register?lang=cy", "/api/postcodes/BS16AD", "/officers/"):
        answer = client.get(path, headers={"Host": host})
        assert answer.status_code == 400, path
        assert answer.mimetype == "text/plain"
        assert answer.text.startswith(("That request was not understood.", "Nid oedd")), path
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_an_address_holding_a_control_character_is_no_page(app, client, caplog, second_force):
    """Found by an outside check: /forces/wiltshire%00/alerts reached PostgreSQL, which
    refused the NUL, and the answer was "not a value we can use" (400) rather than no
    such page. Every route's every string part, the same."""
    for path in (
        f"/forces/{second_force.slug}%00/alerts",
        f"/forces/{second_force.slug}%0A/register",
        "/alerts/ABCD-EFG%00",
        "/alerts/ABCD%7F",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
    assert "refused a value" not in caplog.text
    for rule in app_rules(app):
        if "GET" not in rule.methods or not any(
            type(c).__name__ in ("UnicodeConverter", "PathConverter")
            for c in rule._converters.values()
        ):
            continue
        path = rule.rule
        for argument in rule._converters:
            path = re.sub(rf"<[^>]*:?{argument}>", "x%00", path)
        assert client.get(path).status_code == 404, path


def test_a_body_sent_as_neither_a_form_nor_json_is_told_so(
    app, client, officer_client, make_officer
):
    """Found by an outside check: a form's page sent text/plain, or a multipart form with
    no boundary, was told "This page has expired" (its token was never read), and the
    map page's JSON calls sent a form answered with an HTML page."""
    for content_type in ("text/plain", "multipart/form-data"):
        answer = client.post("/check", data="message=x", content_type=content_type)
        assert answer.status_code == 400, content_type
        assert "That was not sent as a form" in answer.text and "expired" not in answer.text
    # The import's own check of its token, too (it takes larger bodies).
    admin = signed_in(app, make_officer(role="admin"), "admin")
    for content_type in ("text/plain", "multipart/form-data"):
        answer = admin.post("/admin/import", data="file=x", content_type=content_type)
        assert answer.status_code == 400 and "That was not sent as a form" in answer.text
    # JSON with a good token in its header too (told "This page has expired").
    token = form_token(admin, "/admin/import")
    answer = admin.post("/admin/import", json={"file": "x"}, headers={"X-CSRFToken": token})
    assert answer.status_code == 400 and "That was not sent as a form" in answer.text
    assert "expired" not in answer.text
    for path in ("/officers/preview", "/officers/alerts", "/officers/compose"):
        answer = officer_client.post(
            path, data="title=x", content_type="application/x-www-form-urlencoded"
        )
        assert answer.status_code in (400, 415) and answer.is_json, path
        assert answer.json["error"], path
    assert officer_client.get("/officers/alerts").mimetype == "text/html"  # its list page
