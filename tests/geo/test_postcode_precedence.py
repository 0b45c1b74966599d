"""Two postcode products loaded in either order: a newer release wins, field by field.

Real ONSPD rows (Aug 2024, tests/data) and a tiny Code-Point Open folder written here,
against the real database, in a transaction that is rolled back.
"""

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text

from app.extensions import db
from geo.postcode_loader import load_codepoint, load_onspd

ONSPD = Path(__file__).resolve().parents[1] / "data" / "onspd_aug2024_sample.csv"
ONSPD_RELEASE = date(2024, 8, 1)
NEWER = date(2025, 10, 1)  # a Code-Point edition newer than the ONSPD
OLDER = date(2024, 1, 1)  # and one older

# Code-Point area files (complete for areas M and SE), compared with the ONSPD rows:
# M11 1AA has moved and is in another ward; SE1 2DL is where ONSPD has it; SE1 9ZZ,
# terminated in 1998 in ONSPD, is live again; SE1P 5ZZ, live in ONSPD, is not listed;
# M11 1AB is not in the ONSPD sample.
CODEPOINT = {
    "m.csv": [
        "M11 1AA,10,388700,397400,E92000001,E40000010,E54000057,,E08000003,E05099999",
        "M11 1AB,10,388800,397500,E92000001,E40000010,E54000057,,E08000003,E05011359",
    ],
    "se.csv": [
        "SE1 2DL,10,533951,179544,E92000001,E40000003,E54000030,,E09000028,E05011104",
        "SE1 9ZZ,50,531900,180370,E92000001,E40000003,E54000030,,E09000028,E05011095",
    ],
}
# Every column but source and updated_at (which load last changed a row, and when);
# the locations exactly (as EWKB), and the easting and northing to read.
COLUMNS = (
    "postcode, display, positional_quality, country_code, admin_district_code, "
    "admin_ward_code, location::text AS location, location_wgs84::text AS location_wgs84, "
    "introduced_on, terminated_on, position_release, codes_release, introduced_release, "
    "status_release, ST_X(location) AS e, ST_Y(location) AS n"
)


@pytest.fixture
def conn(app_ctx):
    connection = db.engine.connect()
    transaction = connection.begin()
    yield connection
    transaction.rollback()
    connection.close()


@pytest.fixture
def codepoint(tmp_path):
    folder = tmp_path / "codepoint"
    folder.mkdir()
    for name, lines in CODEPOINT.items():
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder


def load(conn, product, path, release):
    raw = conn.connection.driver_connection
    if product == "codepoint":
        return load_codepoint(raw, path, source=f"codepoint {release}", release=release)
    return load_onspd(raw, path, source=f"onspd {release}", release=release)


def table(conn) -> dict:
    """The rows of the test data's areas (not used by the shipped data), by postcode,
    and the number of rows in the whole table."""
    rows = conn.execute(
        text(
            f"SELECT {COLUMNS} FROM postcodes "  # noqa: S608 (COLUMNS is this module's)
            "WHERE postcode ~ '^(AB|JE|M|SE)[0-9]' ORDER BY postcode"
        )
    ).mappings()
    by_postcode = {r["postcode"]: dict(r) for r in rows}
    by_postcode["count"] = conn.execute(text("SELECT count(*) FROM postcodes")).scalar()
    return by_postcode


def loaded_in_both_orders(conn, codepoint, codepoint_release):
    """The table after Code-Point then ONSPD, and after ONSPD then Code-Point."""
    tables = []
    for order in (("codepoint", "onspd"), ("onspd", "codepoint")):
        savepoint = conn.begin_nested()
        for product in order:
            if product == "codepoint":
                load(conn, "codepoint", codepoint, codepoint_release)
            else:
                load(conn, "onspd", ONSPD, ONSPD_RELEASE)
        tables.append(table(conn))
        savepoint.rollback()
    return tables


def test_an_older_onspd_after_a_newer_codepoint_keeps_its_positions_and_live_postcodes(
    conn, codepoint
):
    load(conn, "codepoint", codepoint, NEWER)
    load(conn, "onspd", ONSPD, ONSPD_RELEASE)
    rows = table(conn)

    moved = rows["M111AA"]
    assert (moved["e"], moved["n"], moved["positional_quality"]) == (388700, 397400, 10)
    assert moved["admin_ward_code"] == "E05099999", "the newer edition's ward"
    assert moved["introduced_on"] == date(1980, 1, 1), "Code-Point has no dates: ONSPD's"
    assert moved["position_release"] == NEWER
    assert rows["SE12DL"]["positional_quality"] == 10, "not replaced by ONSPD's none"

    live_again = rows["SE19ZZ"]
    assert live_again["terminated_on"] is None, "live in the newer edition"
    assert (live_again["e"], live_again["positional_quality"]) == (531900, 50)
    assert live_again["status_release"] == NEWER

    # Live in the older ONSPD, but not in the newer edition's complete SE area file.
    unlisted = rows["SE1P5ZZ"]
    assert (unlisted["terminated_on"], unlisted["status_release"]) == (NEWER, NEWER)


def test_loading_in_either_order_gives_the_same_table(conn, codepoint):
    codepoint_first, onspd_first = loaded_in_both_orders(conn, codepoint, NEWER)

    assert len(codepoint_first) == 1 + 21  # the count; 20 ONSPD postcodes and M11 1AB
    assert codepoint_first == onspd_first


def test_an_onspd_newer_than_the_codepoint_overwrites_it_and_can_terminate(conn, codepoint):
    codepoint_first, onspd_first = loaded_in_both_orders(conn, codepoint, OLDER)
    assert codepoint_first == onspd_first

    rows = onspd_first  # the older Code-Point loaded last
    moved = rows["M111AA"]
    assert (moved["e"], moved["n"], moved["positional_quality"]) == (388675, 397445, None)
    assert (moved["admin_ward_code"], moved["position_release"]) == ("E05011359", ONSPD_RELEASE)
    terminated = rows["SE19ZZ"]
    assert (terminated["terminated_on"], terminated["status_release"]) == (
        date(1998, 12, 1),
        ONSPD_RELEASE,
    )
    assert rows["SE1P5ZZ"]["terminated_on"] is None, "live in the newer ONSPD"
    assert rows["M111AB"]["terminated_on"] is None, "only in the Code-Point: as it says"


def test_the_summary_reports_changes_and_what_was_kept_field_by_field(conn, codepoint):
    load(conn, "codepoint", codepoint, NEWER)
    older = load(conn, "onspd", ONSPD, ONSPD_RELEASE)

    assert (older.read, older.new, older.changed) == (20, 17, 3)
    assert older.fields == {"introduced_on": 3}, "the only field Code-Point does not have"
    assert older.kept == {
        ("position", NEWER): 3,  # M11 1AA and SE1 9ZZ moved; SE1 2DL lost its quality
        ("codes", NEWER): 1,  # M11 1AA's ward
        ("status", NEWER): 2,  # SE1 9ZZ live, SE1P 5ZZ not listed
    }
    lines = older.lines({NEWER: "codepoint:shipped"})
    assert lines[7:] == [
        "  introduced_on changed: 3",
        "  kept the newer positions (and positional quality) of 3 postcodes, "
        "from the 2025-10-01 release (codepoint:shipped)",
        "  kept the newer country, district and ward codes of 1 postcode, "
        "from the 2025-10-01 release (codepoint:shipped)",
        "  kept the newer live/terminated statuses of 2 postcodes, "
        "from the 2025-10-01 release (codepoint:shipped)",
    ]


def test_a_newer_codepoint_after_onspd_reports_each_field_it_changed(conn, codepoint):
    load(conn, "onspd", ONSPD, ONSPD_RELEASE)
    newer = load(conn, "codepoint", codepoint, NEWER)

    assert (newer.read, newer.new, newer.changed, newer.terminated) == (4, 1, 4, 1)
    assert newer.fields == {
        "position": 2,  # M11 1AA, SE1 9ZZ
        "positional_quality": 3,  # ONSPD has none: now 10, 10, 50
        "admin_ward_code": 1,  # M11 1AA
        "terminated_on": 2,  # SE1 9ZZ live again, SE1P 5ZZ not listed
    }
    assert newer.kept == {}
    assert "  positional_quality changed: 3" in newer.lines()


def test_a_complete_edition_says_nothing_of_an_area_whose_postcodes_were_removed_since(
    conn, codepoint
):
    load(conn, "codepoint", codepoint, NEWER)
    # As the GB benchmark does (TRUNCATE): what the edition listed is no longer there.
    conn.execute(text("DELETE FROM postcodes WHERE postcode ~ '^(M|SE)[0-9]'"))
    load(conn, "onspd", ONSPD, ONSPD_RELEASE)

    assert table(conn)["SE1P5ZZ"]["terminated_on"] is None, "as the ONSPD says"
