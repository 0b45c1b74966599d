"""Drawn shapes through the officer's preview: numbers must be numbers, an altitude is
dropped, and an outline left open is closed and said so."""

import re

import pytest

# A square around BS1 6AD (Central, Bristol), as the map sends it: GeoJSON, closed.
SQUARE = [[-2.60, 51.44], [-2.58, 51.44], [-2.58, 51.46], [-2.60, 51.46], [-2.60, 51.44]]


def preview(client, ring):
    return client.post(
        "/officers/preview", json={"shapes": [{"kind": "polygon", "coordinates": [ring]}]}
    )


@pytest.fixture
def officer_client(app, monkeypatch, client, sign_in, make_resident):
    # Exact counts: these tests compare who a shape reaches with one resident inside
    # (tests/test_small_counts.py checks officers never see such counts).
    monkeypatch.setitem(app.config, "DENSITY_MIN_COUNT", 0)
    make_resident(postcode="BS1 6AD", sms="+447700900001")
    make_resident(postcode="TA1 1AA", sms="+447700900003")  # Taunton: outside the square
    sign_in("officer")
    page = client.get("/officers/")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    client.environ_base["HTTP_X_CSRFTOKEN"] = token
    return client


def test_a_coordinate_given_as_text_is_refused_with_the_value(officer_client):
    ring = [[-2.60, "51.44"], *SQUARE[1:]]
    response = preview(officer_client, ring)
    assert response.status_code == 400
    assert 'Shape 1: coordinates must be numbers, not text ("51.44")' in response.json["error"]


def test_an_altitude_is_dropped_and_reaches_the_same_residents(officer_client):
    flat = preview(officer_client, SQUARE)
    with_altitude = preview(officer_client, [[lon, lat, 35.0] for lon, lat in SQUARE])
    assert flat.status_code == with_altitude.status_code == 200
    assert flat.json["residents"] == 1
    assert with_altitude.json["residents"] == flat.json["residents"]
    assert with_altitude.json["notes"] == []


def test_an_open_outline_is_closed_and_the_preview_says_so(officer_client):
    response = preview(officer_client, SQUARE[:-1])
    assert response.status_code == 200
    assert response.json["residents"] == 1
    assert response.json["notes"] == [
        "Shape 1: the outline was not closed, so we joined its last point to its first."
    ]
    assert preview(officer_client, SQUARE).json["notes"] == []


def test_what_the_map_is_told_of_its_shapes_is_in_the_pages_language(officer_client):
    """Found by an outside probe: the geo library's words were English on Welsh staff
    pages. It marks them; the app says them in the page's language."""
    officer_client.get("/officers/?lang=cy")  # the switch is remembered
    try:
        welsh = preview(officer_client, SQUARE[:-1]).json["notes"]
        assert welsh == [
            "Siâp 1: nid oedd yr amlinell ar gau, felly gwnaethom uno ei phwynt olaf â'i "
            "phwynt cyntaf."
        ]
        refused = preview(officer_client, [[-2.60, "51.44"], *SQUARE[1:]]).json["error"]
        assert refused == 'Siâp 1: rhaid i gyfesurynnau fod yn rhifau, nid testun ("51.44").'
    finally:
        officer_client.get("/officers/?lang=en")


@pytest.mark.parametrize(
    "coordinates",
    [None, "x", [], SQUARE, [[SQUARE]], [[None] * 4], [[[1e999, 51.4]] * 4], [[[True, 51.4]] * 4]],
)
def test_malformed_outlines_get_a_400_not_a_500(officer_client, coordinates):
    response = officer_client.post(
        "/officers/preview", json={"shapes": [{"kind": "polygon", "coordinates": coordinates}]}
    )
    assert response.status_code == 400
    assert response.json["error"].startswith("Shape 1")


def test_shapes_too_intricate_to_count_quickly_are_refused_by_the_preview_and_the_send(
    officer_client,
):
    """Two combs across each other over Bristol: as drawn, the preview took minutes."""
    from tests.geo.test_areas import comb

    lattice = [comb(-2.62, 51.44, 30, 3e-4, 0.03), comb(-2.63, 51.445, 30, 2e-4, 0.02, True)]
    for path, extra in (("/officers/preview", {}), ("/officers/alerts", {"title": "T"})):
        response = officer_client.post(path, json={"shapes": lattice, "body": "B"} | extra)
        assert response.status_code == 400, path
        assert "cross each other too many times" in response.json["errors"]["area"]


# Found by an outside probe: each of these was taken, or answered in GEOS's words.
HOLE_OUTSIDE = [[-2.70, 51.30], [-2.69, 51.30], [-2.69, 51.31], [-2.70, 51.30]]
IN_A_LINE = [[-2.60, 51.45], [-2.59, 51.45], [-2.58, 51.45], [-2.60, 51.45]]
# 14 km along one latitude, a few metres wide: taken with no word (an outside check).
SLIVER = [[-2.60, 51.40], [-2.40, 51.40], [-2.50, 51.40004], [-2.60, 51.40]]


@pytest.mark.parametrize(
    ("shapes", "said"),
    [
        (
            [{"kind": "polygon", "coordinates": [SQUARE, HOLE_OUTSIDE]}],
            "Shape 1 has a hole cut outside its outline. Redraw it.",
        ),
        (
            [{"kind": "polygon", "coordinates": [IN_A_LINE]}],
            "Shape 1 has almost no area: its corners are nearly in a line. Redraw it.",
        ),
        (
            [{"kind": "polygon", "coordinates": [SLIVER]}],
            "Shape 1 has almost no area: its corners are nearly in a line. Redraw it.",
        ),
        (
            [
                {"kind": "polygon", "coordinates": [SQUARE]},
                {"kind": "circle", "center": [-2.59, 51.45], "radius_m": 100, "exclude": "true"},
            ],
            "Shape 2: exclude must be true or false.",
        ),
        # 1 == True in Python: 1 was taken as "include", and the part cut out was sent
        # to (an outside check).
        *(
            (
                [
                    {"kind": "polygon", "coordinates": [SQUARE]},
                    {"kind": "circle", "center": [-2.59, 51.45], "radius_m": 100, "exclude": n},
                ],
                "Shape 2: exclude must be true or false.",
            )
            for n in (1, 0, 1.0)
        ),
    ],
)
def test_outlines_nobody_could_mean_are_refused_in_words_an_officer_can_act_on(
    officer_client, shapes, said
):
    for url in ("/officers/preview", "/officers/alerts"):
        answer = officer_client.post(url, json={"shapes": shapes, "title": "T", "body": "B"})
        assert answer.status_code == 400
        assert said in str(answer.json), url
        assert "shell" not in str(answer.json)


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("audience", "everyone", "audience must be area"),
        ("confirm_receipt", "true", "confirm_receipt must be true or false"),
    ],
)
def test_an_alerts_options_of_the_wrong_kind_are_refused_not_guessed(
    officer_client, field, value, said
):
    body = {"shapes": [{"kind": "polygon", "coordinates": [SQUARE]}], "title": "T", "body": "B"}
    answer = officer_client.post("/officers/alerts", json=body | {field: value})
    assert answer.status_code == 400 and said in answer.json["errors"][field]


def test_a_space_of_no_width_is_taken_out_of_a_title_not_kept_for_a_look_alike(
    officer_client,
):
    from app.extensions import db
    from app.models import Alert

    body = {"shapes": [{"kind": "polygon", "coordinates": [SQUARE]}], "body": "Sheds\u2060 hit."}
    answer = officer_client.post("/officers/alerts", json=body | {"title": "Bur\u200bglary\ufeff"})
    assert answer.status_code == 201, answer.json
    alert = db.session.get(Alert, answer.json["alert_id"])
    assert (alert.title, alert.body) == ("Burglary", "Sheds hit.")


def test_the_map_pages_addresses_that_take_an_id_answer_json_for_one_that_is_none(
    officer_client,
):
    for path in ("/officers/places/-1", "/officers/places/x", "/officers/alerts/-1/progress"):
        answer = officer_client.get(path)
        assert answer.status_code == 404 and answer.is_json, path
        assert answer.json["error"]


def test_a_preview_too_slow_to_count_asks_for_a_simpler_outline(officer_client, app, monkeypatch):
    """A star of 2,000 points took 6 s of the database at each preview, and 16 at once
    held the public pages up for 23 s (an outside check). A preview is stopped after
    PREVIEW_TIMEOUT_SECONDS, and the officer asked in words for a simpler outline."""
    import math

    points = 1998
    star = [
        [
            -2.59 + (0.02 if k % 2 else 0.004) * math.cos(2 * math.pi * k / points),
            51.45 + (0.0125 if k % 2 else 0.0025) * math.sin(2 * math.pi * k / points),
        ]
        for k in range(points)
    ]
    star.append(star[0])
    shapes = [{"kind": "polygon", "coordinates": [star]}]
    monkeypatch.setitem(app.config, "PREVIEW_TIMEOUT_SECONDS", 0.001)
    answer = officer_client.post("/officers/preview", json={"shapes": shapes})
    assert answer.status_code == 400
    assert "This area took too long to count: its outline has many corners" in str(answer.json)
    monkeypatch.setitem(app.config, "PREVIEW_TIMEOUT_SECONDS", 30)
    assert officer_client.post("/officers/preview", json={"shapes": shapes}).status_code == 200


def test_a_chosen_place_is_named_as_the_search_named_it(officer_client):
    # The search offered "District: City of Bristol"; chosen, it was listed as
    # "Bristol, City of", ONS's order (an outside check).
    from sqlalchemy import text as sql_text

    from app.extensions import db

    place_id = db.session.execute(
        sql_text("SELECT id FROM places WHERE kind = 'district' AND name = 'Bristol, City of'")
    ).scalar_one()
    offered = officer_client.get("/officers/places?q=City of Bristol").json["places"]
    assert [p["name"] for p in offered if p["id"] == place_id] == ["City of Bristol"]
    assert officer_client.get(f"/officers/places/{place_id}").json["name"] == "City of Bristol"
