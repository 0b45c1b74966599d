"""The vector base map builder: tiny places and postcodes in central Bristol, built into
a PMTiles file in tmp_path and read back tile by tile with mapbox-vector-tile."""

from __future__ import annotations

import gzip
import json
import math

import mapbox_vector_tile
import pytest
from pmtiles.reader import MmapSource, Reader, all_tiles
from shapely import Point, box

from geo.basemap import (
    HALF_WORLD_M,
    Feature,
    Layer,
    Place,
    build_pmtiles,
    describe,
    layers_digest,
    read_geojson_layer,
    standard_layers,
)
from geo.projection import bng_to_wgs84

# A made-up district of two wards, 8 km by 6 km, around Bristol's centre (BNG metres).
DISTRICT = Place("district", "E06000023", "Bristol, City of", box(356000, 170000, 364000, 176000))
WARDS = [
    Place("ward", "W1", "Westbury", box(356000, 170000, 360000, 176000)),
    Place("ward", "W2", "Eastville", box(360000, 170000, 364000, 176000)),
]
FORCE = Place("force", "E23000036", "Avon and Somerset", DISTRICT.boundary_bng)
POSTCODES = [
    ("BS16AD", 358500.0, 173000.0),
    ("BS16AE", 358600.0, 173100.0),
    ("BS15AA", 361000.0, 172500.0),
    ("BS20AA", 362500.0, 174000.0),
]
BS1_6AD = tuple(float(v[0]) for v in bng_to_wgs84([358500.0], [173000.0]))


def tile_at(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def read_tile(path, z, x, y, **options) -> dict:
    with open(path, "rb") as handle:
        data = Reader(MmapSource(handle)).get(z, x, y)
    if data is None:
        return {}
    return mapbox_vector_tile.decode(gzip.decompress(data), default_options=options)


def props(tile: dict, layer: str) -> list[dict]:
    return [f["properties"] for f in tile.get(layer, {}).get("features", [])]


@pytest.fixture
def roads_geojson(tmp_path):
    """A force's own road layer: one A road through BS1 6AD."""
    lon, lat = BS1_6AD
    path = tmp_path / "roads.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "Stapleton Road", "function": "A Road", "x": [1]},
                        "geometry": {
                            "type": "LineString",
                            "coordinates": [[lon - 0.01, lat], [lon + 0.01, lat + 0.001]],
                        },
                    },
                    {"type": "Feature", "properties": {"name": "no geometry"}, "geometry": None},
                ],
            }
        )
    )
    return path


@pytest.fixture
def built(tmp_path, roads_geojson):
    layers = standard_layers(force=FORCE, districts=[DISTRICT], wards=WARDS, postcodes=POSTCODES)
    layers.append(read_geojson_layer(roads_geojson, "roads", min_zoom=11, max_zoom=14))
    path = tmp_path / "force.pmtiles"
    summary = build_pmtiles(
        path,
        layers,
        name="Test base map",
        attribution="Contains OS data © Crown copyright and database right 2025",
        metadata={"source_digest": "abc"},
    )
    return path, summary


def test_each_layer_is_in_the_tiles_at_its_zooms(built):
    path, summary = built
    lon, lat = BS1_6AD
    at = {z: read_tile(path, *tile_at(lon, lat, z)) for z in range(6, 15)}

    assert {p["kind"] for p in props(at[6], "boundaries")} == {"district", "force"}
    assert {p["name"] for p in props(at[6], "places")} == {"Bristol, City of"}
    assert "sectors" not in at[6] and "roads" not in at[6]
    assert "ward" in {p["kind"] for p in props(at[8], "boundaries")}
    assert "ward" not in {p["kind"] for p in props(at[7], "boundaries")}
    assert {p["name"] for p in props(at[10], "places")} >= {"Westbury", "Eastville"}
    assert "Westbury" not in {p["name"] for p in props(at[9], "places")}
    assert "roads" not in at[10]
    assert props(at[11], "roads") == [{"name": "Stapleton Road", "function": "A Road"}]
    assert "sectors" not in at[11]
    assert {"sector": "BS1 6", "postcodes": 2} in props(at[12], "sectors")
    for z in range(6, 15):
        assert props(at[z], "density"), f"no density at z{z}"
    assert set(summary.tiles_per_zoom) == set(range(6, 15))
    assert summary.features["roads"] == 1  # the feature without a geometry is skipped


def test_density_squares_count_the_postcodes_at_the_size_for_the_zoom(built):
    path, _ = built
    whole = read_tile(path, *tile_at(*BS1_6AD, 6))  # one tile holds all of it
    squares = props(whole, "density")
    assert {s["cell_m"] for s in squares} == {2000}
    assert sum(s["postcodes"] for s in squares) == len(POSTCODES)
    assert all(s["per_km2"] == round(s["postcodes"] / 4) for s in squares)
    close = props(read_tile(path, *tile_at(*BS1_6AD, 14)), "density")
    assert {s["cell_m"] for s in close} == {250}


def test_the_file_says_what_it_holds(built):
    path, summary = built
    described = describe(path)
    assert (described["min_zoom"], described["max_zoom"]) == (6, 14)
    west, south, east, north = described["bounds"]
    assert west < BS1_6AD[0] < east and south < BS1_6AD[1] < north
    metadata = described["metadata"]
    assert metadata["attribution"].startswith("Contains OS data")
    assert metadata["source_digest"] == "abc"
    layers = {layer["id"]: layer for layer in metadata["vector_layers"]}
    assert list(layers) == ["density", "boundaries", "places", "sectors", "roads"]
    assert layers["roads"]["geometry"] == "line"
    assert layers["sectors"]["fields"] == {"sector": "String", "postcodes": "Number"}
    assert summary.size_bytes == path.stat().st_size
    with open(path, "rb") as handle:
        assert sum(1 for _ in all_tiles(MmapSource(handle))) == summary.tiles


def test_a_point_lands_where_it_is_in_its_tile(tmp_path):
    # The centre of tile z10 (511, 340), in longitude/latitude.
    z, x, y = 10, 511, 340
    size = 2 * HALF_WORLD_M / (1 << z)
    mx, my = -HALF_WORLD_M + (x + 0.5) * size, HALF_WORLD_M - (y + 0.5) * size
    lon = mx / HALF_WORLD_M * 180
    lat = math.degrees(2 * math.atan(math.exp(my / 6378137.0)) - math.pi / 2)
    layer = Layer("marks", [Feature(Point(lon, lat), {"name": "centre"})], 10, 10)
    path = tmp_path / "one.pmtiles"
    build_pmtiles(path, [layer], name="one", attribution="")
    tile = read_tile(path, z, x, y, y_coord_down=True, geojson=False)
    assert tile["marks"]["extent"] == 4096
    assert tile["marks"]["features"][0]["geometry"]["coordinates"] == [2048, 2048]


def test_a_force_layer_in_british_national_grid_is_read_as_such(tmp_path):
    path = tmp_path / "names.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "Temple Meads", "rank": 2, "nan": float("nan")},
                        "geometry": {"type": "Point", "coordinates": [359500, 172300]},
                    }
                ],
            }
        )
    )
    layer = read_geojson_layer(path, "places_of_ours")
    point = layer.features[0].geometry
    lons, lats = bng_to_wgs84([359500], [172300])
    assert (point.x, point.y) == pytest.approx((lons[0], lats[0]))
    assert -2.6 < point.x < -2.5 and 51.4 < point.y < 51.5  # Bristol, not the Atlantic
    assert layer.features[0].properties == {"name": "Temple Meads", "rank": 2}


def test_a_file_that_is_not_a_feature_collection_is_refused(tmp_path):
    path = tmp_path / "not.geojson"
    path.write_text('{"type": "Point", "coordinates": [0, 0]}')
    with pytest.raises(ValueError, match="not a GeoJSON FeatureCollection"):
        read_geojson_layer(path, "roads")


def test_the_digest_changes_when_the_data_does_and_only_then():
    def digest(postcodes):
        return layers_digest(
            standard_layers(force=FORCE, districts=[DISTRICT], wards=WARDS, postcodes=postcodes)
        )

    assert digest(POSTCODES) == digest(list(POSTCODES))
    moved = [*POSTCODES[:-1], ("BS20AA", 362600.0, 174000.0)]
    assert digest(moved) != digest(POSTCODES)


def test_max_zoom_leaves_out_closer_zooms_and_nothing_to_draw_is_refused(tmp_path):
    layers = standard_layers(force=FORCE, districts=[DISTRICT], wards=WARDS, postcodes=POSTCODES)
    path = tmp_path / "small.pmtiles"
    summary = build_pmtiles(path, layers, name="small", attribution="", max_zoom=9)
    assert set(summary.tiles_per_zoom) == {6, 7, 8, 9}
    assert describe(path)["max_zoom"] == 9
    with pytest.raises(ValueError, match="Nothing to draw"):
        build_pmtiles(tmp_path / "none.pmtiles", [Layer("empty", [])], name="x", attribution="")
    assert not (tmp_path / "none.pmtiles").exists()


def test_describe_is_none_for_what_is_not_a_base_map(tmp_path):
    (tmp_path / "junk.pmtiles").write_bytes(b"not a pmtiles file at all")
    (tmp_path / "empty.pmtiles").write_bytes(b"")
    assert describe(tmp_path / "junk.pmtiles") is None
    assert describe(tmp_path / "empty.pmtiles") is None
    assert describe(tmp_path / "missing.pmtiles") is None
