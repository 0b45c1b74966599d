"""Loaders against the real database, in a transaction that is rolled back."""

import gzip
import json

import pytest
from sqlalchemy import text

from app.extensions import db
from geo.loaders import LoadSummary, load_codepoint, load_places, read_places_geojson

# Made-up postcodes in a made-up area (ZZ), so the shipped data is never touched.
ROWS = [
    "ZZ1 1AA,10,358000,173000,E92000001,E19000001,E18000010,,E06000023,E05010892",
    "ZZ1 1AB,10,358100,173100,E92000001,E19000001,E18000010,,E06000023,E05010892",
    "ZZ1 1AD,90,0,0,E92000001,E19000001,E18000010,,E06000023,E05010892",
    "NOT A POSTCODE,10,1,1,E92000001,,,,,",
    "ZZ1 1AA,10,358000,173000,E92000001,E19000001,E18000010,,E06000023,E05010892",
    "ZZ1 1AE,10,east,173000,E92000001,,,,,",
]
HEADER = (
    "postcode,positional_quality,eastings,northings,country_code,nhs_regional_ha_code,"
    "nhs_ha_code,admin_county_code,admin_district_code,admin_ward_code"
)


@pytest.fixture
def conn(app_ctx):
    connection = db.engine.connect()
    transaction = connection.begin()
    yield connection
    transaction.rollback()
    connection.close()


def raw(conn):
    return conn.connection.driver_connection


def write(path, lines, *, gz):
    data = ("\n".join(lines) + "\n").encode()
    if gz:
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize(("gz", "header"), [(True, True), (False, False), (True, False)])
def test_codepoint_loads_with_or_without_gzip_and_header(conn, tmp_path, gz, header):
    lines = ([HEADER] if header else []) + ROWS
    path = write(tmp_path / ("zz.csv.gz" if gz else "zz.csv"), lines, gz=gz)

    summary = load_codepoint(raw(conn), path, source="test")

    assert (summary.read, summary.new, summary.changed) == (6, 3, 0)
    assert summary.rejected == {
        "not a postcode": 1,
        "duplicate postcode": 1,
        "unreadable quality or coordinates": 1,
    }
    rows = conn.execute(
        text(
            "SELECT postcode, display, ST_X(location), ST_Y(location), ST_X(location_wgs84) "
            "FROM postcodes WHERE postcode LIKE 'ZZ%' ORDER BY postcode"
        )
    ).all()
    assert [r[0] for r in rows] == ["ZZ11AA", "ZZ11AB", "ZZ11AD"]
    assert rows[0][1:4] == ("ZZ1 1AA", 358000, 173000)
    assert rows[0][4] == pytest.approx(-2.6055, abs=1e-3)  # Bristol's longitude
    assert rows[2][2] is None, "quality 90 (no coordinates) must not be placed at (0, 0)"


def test_loading_the_same_file_twice_changes_nothing_and_a_moved_postcode_is_changed(
    conn, tmp_path
):
    folder = tmp_path / "codepoint"
    folder.mkdir()
    write(folder / "zz.csv", ROWS[:2], gz=False)
    load_codepoint(raw(conn), folder, source="test")

    again = load_codepoint(raw(conn), folder, source="test")
    assert (again.new, again.changed, again.unchanged) == (0, 0, 2)

    write(folder / "zz.csv", [ROWS[0].replace("358000", "358050"), ROWS[1]], gz=False)
    moved = load_codepoint(raw(conn), folder, source="test")
    assert (moved.new, moved.changed, moved.unchanged) == (0, 1, 1)
    x = conn.execute(text("SELECT ST_X(location) FROM postcodes WHERE postcode='ZZ11AA'"))
    assert x.scalar() == 358050


def test_invalid_boundary_is_repaired_and_counted(conn, tmp_path):
    bowtie = [[-2.6, 51.4], [-2.5, 51.5], [-2.5, 51.4], [-2.6, 51.5], [-2.6, 51.4]]
    square = [[-2.6, 51.4], [-2.5, 51.4], [-2.5, 51.5], [-2.6, 51.5], [-2.6, 51.4]]
    collection = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"c": "ZZ1", "n": "Bow"},
                "geometry": {"type": "Polygon", "coordinates": [bowtie]},
            },
            {
                "type": "Feature",
                "properties": {"c": "ZZ2", "n": "Square"},
                "geometry": {"type": "Polygon", "coordinates": [square]},
            },
            {"type": "Feature", "properties": {"c": "ZZ3"}, "geometry": None},
        ],
    }
    path = tmp_path / "places.geojson"
    path.write_text(json.dumps(collection))
    summary = LoadSummary()
    features = read_places_geojson(path, code_property="c", name_property="n", summary=summary)
    load_places(raw(conn), features, kind="ward", release="test", summary=summary)

    assert summary.repaired == 1
    assert summary.new == 2
    assert summary.rejected == {"no c or n": 1}
    valid = conn.execute(
        text("SELECT bool_and(ST_IsValid(boundary)) FROM places WHERE release = 'test'")
    ).scalar()
    assert valid is True
