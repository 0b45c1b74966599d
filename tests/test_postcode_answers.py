"""Every place a postcode is checked gives the same true answer: registration's live
check and submit, the resident's own page, the import and the JSON API (which the
officer's postcode search uses).

- Northern Ireland, Channel Islands and Isle of Man postcodes are real but not in Great
  Britain: say so, and name the police service there (not "we can't find it").
- A postcode with no location can't be placed on the map (not "outside the force").
- A control character (NUL, a line break) in a postcode is refused, not dropped.
- The API answers in its JSON error shape whatever the URL holds.
"""

from __future__ import annotations

import html
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Postcode, Resident, ResidentLocation
from app.services.postcode_check import PostcodeRefused, check_postcode
from app.services.resident_import import import_residents, reason_in_english
from tests.factories import csrf_token, postcode_place
from tests.test_residents import resident_client  # noqa: F401 (a fixture)

# One postcode from each place outside Great Britain, and who polices it.
NOT_GREAT_BRITAIN = [
    ("BT1 1AA", "Northern Ireland", "Police Service of Northern Ireland"),
    ("GY1 1AA", "Bailiwick of Guernsey", "Guernsey Police (Bailiwick of Guernsey Law Enforcement)"),
    ("JE2 4WD", "Jersey", "States of Jersey Police"),
    ("IM1 1AA", "Isle of Man", "Isle of Man Constabulary"),
]
GREAT_BRITAIN_ONLY = "only covers postcodes in Great Britain"
NUL = "The postcode has a null character (NUL) in it"
REGISTRATION = {
    "channels": ["email"],
    "email": "sam@example.invalid",
    "consent": "yes",
}


def register(client, postcode: str):
    data = REGISTRATION | {"postcode": postcode, "csrf_token": csrf_token(client)}
    return client.post("/register", data=data)


def residents() -> int:
    return db.session.scalar(select(func.count()).select_from(Resident))


def import_reasons(postcode: str) -> str:
    """What a dry-run import says about the postcode of a row with it."""
    report = import_residents(
        f"postcode,email\n{postcode},sam@example.invalid\n", filename="t.csv", dry_run=True
    )
    assert report.accepted == 0
    (row,) = report.rejected
    reasons = map(reason_in_english, row["reasons"])
    return " ".join(r for r in reasons if r.startswith("postcode"))


@pytest.fixture
def jersey_in_onspd(make_postcode):
    """JE2 4WD as the ONSPD load stores it: no point, no district (ONS pseudo-codes)."""
    return make_postcode(postcode="JE2 4WD", easting=None, northing=None, district=None)


@pytest.fixture
def no_coordinates(make_postcode):
    """A real Code-Point Open row with positional quality 90, as the loader stores it:
    no point (not (0, 0)) and, as in the data, no district or ward."""
    return make_postcode(postcode="EN77 1BA", easting=None, northing=None, district=None)


# --- outside Great Britain ----------------------------------------------------------


@pytest.mark.parametrize(("postcode", "where", "police"), NOT_GREAT_BRITAIN)
def test_a_postcode_outside_great_britain_is_told_who_polices_it_everywhere(
    client, app_ctx, jersey_in_onspd, postcode, where, police
):
    typed = postcode.lower().replace(" ", "")
    with pytest.raises(PostcodeRefused) as refused:
        check_postcode(typed)
    assert refused.value.reason == "outside_great_britain"
    message = str(refused.value)
    assert message.startswith(f"{postcode} is in ")
    assert where in message and GREAT_BRITAIN_ONLY in message and police in message
    assert "can't find" not in message and "outside the area" not in message

    live = postcode_place(client, typed)
    assert live.status_code == 400 and live.json["error"] == message

    submitted = register(client, typed)
    assert submitted.status_code == 400
    assert message in html.unescape(submitted.text)
    assert residents() == 0

    # The import is run by staff: its reason is written for them, not for the resident.
    assert import_reasons(typed) == f"postcode outside Great Britain: {where} ({police})"

    api = client.get(f"/api/postcodes/{typed}")
    assert api.status_code == 404
    assert api.json == {"error": message, "reason": "outside_great_britain"}
    containing = client.get("/api/places/containing", query_string={"postcode": typed})
    assert containing.status_code == 404
    assert containing.json["reason"] == "outside_great_britain"
    (bulk,) = client.post("/api/postcodes", json={"postcodes": [typed]}).json["results"]
    assert bulk == {
        "query": typed,
        "result": None,
        "error": message,
        "reason": "outside_great_britain",
    }


def test_a_resident_adding_a_place_outside_great_britain_is_told_who_polices_it(
    resident_client,  # noqa: F811 (the fixture imported above)
):
    answer = resident_client.post("/my-alerts/places", data={"postcode": "BT1 1AA"})
    assert answer.status_code == 400
    page = html.unescape(answer.text)
    assert "BT1 1AA is in Northern Ireland" in page
    assert "Police Service of Northern Ireland" in page
    assert db.session.scalar(select(func.count()).select_from(ResidentLocation)) == 1
    # In Welsh, the place and its police in Welsh too (it read "yn Northern Ireland").
    welsh = resident_client.post("/my-alerts/places?lang=cy", data={"postcode": "BT1 1AA"})
    said = html.unescape(welsh.text)
    # "In" it mutates the name: yng Ngogledd Iwerddon (it read "yn Gogledd Iwerddon").
    assert "Mae BT1 1AA yng Ngogledd Iwerddon." in said
    assert "Am rybuddion yng Ngogledd Iwerddon, cysylltwch â Gwasanaeth Heddlu" in said
    assert "Northern Ireland" not in said


def test_districts_and_sectors_outside_great_britain_say_so(client, app_ctx, jersey_in_onspd):
    outcode = client.get("/api/outcodes/bt1")
    assert outcode.status_code == 404 and outcode.json["reason"] == "outside_great_britain"
    assert "BT1 is in Northern Ireland" in outcode.json["error"]
    sector = client.get("/api/sectors/JE2 4")
    assert sector.status_code == 404 and sector.json["reason"] == "outside_great_britain"
    assert "States of Jersey Police" in sector.json["error"]
    # Type-ahead offers only what a lookup would accept.
    assert client.get("/api/autocomplete?q=JE2").json["results"] == []


# --- no location ----------------------------------------------------------------------


def test_a_postcode_with_no_location_cannot_be_placed_not_outside_the_force(
    client, app_ctx, no_coordinates
):
    with pytest.raises(PostcodeRefused) as refused:
        check_postcode("EN77 1BA")
    assert refused.value.reason == "no_location"
    message = str(refused.value)
    assert "EN77 1BA has no location" in message and "place it on the map" in message

    live = postcode_place(client, "en77 1ba")
    assert live.status_code == 400 and live.json["error"] == message
    submitted = register(client, "EN77 1BA")
    assert submitted.status_code == 400
    assert message in html.unescape(submitted.text)
    assert "outside the area" not in html.unescape(submitted.text)
    assert import_reasons("EN77 1BA") == "postcode has no location in the postcode data"

    # The API still describes the postcode; where it is, and so whether it is ours,
    # is unknown (null), not "no".
    api = client.get("/api/postcodes/EN771BA")
    assert api.status_code == 200
    assert api.json["latitude"] is None and api.json["in_force"] is None
    containing = client.get("/api/places/containing?postcode=EN771BA")
    assert containing.status_code == 422
    assert containing.json == {"error": message, "reason": "no_location"}


def test_a_postcode_with_no_point_but_an_outside_district_is_still_outside(
    client, app_ctx, make_postcode
):
    make_postcode(postcode="BA12 0ZZ", easting=None, northing=None, district="E06000054")
    with pytest.raises(PostcodeRefused) as refused:
        check_postcode("BA12 0ZZ")
    assert refused.value.reason == "outside_force"
    assert client.get("/api/postcodes/BA120ZZ").json["in_force"] is False


# --- control characters -------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "named"),
    [
        ("BS1\x006AD", "a null character (NUL) in it (at character 4)"),
        ("BS1 6AD\x00", "a null character (NUL) in it (at character 8)"),
        ("BS1\n6AD", "a line break in it"),
        ("BS1 6AD\r\n", "a line break (carriage return) in it"),
        ("BS1\x1b6AD", "an escape character in it"),
    ],
)
def test_a_control_character_in_a_postcode_is_refused_not_dropped(client, app_ctx, typed, named):
    with pytest.raises(PostcodeRefused) as refused:
        check_postcode(typed)
    assert refused.value.reason == "invalid"
    message = str(refused.value)
    assert message.startswith(f"The postcode has {named}")
    live = postcode_place(client, typed)
    assert live.status_code == 400 and live.json["error"] == message
    api = client.get("/api/postcodes/" + quote(typed))
    assert api.status_code == 400
    assert api.json == {"error": message, "reason": "invalid"}


def test_nothing_but_spaces_and_line_breaks_is_no_postcode(client, app_ctx):
    for typed in ("", " ", "\r\n", "\u200b"):
        with pytest.raises(PostcodeRefused, match="Enter a postcode"):
            check_postcode(typed)


def test_a_resident_adding_a_place_with_a_nul_is_refused(
    resident_client,  # noqa: F811 (the fixture imported above)
):
    answer = resident_client.post("/my-alerts/places", data={"postcode": "TA1\x001AA"})
    assert answer.status_code == 400 and NUL in html.unescape(answer.text)
    assert db.session.scalar(select(func.count()).select_from(ResidentLocation)) == 1


def test_registering_with_a_nul_in_the_postcode_is_refused(client, app_ctx):
    answer = register(client, "BS1\x006AD")
    assert answer.status_code == 400 and NUL in html.unescape(answer.text)
    assert residents() == 0


def test_importing_a_nul_in_a_postcode_is_refused(app_ctx):
    assert "a null character (NUL) in it" in import_reasons("BS1\x006AD")


# --- the API's error shape, whatever the URL holds ----------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/postcodes/", 400),
        ("/api/postcodes/%0A", 400),
        ("/api/postcodes/%20", 400),
        ("/api/postcodes/BS1%0A6AD", 400),
        ("/api/postcodes/BS1%006AD", 400),
        ("/api/postcodes/BS16AD%0A", 400),
        ("/api/outcodes/", 400),
        ("/api/outcodes/%0A", 400),
        ("/api/outcodes/B%0AS1", 400),
        ("/api/sectors/", 400),
        ("/api/sectors/BS1%0A6", 400),
        ("/api/places/containing?postcode=%0A", 400),
        ("/api/places/containing?postcode=BS1%0A6AD", 400),
        # No route at all: app/web.py's error handler answers /api/ paths in JSON.
        ("/api/nothing-here", 404),
        ("/api/no%0Awhere", 404),
        ("/api/places/nowhere.geojson", 404),
    ],
)
def test_the_api_answers_in_json_whatever_the_url_holds(client, app_ctx, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert response.is_json
    assert set(response.json) == {"error", "reason"}
    assert response.json["error"] and response.json["reason"]


def test_a_bulk_lookup_with_no_postcode_in_it_answers_each_query(client, app_ctx):
    response = client.post("/api/postcodes", json={"postcodes": ["nonsense", "BS99 9ZZ"]})
    assert response.status_code == 200
    nonsense, unknown = response.json["results"]
    assert nonsense["result"] is None and nonsense["reason"] == "invalid"
    assert unknown["result"] is None and unknown["reason"] == "unknown"
    assert client.post("/api/postcodes", json={"postcodes": []}).json == {"results": []}


# --- a part of the country the data does not hold ------------------------------------


def test_a_real_postcode_in_an_area_not_held_is_told_so_not_to_check_the_typing(client, app_ctx):
    """Found by an outside probe: SW1A 1AA (real, but only the forces' own areas are
    loaded) was told to check its typing."""
    held = db.session.scalar(select(func.left(Postcode.postcode, 2)).limit(1))
    assert held, "the tests' postcode data holds some postcodes"
    with pytest.raises(PostcodeRefused) as far:
        check_postcode("sw1a 1aa")
    message = str(far.value)
    assert far.value.reason == "unknown"
    assert "only holds postcodes in and around the areas of the police forces" in message
    assert "typed correctly" not in message
    submitted = register(client, "SW1A 1AA")
    assert submitted.status_code == 400 and message in html.unescape(submitted.text)
    assert client.get("/api/postcodes/SW1A1AA").json == {"error": message, "reason": "unknown"}
    assert residents() == 0
    # "S" is an area of its own (Sheffield): SW's absence says nothing of it, and the
    # reverse; an area whose postcodes are held keeps "check it is typed correctly".
    with pytest.raises(PostcodeRefused, match="only holds postcodes"):
        check_postcode("S1 2HE")
    with pytest.raises(PostcodeRefused, match="typed correctly"):
        check_postcode("BS99 9ZZ")
