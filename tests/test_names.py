"""Street and place names for the map's search box: `flask geo load-names` reads a
GeoJSON file (WGS84 or British National Grid) into one point a name, and
GET /api/names finds them by what has been typed so far."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shapely.geometry import Point, shape
from sqlalchemy import func, select, text

from app.dao import names as names_dao
from app.extensions import db
from app.models import NamedPlace
from geo.names import NamedPlace as Named
from geo.names import NamesSummary, load_named_places, read_named_places, read_named_places_file
from geo.projection import BNG, bng_to_wgs84, wgs84_to_bng

SAMPLE = Path(__file__).parent / "data" / "open_names_sample.geojson"
BNG_CRS = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}}


def feature(geometry: dict | None, **properties) -> dict:
    return {"type": "Feature", "properties": properties, "geometry": geometry}


def point(x: float, y: float) -> dict:
    return {"type": "Point", "coordinates": [x, y]}


def write_collection(path: Path, features: list[dict], *, bng: bool = False) -> Path:
    collection = {"type": "FeatureCollection", "features": features}
    if bng:
        collection["crs"] = BNG_CRS
    path.write_text(json.dumps(collection))
    return path


def read(features: list[dict], **options) -> tuple[list, NamesSummary]:
    summary = NamesSummary()
    options.setdefault("srid", BNG)
    return read_named_places(features, summary=summary, **options), summary


def load(places, *, source: str = "names.geojson", release: str = "2025-10") -> NamesSummary:
    summary = NamesSummary()
    connection = db.session.connection().connection.driver_connection
    load_named_places(connection, places, source=source, release=release, summary=summary)
    db.session.commit()
    return summary


def load_names(*names: tuple[str, str | None], source: str = "names.geojson") -> None:
    """Named points (name, area) a few metres apart in Bristol."""
    places, _ = read(
        [
            feature(point(358500 + 10 * i, 173000), name=name, area=area)
            for i, (name, area) in enumerate(names)
        ]
    )
    load(places, source=source)


# --- reading a file ------------------------------------------------------------------


def test_a_file_in_wgs84_and_one_in_the_national_grid_give_the_same_place(tmp_path):
    longitudes, latitudes = bng_to_wgs84([360919.0], [174488.0])
    wgs84 = write_collection(
        tmp_path / "wgs84.geojson",
        [feature(point(float(longitudes[0]), float(latitudes[0])), name="Stapleton Road")],
    )
    bng = write_collection(
        tmp_path / "bng.geojson", [feature(point(360919, 174488), NAME1="Stapleton Road")], bng=True
    )
    for path in (wgs84, bng):
        summary = NamesSummary()
        [place] = read_named_places_file(path, summary=summary)
        assert (place.name, place.kind, place.area) == ("Stapleton Road", "place", None)
        assert (place.easting, place.northing) == pytest.approx((360919, 174488), abs=0.01)
        assert (place.longitude, place.latitude) == pytest.approx((-2.564, 51.468), abs=1e-3)
        assert (summary.read, summary.rejected_total) == (1, 0)


def test_a_street_drawn_as_a_line_is_kept_as_its_middle_and_an_area_as_a_point_inside():
    bent = {
        "type": "LineString",
        "coordinates": [[358000, 173000], [358100, 173000], [358100, 173300]],
    }
    pieces = {
        "type": "MultiLineString",
        "coordinates": [[[358000, 173000], [358100, 173000]], [[358200, 173000], [358200, 173300]]],
    }
    # An L-shaped park: its centre lies outside it, so a centroid would not do.
    park = {
        "type": "Polygon",
        "coordinates": [
            [[358000, 173000], [358300, 173000], [358300, 173100], [358100, 173100],
             [358100, 173300], [358000, 173300], [358000, 173000]]
        ],
    }  # fmt: skip
    places, summary = read(
        [
            feature(bent, name="Bent Street"),
            feature(pieces, name="Broken Street"),
            feature(park, name="L Park"),
        ]
    )
    assert summary.rejected_total == 0
    by_name = {p.name: (p.easting, p.northing) for p in places}
    assert by_name["Bent Street"] == pytest.approx((358100, 173100))  # 200 m along 400 m
    assert by_name["Broken Street"] == pytest.approx((358200, 173100))  # 200 m along 400 m
    assert shape(park).contains(Point(by_name["L Park"]))


def test_features_with_no_name_or_no_usable_geometry_are_rejected_and_counted_by_reason():
    here = point(358500, 173000)
    places, summary = read(
        [
            feature(here, name="Kept Road"),
            feature(here),
            feature(here, name="   "),
            feature(here, name=["a list"]),
            feature(None, name="No Geometry Road"),
            feature({"type": "Nonsense", "coordinates": [1]}, name="Bad Geometry Road"),
            feature({"type": "LineString", "coordinates": []}, name="Empty Road"),
            feature(here, name="Null\x00Road"),
            feature(here, name="x" * 201),
            feature(point(-2.5, 51.4), name="Degrees In A Grid File"),
            "not a feature",
        ]
    )
    assert [p.name for p in places] == ["Kept Road"]
    assert summary.read == 11
    assert dict(summary.rejected) == {
        "no name (or NAME1)": 4,
        "no geometry": 1,
        "an unreadable geometry": 1,
        "an empty geometry": 1,
        "a control character in the name": 1,
        "a name over 200 characters": 1,
        "outside Great Britain (a file in EPSG:27700 must say so)": 1,
    }
    assert summary.lines()[0] == "read 11, loaded 0, rejected 10"


def test_a_grid_file_that_does_not_say_so_is_rejected_as_outside_great_britain(tmp_path):
    path = write_collection(tmp_path / "unsaid.geojson", [feature(point(358500, 173000), name="A")])
    summary = NamesSummary()
    assert read_named_places_file(path, summary=summary) == []
    assert list(summary.rejected) == ["outside Great Britain (a file in EPSG:27700 must say so)"]


def test_name_kind_and_area_come_from_the_properties_asked_for_or_the_os_defaults():
    here = point(358500, 173000)
    os_style = [
        feature(here, NAME1="Stapleton Road", LOCAL_TYPE="Named Road", POPULATED_PLACE="Easton"),
        feature(here, name1="Easton", local_type="Suburban Area", district_borough="Bristol"),
        feature(here, name="Own Name", NAME1="Not This", area="Own Area", POPULATED_PLACE="No"),
    ]
    places, _ = read(os_style, kind_property="LOCAL_TYPE", kind="place")
    assert [(p.name, p.kind, p.area) for p in places] == [
        ("Stapleton Road", "Named Road", "Easton"),
        ("Easton", "Suburban Area", "Bristol"),
        ("Own Name", "place", "Own Area"),
    ]
    chosen = [feature(here, road_name="Old Market  Street", town="Bristol", name="Ignored")]
    places, _ = read(chosen, name_property="road_name", kind="street", area_properties=["town"])
    assert [(p.name, p.kind, p.area) for p in places] == [
        ("Old Market Street", "street", "Bristol")
    ]
    _, summary = read([feature(here, name="Only name")], name_property="road_name")
    assert dict(summary.rejected) == {"no road_name": 1}


def test_a_file_that_is_not_a_feature_collection_is_refused(tmp_path):
    path = tmp_path / "point.geojson"
    path.write_text('{"type": "Point", "coordinates": [0, 0]}')
    with pytest.raises(ValueError, match="not a GeoJSON FeatureCollection"):
        read_named_places_file(path, summary=NamesSummary())


# --- loading -------------------------------------------------------------------------


def test_loading_the_same_file_again_replaces_its_rows_and_leaves_other_files_alone(app_ctx):
    places, _ = read([feature(point(358500, 173000), name="Stapleton Road", area="Easton")])
    other, _ = read([feature(point(358600, 173000), name="Station Road", area="Filton")])
    load(other, source="roads.geojson")
    first = load(places)
    again = load(places)
    assert (first.loaded, first.replaced, again.loaded, again.replaced) == (1, 0, 1, 1)
    rows = db.session.execute(
        select(NamedPlace.name, NamedPlace.source, func.ST_AsText(NamedPlace.location)).order_by(
            NamedPlace.name
        )
    ).all()
    assert rows == [
        ("Stapleton Road", "names.geojson", "POINT(358500 173000)"),
        ("Station Road", "roads.geojson", "POINT(358600 173000)"),
    ]
    assert "(replacing 1 loaded before)" in again.lines()[0]


def test_a_load_that_fails_part_way_changes_nothing(app_ctx):
    load_names(("Stapleton Road", "Easton"))
    places, _ = read([feature(point(358500, 173000), name="Replacement Road")])
    broken = [*places, Named("x", "k" * 41, None, 358500, 173000, -2.5, 51.4)]  # kind too wide
    connection = db.session.connection().connection.driver_connection
    with pytest.raises(Exception, match="too long"):
        load_named_places(
            connection, broken, source="names.geojson", release="2025-10", summary=NamesSummary()
        )
    db.session.rollback()
    assert db.session.scalars(select(NamedPlace.name)).all() == ["Stapleton Road"]


# --- searching -----------------------------------------------------------------------


def test_search_finds_names_by_prefix_in_any_case_the_name_itself_then_shorter_then_a_to_z(
    app_ctx,
):
    load_names(
        ("Station Road", "Filton"),
        ("Stapleton Road", "Easton"),
        ("Stapleton", None),
        ("St Mark's Road", "Easton"),
        ("Stapleton Close", "Easton"),
        ("Upper Stapleton Lane", "Easton"),
    )
    names = [r["name"] for r in names_dao.search_names("STAPLETON")]
    assert names == ["Stapleton", "Stapleton Road", "Stapleton Close"]
    assert [r["name"] for r in names_dao.search_names("sta")] == [
        "Stapleton",
        "Station Road",
        "Stapleton Road",
        "Stapleton Close",
    ]
    assert [r["name"] for r in names_dao.search_names("sta", limit=2)] == [
        "Stapleton",
        "Station Road",
    ]
    # A phone types a curly apostrophe.
    assert [r["name"] for r in names_dao.search_names("st mark’s")] == ["St Mark's Road"]


def test_a_broad_prefix_is_ranked_among_its_first_matches_the_name_itself_first(
    app_ctx, monkeypatch
):
    monkeypatch.setattr(names_dao, "CANDIDATES", 3)
    load_names(("Bathwick", None), ("Bath Street", None), ("Bath Road", None), ("Bath", None))
    # Alphabetically "bath", "bath road", "bath street" come first; "bathwick" is left.
    assert [r["name"] for r in names_dao.search_names("bath")] == [
        "Bath",
        "Bath Road",
        "Bath Street",
    ]


def test_one_answer_per_name_and_area(app_ctx):
    load_names(("Station Road", "Filton"), ("Station Road", "Keynsham"), ("STATION ROAD", "Filton"))
    load_names(("Station Road", "Filton"), source="roads.geojson")
    found = names_dao.search_names("station road")
    assert [(r["name"].lower(), r["area"]) for r in found] == [
        ("station road", "Filton"),
        ("station road", "Keynsham"),
    ]
    assert set(found[0]) == {"name", "kind", "area", "longitude", "latitude"}


def test_the_search_uses_the_prefix_index(app_ctx):
    load_names(("Stapleton Road", "Easton"))
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        db.session.execute(
            text("EXPLAIN " + names_dao._SEARCH.text),
            {"pattern": "stap%", "typed": "stap", "limit": 10, "candidates": 1000},
        ).scalars()
    )
    db.session.rollback()
    # The pattern bounds the index scan (text_pattern_ops' ~>=~ and ~<~), not a filter.
    assert "ix_named_places_search_key" in plan and "~>=~" in plan, plan


# --- the API -------------------------------------------------------------------------


def test_the_api_says_when_no_names_are_loaded(client):
    response = client.get("/api/names?q=Stapleton")
    assert response.status_code == 200
    assert response.json == {"loaded": False, "results": []}


def test_the_api_finds_names_for_anyone_without_signing_in(client, app_ctx):
    load_names(("Stapleton Road", "Easton"), ("Station Road", "Filton"))
    response = client.get("/api/names?q=  stapleton   ro&limit=5")
    assert response.status_code == 200
    [found] = response.json["results"]
    assert response.json["loaded"] is True
    assert found["name"] == "Stapleton Road" and found["area"] == "Easton"
    assert found["kind"] == "place"
    longitude, latitude = bng_to_wgs84([358500], [173000])
    assert (found["longitude"], found["latitude"]) == pytest.approx(
        (float(longitude[0]), float(latitude[0])), abs=1e-6
    )
    # Posted, the same answer, and what was typed stays out of the address (the
    # officer's map posts it: an outside check); a body that is no object is refused.
    posted = client.post("/api/names", json={"q": "  stapleton   ro", "limit": 5})
    assert posted.status_code == 200 and posted.json == response.json
    # A joiner a paste brought along unseen is not part of the name.
    unseen = client.post("/api/names", json={"q": "staple\u200dton ro", "limit": 5})
    assert unseen.json == response.json
    assert client.post("/api/names", data="[1]", content_type="application/json").status_code == 400


@pytest.mark.parametrize(
    ("query", "reason", "words"),
    [
        ("", "too_short", "at least 2"),
        ("s", "too_short", "at least 2"),
        ("  s  ", "too_short", "at least 2"),
        ("sta%0Ation", "invalid", "a line break in it (at character 4)"),
        ("sta%00", "invalid", "a null character"),
        ("%09%09", "invalid", "a tab"),
        ("%E2%80%8B%E2%80%8B", "invalid", "only invisible characters"),
    ],
)
def test_a_search_too_short_or_holding_control_characters_is_a_400_that_says_why(
    client, query, reason, words
):
    response = client.get(f"/api/names?q={query}")
    assert response.status_code == 400
    assert response.json["reason"] == reason
    assert words in response.json["error"]
    assert set(response.json) == {"error", "reason"}


@pytest.mark.parametrize("limit", ["0", "51", "-1", "x", "1e309", "99999999999"])
def test_a_limit_out_of_range_is_a_400(client, limit):
    response = client.get(f"/api/names?q=sta&limit={limit}")
    assert response.status_code == 400 and response.json["reason"] == "invalid"


def test_hostile_searches_are_answered_without_harm(client, app_ctx):
    load_names(("Stapleton Road", "Easton"), ("100% Lane", None), ("Under_score Close", None))
    # Very long: cut to 60 characters, and a name never starts with that.
    response = client.get("/api/names", query_string={"q": "a" * 10_000})
    assert response.status_code == 200 and response.json == {"loaded": True, "results": []}
    spaced_out = "Stapleton" + " " * 9_000 + "Road"  # spaces collapse before the cut
    [found] = client.get("/api/names", query_string={"q": spaced_out}).json["results"]
    assert found["name"] == "Stapleton Road"

    def names(query):
        return [
            r["name"] for r in client.get("/api/names", query_string={"q": query}).json["results"]
        ]

    # LIKE's wildcards are matched as themselves.
    assert names("st%") == []
    assert names("s_a") == []
    assert names("%%") == []
    assert names("__") == []
    assert names("100%") == ["100% Lane"]
    assert names("under_") == ["Under_score Close"]
    assert names("under\\") == []
    # SQL in the text is only text.
    assert names("'; DROP TABLE named_places; --") == []
    assert names("' OR '1'='1") == []
    assert len(names("Stapleton")) == 1


# --- the command ---------------------------------------------------------------------


def test_load_names_loads_the_file_and_again_replaces_it(runner, client):
    arguments = ["geo", "load-names", str(SAMPLE), "--kind-property", "LOCAL_TYPE"]
    result = runner.invoke(args=[*arguments, "--release", "2025-10"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "names:open_names_sample.geojson (release 2025-10): read 8, loaded 6, rejected 2",
        "  1 no name (or NAME1)",
        "  1 no geometry",
    ]
    found = client.get("/api/names?q=station").json["results"]
    assert [(r["name"], r["kind"], r["area"]) for r in found] == [
        ("Station Road", "Named Road", "Filton"),
        ("Station Road", "Named Road", "Keynsham"),
    ]
    # Easton has no POPULATED_PLACE: its district is the area.
    [easton] = client.get("/api/names?q=easton").json["results"]
    assert (easton["kind"], easton["area"]) == ("Suburban Area", "City of Bristol")

    again = runner.invoke(args=[*arguments, "--release", "2025-10"])
    assert again.exit_code == 0, again.output
    assert "loaded 6 (replacing 6 loaded before)" in again.output
    assert len(client.get("/api/names?q=sta").json["results"]) == 4


def test_load_names_with_a_fixed_kind_and_chosen_properties(runner, client, tmp_path):
    longitude, latitude = (float(v[0]) for v in bng_to_wgs84([360919], [174488]))
    path = write_collection(
        tmp_path / "roads.geojson",
        [feature(point(longitude, latitude), ROAD="Stapleton Road", TOWN="Bristol")],
    )
    result = runner.invoke(
        args=[
            "geo",
            "load-names",
            str(path),
            "--kind",
            "street",
            "--name-property",
            "ROAD",
            "--area-property",
            "TOWN",
            "--release",
            "2025-10",
        ]
    )
    assert result.exit_code == 0, result.output
    [found] = client.get("/api/names?q=stapleton").json["results"]
    assert (found["name"], found["kind"], found["area"]) == ("Stapleton Road", "street", "Bristol")
    assert (found["longitude"], found["latitude"]) == pytest.approx((longitude, latitude))
    e, n = wgs84_to_bng([longitude], [latitude])
    assert (float(e[0]), float(n[0])) == pytest.approx((360919, 174488), abs=0.01)


def test_load_names_keeps_what_was_loaded_when_every_feature_is_rejected(runner, client, tmp_path):
    loaded = runner.invoke(args=["geo", "load-names", str(SAMPLE), "--release", "2025-10"])
    assert loaded.exit_code == 0, loaded.output
    result = runner.invoke(
        args=["geo", "load-names", str(SAMPLE), "--name-property", "nope", "--release", "2025-10"]
    )
    assert result.exit_code == 1
    assert "read 8, loaded 0, rejected 8" in result.output
    assert "names loaded before are kept" in result.output
    assert len(client.get("/api/names?q=sta").json["results"]) == 4

    not_geojson = tmp_path / "names.geojson"
    not_geojson.write_text("name,x,y\n")
    result = runner.invoke(args=["geo", "load-names", str(not_geojson), "--release", "2025-10"])
    assert result.exit_code == 1 and "not a GeoJSON FeatureCollection" in result.output
