"""Loaders against the real database, in a transaction that is rolled back."""

import gzip
import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from app.extensions import db
from geo.loaders import LoadSummary, load_places, read_places_geojson
from geo.postcode_loader import load_codepoint, load_onspd, load_postcodes

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

    assert (summary.read, summary.new, summary.changed, summary.unchanged) == (6, 3, 0, 0)
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
    table_before = conn.execute(text("SELECT 'postcodes'::regclass::oid")).scalar()

    again = load_codepoint(raw(conn), folder, source="test")
    assert (again.new, again.changed, again.unchanged) == (0, 0, 2)
    table_after = conn.execute(text("SELECT 'postcodes'::regclass::oid")).scalar()
    assert table_after == table_before, "an unchanged load must not rewrite the table"

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


def test_a_postcode_dropped_from_a_complete_area_file_is_terminated_not_deleted(conn, tmp_path):
    folder = tmp_path / "codepoint"
    folder.mkdir()
    write(folder / "zz.csv", ROWS[:2], gz=False)
    load_codepoint(raw(conn), folder, source="test")

    write(folder / "zz.csv", ROWS[:1], gz=False)
    summary = load_codepoint(raw(conn), folder, source="test")

    assert summary.terminated == 1
    rows = conn.execute(
        text(
            "SELECT postcode, terminated_on IS NOT NULL, location IS NOT NULL FROM postcodes "
            "WHERE postcode LIKE 'ZZ%' ORDER BY postcode"
        )
    ).all()
    assert rows == [("ZZ11AA", False, True), ("ZZ11AB", True, True)]
    # Other areas are not touched by a ZZ load.
    bs = conn.execute(text("SELECT count(*) FROM postcodes WHERE terminated_on IS NOT NULL"))
    assert bs.scalar() == 1


def test_the_swap_keeps_the_index_names_the_migrations_expect(conn, tmp_path):
    before = (
        conn.execute(
            text("SELECT indexname FROM pg_indexes WHERE tablename = 'postcodes' ORDER BY 1")
        )
        .scalars()
        .all()
    )
    load_codepoint(raw(conn), write(tmp_path / "zz.csv", ROWS[:2], gz=False), source="test")
    after = (
        conn.execute(
            text("SELECT indexname FROM pg_indexes WHERE tablename = 'postcodes' ORDER BY 1")
        )
        .scalars()
        .all()
    )
    assert after == before
    assert "pk_postcodes" in after and "idx_postcodes_location" in after
    plan = (
        conn.execute(
            text(
                "EXPLAIN SELECT * FROM postcodes WHERE ST_DWithin(location, "
                "ST_SetSRID(ST_MakePoint(358000, 173000), 27700), 500)"
            )
        )
        .scalars()
        .all()
    )
    assert any("idx_postcodes_location" in line for line in plan)


def test_lookups_keep_answering_during_a_load_and_a_failed_load_changes_nothing(
    conn, app_ctx, tmp_path
):
    seen_during_load = []

    def rows_that_fail_half_way():
        yield ("ZZ1 1AA", "10", "358000", "173000", "E92000001", "E06000023", "", "", "")
        # Another connection looks a postcode up while the load is streaming.
        with db.engine.connect() as other:
            seen_during_load.append(
                other.execute(
                    text("SELECT display FROM postcodes WHERE postcode = 'BS16AD'")
                ).scalar()
            )
        raise OSError("disk went away")

    savepoint = conn.begin_nested()
    with pytest.raises(OSError):
        load_postcodes(raw(conn), rows_that_fail_half_way(), source="test")
    savepoint.rollback()

    assert seen_during_load == ["BS1 6AD"]
    assert (
        conn.execute(text("SELECT count(*) FROM postcodes WHERE postcode LIKE 'ZZ%'")).scalar() == 0
    )
    assert conn.execute(text("SELECT count(*) FROM postcodes")).scalar() == 121_988


def test_onspd_adds_terminated_postcodes_with_their_dates(conn):
    # 20 real ONSPD (Aug 2024) rows: Aberdeen live and terminated, and edge cases.
    sample = Path(__file__).resolve().parents[1] / "data" / "onspd_aug2024_sample.csv"
    summary = load_onspd(raw(conn), sample, source="test")

    assert (summary.read, summary.new, summary.rejected_total) == (20, 20, 0)
    assert summary.terminated == 16
    row = conn.execute(
        text(
            "SELECT terminated_on, introduced_on, location IS NOT NULL FROM postcodes "
            "WHERE postcode = 'SE19ZZ'"
        )
    ).one()
    assert (str(row[0]), str(row[1]), row[2]) == ("1998-12-01", "1998-06-01", True)
    jersey = conn.execute(
        text("SELECT location, admin_district_code FROM postcodes WHERE postcode = 'JE24WD'")
    ).one()
    assert jersey == (None, None), "no grid reference and a pseudo-code: no place, no district"


def test_a_newer_edition_with_the_same_values_only_redates_and_an_older_one_changes_nothing(
    conn, tmp_path
):
    folder = tmp_path / "codepoint"
    folder.mkdir()
    write(folder / "zz.csv", ROWS[:2], gz=False)
    january, april = date(2025, 1, 1), date(2025, 4, 1)
    load_codepoint(raw(conn), folder, source="january", release=january)

    again = load_codepoint(raw(conn), folder, source="april", release=april)
    assert (again.changed, again.unchanged, again.redated, again.fields) == (0, 2, 2, {})
    releases = "SELECT DISTINCT position_release, status_release, source FROM postcodes "
    assert conn.execute(text(releases + "WHERE postcode LIKE 'ZZ%'")).all() == [
        (april, april, "january")  # re-dated; the values (and so source) are January's
    ]

    table_before = conn.execute(text("SELECT 'postcodes'::regclass::oid")).scalar()
    write(folder / "zz.csv", [ROWS[0].replace("358000", "358050")], gz=False)
    older = load_codepoint(raw(conn), folder, source="2024", release=date(2024, 10, 1))
    assert (older.changed, older.terminated, older.fields) == (0, 0, {})
    assert older.kept == {("position", april): 1, ("status", april): 1}
    table_after = conn.execute(text("SELECT 'postcodes'::regclass::oid")).scalar()
    assert table_after == table_before, "nothing to change: nothing rewritten"


def test_the_cli_asks_which_edition_a_file_is(runner, tmp_path):
    folder = tmp_path / "codepoint"
    folder.mkdir()
    write(folder / "zz.csv", ROWS[:2], gz=False)

    result = runner.invoke(args=["geo", "load-codepoint", str(folder)])
    assert result.exit_code == 2
    assert "Which Code-Point Open edition is codepoint? Give --release" in result.output

    result = runner.invoke(args=["geo", "load-codepoint", str(folder), "--release", "Oct 2025"])
    assert result.exit_code == 2
    assert "'Oct 2025' is not YYYY-MM or YYYY-MM-DD" in result.output
