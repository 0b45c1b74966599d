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
