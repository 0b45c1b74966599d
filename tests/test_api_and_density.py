import pytest
from sqlalchemy import text

from app.extensions import db
from app.services.density import resident_density


def test_postcode_lookup_gives_the_point_and_places(client, app_ctx):
    response = client.get("/api/postcodes/ba46qn")
    assert response.status_code == 200
    body = response.json
    assert body["postcode"] == "BA4 6QN"
    assert body["longitude"] == pytest.approx(-2.5264, abs=1e-3)
    assert body["latitude"] == pytest.approx(51.1562, abs=1e-3)
    assert body["places"] == {"ward": "Mendip Central and East", "district": "Somerset"}


@pytest.mark.parametrize(
    ("postcode", "message"),
    [
        ("XYZ", "is not a postcode"),
        ("BS99 9ZZ", "find BS99 9ZZ"),
        ("BA12 9AA", "in Wiltshire, outside"),
    ],
)
def test_postcode_lookup_errors_are_json_with_a_reason(client, app_ctx, postcode, message):
    response = client.get(f"/api/postcodes/{postcode}")
    assert response.status_code == 404
    assert message in response.json["error"]


def test_boundaries_are_served_as_geojson(client, app_ctx):
    wards = client.get("/api/places/ward.geojson").json
    assert len(wards["features"]) == 185
    force = client.get("/api/places/force.geojson").json
    assert force["features"][0]["properties"]["name"] == "Avon and Somerset"
    assert client.get("/api/places/county.geojson").status_code == 404


def test_density_counts_residents_per_cell_and_hides_small_cells(make_resident, app_ctx):
    for n in range(5):
        make_resident(postcode="BS1 6AD", sms=f"+44770090010{n}")
    make_resident(postcode="TA1 1AA")  # alone in its cell: must not be shown

    density = resident_density(1000, min_count=5)

    assert density["suppressed_cells"] == 1
    assert [f["properties"]["residents"] for f in density["features"]] == [5]
    ring = density["features"][0]["geometry"]["coordinates"][0]
    inside = db.session.scalar(
        text(
            "SELECT ST_Contains(ST_GeomFromGeoJSON(:g), location_wgs84) "
            "FROM postcodes WHERE postcode = 'BS16AD'"
        ),
        {"g": f'{{"type":"Polygon","coordinates":[{ring}]}}'.replace("(", "[").replace(")", "]")},
    )
    assert inside is True


def test_density_endpoint_refuses_odd_cell_sizes(client, sign_in):
    sign_in("analyst")
    assert client.get("/analysts/density.geojson?cell_m=1000").status_code == 200
    response = client.get("/analysts/density.geojson?cell_m=7")
    assert response.status_code == 400
    assert "must be one of" in response.json["error"]


def test_map_pages_show_the_data_attribution(client, sign_in):
    sign_in("supervisor")
    for path in ("/officers/", "/analysts/density"):
        page = client.get(path).text
        assert "Contains OS data © Crown copyright and database right 2025" in page
        assert "Contains Royal Mail data © Royal Mail copyright and database right 2025" in page
        assert "Open Government Licence v.3.0" in page
