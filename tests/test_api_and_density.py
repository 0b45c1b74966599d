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
    assert body["in_force"] is True
    outside = client.get("/api/postcodes/BA12 9AA").json
    assert outside["in_force"] is False
    assert outside["places"] == {"district": "Wiltshire"}


@pytest.mark.parametrize(
    ("postcode", "status", "reason", "message"),
    [
        ("XYZ", 400, "invalid", "is not a postcode"),
        ("BS99 9ZZ", 404, "unknown", "find BS99 9ZZ"),
    ],
)
def test_postcode_lookup_errors_are_json_with_a_reason(
    client, app_ctx, postcode, status, reason, message
):
    response = client.get(f"/api/postcodes/{postcode}")
    assert response.status_code == status
    assert response.json["reason"] == reason
    assert message in response.json["error"]


@pytest.fixture
def terminated_postcode(make_postcode):
    return make_postcode(postcode="BS1 9ZZ", terminated_on="2019-06-01")


def test_a_terminated_postcode_is_gone_and_says_when(client, terminated_postcode):
    response = client.get("/api/postcodes/bs19zz")
    assert response.status_code == 410
    assert response.json["reason"] == "terminated"
    assert "stopped using it in June 2019" in response.json["error"]
    assert client.get("/api/autocomplete?q=BS1 9ZZ").json["results"] == []


def test_bulk_lookup_answers_each_query_in_order(client, app_ctx):
    response = client.post(
        "/api/postcodes", json={"postcodes": ["bs16ad", "nonsense", "BS99 9ZZ", "TA1 1AA"]}
    )
    assert response.status_code == 200
    results = response.json["results"]
    assert [r["query"] for r in results] == ["bs16ad", "nonsense", "BS99 9ZZ", "TA1 1AA"]
    assert [r["result"]["postcode"] if r["result"] else None for r in results] == [
        "BS1 6AD",
        None,
        None,
        "TA1 1AA",
    ]
    too_many = client.post("/api/postcodes", json={"postcodes": ["BS1 6AD"] * 101})
    assert too_many.status_code == 400
    assert too_many.json["reason"] == "too_many"
    assert client.post("/api/postcodes", json={"postcodes": "BS1 6AD"}).status_code == 400


def test_nearest_postcodes_are_in_distance_order_within_the_radius(client, app_ctx):
    response = client.get("/api/postcodes?longitude=-2.58823&latitude=51.45197&radius_m=150")
    results = response.json["results"]
    assert results[0]["postcode"] == "BS1 6AD"
    distances = [r["distance_m"] for r in results]
    assert distances == sorted(distances)
    assert all(d <= 150 for d in distances)
    assert client.get("/api/postcodes?longitude=2.35&latitude=48.85").status_code == 400
    assert client.get("/api/postcodes?longitude=x&latitude=1").status_code == 400
    assert (
        client.get("/api/postcodes?longitude=-2.5&latitude=51.4&radius_m=99999").status_code == 400
    )


def test_autocomplete_offers_postcodes_that_start_with_what_was_typed(client, app_ctx):
    results = client.get("/api/autocomplete?q=bs1 6a").json["results"]
    assert "BS1 6AD" in results
    assert all(r.startswith("BS1 6A") for r in results)
    assert len(results) <= 10
    assert client.get("/api/autocomplete?q=b").json["results"] == []


def test_outward_code_and_sector_centres(client, app_ctx):
    bs1 = client.get("/api/outcodes/bs1").json
    assert bs1["outcode"] == "BS1"
    assert bs1["longitude"] == pytest.approx(-2.59, abs=0.02)
    # BS1 only: BS10-BS16 are other districts and must not be counted in it.
    count_bs1 = db.session.scalar(
        text("SELECT count(*) FROM postcodes WHERE postcode ~ '^BS1[0-9][A-Z]{2}$'")
    )
    assert bs1["postcodes"] == count_bs1
    sector = client.get("/api/sectors/BS1 6").json
    assert sector["sector"] == "BS1 6"
    assert 0 < sector["postcodes"] < bs1["postcodes"]
    assert client.get("/api/outcodes/ZZ9").status_code == 404
    assert client.get("/api/outcodes/hello").status_code == 400
    assert client.get("/api/sectors/BS1").status_code == 400


def test_places_containing_a_postcode_and_postcodes_in_a_place(client, app_ctx):
    places = client.get("/api/places/containing?postcode=BS1 6AD").json["results"]
    assert [(p["kind"], p["name"]) for p in places] == [
        ("force", "Avon and Somerset"),
        ("district", "Bristol, City of"),
        ("ward", "Central"),
    ]
    ward = next(p for p in places if p["kind"] == "ward")
    inside = client.get(f"/api/places/{ward['id']}/postcodes").json
    assert inside["count"] > 100
    assert "BS1 6AD" in inside["postcodes"]
    by_point = client.get("/api/places/containing?longitude=-2.58823&latitude=51.45197").json
    assert [p["name"] for p in by_point["results"]] == [p["name"] for p in places]
    assert client.get("/api/places/containing").status_code == 400


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


def test_density_has_one_cell_size_so_hidden_cells_cannot_be_derived(client, sign_in):
    sign_in("analyst")
    default = client.get("/analysts/density.geojson").json
    asked_for_smaller = client.get("/analysts/density.geojson?cell_m=250").json
    assert default["cell_m"] == asked_for_smaller["cell_m"] == 1000


def test_map_pages_show_the_data_attribution(client, sign_in):
    sign_in("supervisor")
    for path in ("/officers/", "/analysts/density"):
        page = client.get(path).text
        assert "Contains OS data © Crown copyright and database right 2025" in page
        assert "Contains Royal Mail data © Royal Mail copyright and database right 2025" in page
        assert "Open Government Licence v.3.0" in page


def test_residents_on_ended_or_moved_postcodes_are_listed_and_still_reached(
    client, sign_in, make_resident
):
    make_resident(postcode="BS1 6AD", sms="+447700900301")
    make_resident(postcode="BS8 1TH", sms="+447700900302")
    make_resident(postcode="TA1 1AA", sms="+447700900303")
    sign_in("analyst")
    assert "Nothing to review" in client.get("/analysts/postcode-review").text
    original = db.session.execute(
        text(
            "SELECT postcode, terminated_on, location FROM postcodes "
            "WHERE postcode IN ('BS16AD', 'BS81TH')"
        )
    ).all()
    try:
        db.session.execute(
            text("UPDATE postcodes SET terminated_on = '2025-03-01' WHERE postcode = 'BS16AD'")
        )
        db.session.execute(
            text(
                "UPDATE postcodes SET location = ST_Translate(location, 300, 0) "
                "WHERE postcode = 'BS81TH'"
            )
        )
        db.session.commit()
        page = client.get("/analysts/postcode-review").text
        assert "BS1 6AD" in page and "Terminated in March 2025" in page
        assert "BS8 1TH" in page and "Centre moved 300 m since they registered" in page
        assert "TA1 1AA" not in page

        from app.dao.targeting import Audience, count_targets
        from geo.areas import area_from_shapes

        around = area_from_shapes(
            [{"kind": "circle", "center": [-2.5882, 51.4520], "radius_m": 2000}]
        )
        assert count_targets(db.session, Audience(area_wkb=around.wkb))["residents"] == 2
    finally:
        for key, terminated_on, location in original:
            db.session.execute(
                text("UPDATE postcodes SET terminated_on = :t, location = :l WHERE postcode = :k"),
                {"t": terminated_on, "l": location, "k": key},
            )
        db.session.commit()
