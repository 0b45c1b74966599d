"""The vector base map: `flask geo build-basemap` on the shipped data, the file served
with range requests, and the map pages told which base to draw."""

from __future__ import annotations

import gzip
import json
import re

import mapbox_vector_tile
import pytest
from pmtiles.reader import MmapSource, Reader
from shapely import box

from geo.basemap import Place, build_pmtiles, describe, standard_layers
from tests.geo.test_basemap import tile_at

TINY_WARD = Place("ward", "W1", "Westbury", box(356000, 170000, 360000, 176000))


@pytest.fixture
def tiny_map(tmp_path):
    """A small base map file, built without the database."""
    path = tmp_path / "tiny.pmtiles"
    layers = standard_layers(
        force=None, districts=[], wards=[TINY_WARD], postcodes=[("BS16AD", 358500.0, 173000.0)]
    )
    build_pmtiles(path, layers, name="tiny", attribution="test")
    return path


@pytest.fixture
def configured(app, monkeypatch, tiny_map):
    monkeypatch.setitem(app.config, "BASEMAP_PATH", str(tiny_map))
    return tiny_map


def versioned_url(client) -> str:
    with client.application.test_request_context():
        from app.basemap import base_map

        return base_map()["url"]


def test_the_file_is_served_by_byte_range(client, configured):
    whole = configured.read_bytes()
    first = client.get("/basemap/force.pmtiles", headers={"Range": "bytes=0-126"})
    assert first.status_code == 206
    assert first.data == whole[:127]
    assert first.headers["Content-Range"] == f"bytes 0-126/{len(whole)}"
    assert first.headers["Accept-Ranges"] == "bytes"
    assert first.headers["Content-Type"] == "application/octet-stream"
    etag = first.headers["ETag"]
    assert etag and not etag.startswith("W/")  # pmtiles ignores weak ETags

    middle = client.get("/basemap/force.pmtiles", headers={"Range": "bytes=200-299"})
    assert (middle.status_code, middle.data) == (206, whole[200:300])
    # The first read asks for 16 KiB whatever the file's size: it gets what there is.
    past_the_end = client.get(
        "/basemap/force.pmtiles", headers={"Range": f"bytes=0-{len(whole) + 16_383}"}
    )
    assert past_the_end.status_code in (200, 206) and past_the_end.data == whole
    unchanged = client.get("/basemap/force.pmtiles", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304


@pytest.mark.parametrize("asked", ["items=0-5", "bytes=abc", "bytes=5-1", "bytes=", "0-126"])
def test_a_range_that_cannot_be_read_is_ignored_and_one_past_the_end_refused(
    client, configured, asked
):
    """HTTP says a Range of another unit, or one that is not a range, is ignored: the
    whole file (416 came back, as if the file were too short)."""
    whole = configured.read_bytes()
    answer = client.get("/basemap/force.pmtiles", headers={"Range": asked})
    assert (answer.status_code, answer.data) == (200, whole)
    beyond = client.get("/basemap/force.pmtiles", headers={"Range": f"bytes={len(whole) + 5}-"})
    assert beyond.status_code == 416


def test_a_versioned_url_is_kept_and_any_other_is_checked(client, configured):
    url = versioned_url(client)
    assert re.fullmatch(r"/basemap/force\.pmtiles\?v=[0-9a-f]+-[0-9a-f]+", url)
    kept = client.get(url, headers={"Range": "bytes=0-126"})
    assert kept.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    checked = client.get("/basemap/force.pmtiles?v=old", headers={"Range": "bytes=0-126"})
    assert checked.headers["Cache-Control"] == "no-cache"


def test_no_file_no_base_map(client, app, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "BASEMAP_PATH", str(tmp_path / "not-built.pmtiles"))
    assert client.get("/basemap/force.pmtiles").status_code == 404
    monkeypatch.setitem(app.config, "BASEMAP_PATH", None)
    assert client.get("/basemap/force.pmtiles").status_code == 404


def map_config(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="map-config">(.*?)</script>', page, re.S)
    return json.loads(found.group(1))


def test_map_pages_draw_the_base_map_when_built_and_raster_tiles_when_set(
    client, app, monkeypatch, sign_in, configured
):
    sign_in("supervisor")
    for path in ("/officers/", "/analysts/density"):
        page = client.get(path).text
        base = map_config(page)["baseMap"]
        assert base["url"].startswith("/basemap/force.pmtiles?v=")
        assert base["maxDataZoom"] == 14
        assert {layer["name"] for layer in base["layers"]} == {
            "density",
            "boundaries",
            "places",
            "sectors",
        }
        assert "vendor/protomaps-leaflet/protomaps-leaflet.js" in page

    monkeypatch.setitem(
        app.config,
        "MAP_TILE_URL",
        "https://api.os.uk/maps/raster/v1/zxy/Road_3857/{z}/{x}/{y}.png?key={key}",
    )
    monkeypatch.setitem(app.config, "MAP_TILE_KEY", "a-test-key")
    response = client.get("/officers/")
    config = map_config(response.text)
    assert config["baseMap"] is None
    assert (config["tileKey"], config["tileMaxZoom"]) == ("a-test-key", 19)
    assert "protomaps-leaflet.js" not in response.text
    assert "https://api.os.uk" in response.headers["Content-Security-Policy"]

    monkeypatch.setitem(app.config, "MAP_TILE_URL", None)
    monkeypatch.setitem(app.config, "BASEMAP_PATH", None)
    page = client.get("/officers/").text
    assert map_config(page)["baseMap"] is None
    assert "protomaps-leaflet.js" not in page


def test_build_basemap_draws_the_force_from_the_database_with_a_layer_of_its_own(runner, tmp_path):
    roads = tmp_path / "roads.geojson"
    roads.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "Stapleton Road"},
                        "geometry": {
                            "type": "LineString",
                            "coordinates": [[-2.575, 51.463], [-2.565, 51.468]],
                        },
                    }
                ],
            }
        )
    )
    out = tmp_path / "force.pmtiles"
    arguments = [
        "geo",
        "build-basemap",
        "--out",
        str(out),
        "--layer",
        f"roads:9-11={roads}",
        "--attribution",
        "Contains OS data © Crown copyright and database right 2025 (Open Roads)",
        # Zooms to 11 only: the test stays quick; the full build is the same code.
        "--max-zoom",
        "11",
    ]
    result = runner.invoke(args=arguments)
    assert result.exit_code == 0, result.output
    assert re.search(r"force\.pmtiles: [\d.]+ MB, [\d,]+ tiles", result.output)

    described = describe(out)
    assert (described["min_zoom"], described["max_zoom"]) == (6, 11)
    metadata = described["metadata"]
    assert metadata["added_attribution"].endswith("(Open Roads)")
    assert "Royal Mail" in metadata["attribution"]
    with open(out, "rb") as handle:
        reader = Reader(MmapSource(handle))
        # Bristol's centre at z11: the wards, their names, the road.
        data = reader.get(*tile_at(-2.5879, 51.4545, 11))
    tile = mapbox_vector_tile.decode(gzip.decompress(data))
    names = {f["properties"].get("name") for f in tile["places"]["features"]}
    assert "Central" in names
    assert {f["properties"]["kind"] for f in tile["boundaries"]["features"]} >= {"ward"}
    assert [f["properties"] for f in tile["roads"]["features"]] == [{"name": "Stapleton Road"}]
    assert sum(f["properties"]["postcodes"] for f in tile["density"]["features"]) > 100

    again = runner.invoke(args=arguments)
    assert again.exit_code == 0 and "up to date" in again.output


def test_build_basemap_refuses_a_layer_it_cannot_use(runner, tmp_path):
    result = runner.invoke(
        args=[
            "geo",
            "build-basemap",
            "--out",
            str(tmp_path / "x.pmtiles"),
            "--layer",
            f"sectors={tmp_path}",
        ]
    )
    assert result.exit_code == 2 and "standard layers" in result.output
    result = runner.invoke(
        args=["geo", "build-basemap", "--out", str(tmp_path / "x.pmtiles"), "--layer", "roads"]
    )
    assert result.exit_code == 2 and "NAME=FILE" in result.output
    assert not (tmp_path / "x.pmtiles").exists()
