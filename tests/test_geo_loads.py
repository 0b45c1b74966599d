"""The shell's loaders of reference data refuse a file they cannot read in one line a
person can act on, naming the file, and load nothing of it: a file not in UTF-8, a line
too long for CSV or GeoJSON cut short gave a Python traceback, and an empty ONSPD file
or another product's was recorded as loaded (an outside check)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import DataLoad, Postcode

ONSPD_HEADER = b"pcds,oseast1m,osnrth1m,ctry,oslaua,osward,dointr,doterm,osgrdind\n"
# A postcode no shipped file holds, on a line that would load.
GOOD = b"BS1 9ZZ,358800,172800,E92000001,E06000023,E05010891,202001,,1\n"
WARD = (
    b'{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
    b'{"code":"E05099999","name":"Nowhere"},"geometry":{"type":"Polygon","coordinates":'
    b"[[[-2.6,51.4],[-2.5,51.4],[-2.5,51.5],[-2.6,51.4]]]}}]}"
)
ONSPD = ["geo", "load-onspd", "--release", "2026-11"]
CODEPOINT = ["geo", "load-codepoint", "--release", "2026-11"]
PLACES = ["geo", "load-places", "--kind", "ward", "--code-property", "code"]
PLACES += ["--name-property", "name", "--release", "2026-11"]


@pytest.mark.parametrize(
    ("command", "content", "said"),
    [
        (
            ONSPD,
            ONSPD_HEADER + GOOD + b"BS1 9ZY,358800,172800,Caf\xe9,,,,,1\n",
            "is not UTF-8 text (it holds the byte 0xe9",
        ),
        (
            ONSPD,
            b"\xff\xfe" + ONSPD_HEADER.decode().encode("utf-16-le"),
            "is not UTF-8 text (it holds the byte 0xff",
        ),
        (ONSPD, ONSPD_HEADER + GOOD + b'"' + b"x" * 200_000 + b'",1,2\n', "cannot be read as CSV"),
        (ONSPD, b"", "is empty"),
        (ONSPD, ONSPD_HEADER, "holds no postcodes"),
        (ONSPD, b"a,b,c\n1,2,3\n", "has no pcds, oseast1m, osnrth1m column"),
        (
            CODEPOINT,
            b'"BS1 9ZZ",10,358800,172800,"E92000001","","E19000002"\n\xe9\n',
            "is not UTF-8 text",
        ),
        (CODEPOINT, b"", "holds no postcodes"),
        # Another file's columns: every row rejected, and it was recorded as loaded.
        (CODEPOINT, b"name,town\nSam,Bath\nAl,Bristol\n", "holds no postcode the load could"),
        (ONSPD, ONSPD_HEADER + b"not a postcode,1,2,,,,,,1\n", "holds no postcode the load"),
        (PLACES, WARD[:100], "is not GeoJSON, or is cut short"),
        (PLACES, b"", "is not GeoJSON, or is cut short"),
        (PLACES, b'{"type": "Caf\xe9"}', "is not UTF-8 text (it holds the byte 0xe9"),
        (PLACES, b"postcode,name\nBS1 1AA,x\n", "is not GeoJSON, or is cut short"),
        # Every feature refused (properties named otherwise): it was recorded as loaded,
        # exited 0, and the load with the right options was skipped (an outside check).
        (
            PLACES,
            WARD.replace(b'"code"', b'"WD23CD"'),
            "holds nothing the load could take: all 1 were refused (1 no code or name)",
        ),
        (PLACES, b'{"type":"FeatureCollection","features":[]}', "holds nothing to load."),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_in_words_and_nothing_is_loaded(
    runner, app_ctx, tmp_path, command, content, said
):
    name = "given.geojson" if command is PLACES else "given.csv"
    path = tmp_path / name
    path.write_bytes(content)
    postcodes = db.session.scalar(select(func.count()).select_from(Postcode))

    result = runner.invoke(args=[*command, str(path)])

    assert result.exit_code == 1
    assert f"Error: {name} {said}" in result.output, result.output
    assert result.output.rstrip().endswith("Nothing was loaded.")
    assert "?." not in result.output and ".." not in result.output
    if command is PLACES:
        assert "CSV UTF-8" not in result.output  # a GeoJSON file is not saved as CSV
    assert (
        "Traceback" not in result.output
        and result.exception is None
        or isinstance(result.exception, SystemExit)
    )
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Postcode)) == postcodes
    assert db.session.get(Postcode, "BS19ZZ") is None
    assert db.session.scalar(select(func.count()).where(DataLoad.dataset.like(f"%{name}"))) == 0


def test_a_places_property_is_found_in_any_case_and_a_refused_file_loads_after(
    runner, app_ctx, tmp_path
):
    path = tmp_path / "wards.geojson"
    path.write_bytes(WARD.replace(b'"code"', b'"wd23cd"').replace(b'"name"', b'"WD23NM"'))
    wrong = [*PLACES[:4], "--code-property", "lad23cd", *PLACES[6:]]
    loads = select(func.count()).select_from(DataLoad)
    before = db.session.scalar(loads)  # the shipped data's
    assert runner.invoke(args=[*wrong, str(path)]).exit_code == 1
    assert db.session.scalar(loads) == before
    right = [*PLACES[:4], "--code-property", "WD23CD", "--name-property", "wd23nm"]
    try:
        result = runner.invoke(args=[*right, "--release", "2026-11", str(path)])
        assert result.exit_code == 0, result.output
        assert "new 1" in result.output
    finally:  # the shipped wards are every other test's: the made-up one goes
        db.session.rollback()
        db.session.execute(text("DELETE FROM places WHERE code = 'E05099999'"))
        db.session.execute(text("DELETE FROM data_loads WHERE dataset LIKE '%wards.geojson'"))
        db.session.commit()
