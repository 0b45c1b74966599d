"""A vector base map in one PMTiles file, built from data the caller gives.

A force without a tile server still needs a map an officer can aim with: outlines of
its districts and wards, their names, postcode sectors ("BS1 6") at close zoom, and
shading where people live. This module makes those layers from places and postcode
centroids it is handed (it never reads the database) and writes them, with any layers
of the force's own (roads, place names as GeoJSON), as Mapbox Vector Tiles in one
PMTiles archive: one static file, served with HTTP range requests, no tile server.

Zooms are data zooms. The map draws each 256-pixel display tile at zoom z from the
data tile at z - 1 (protomaps-leaflet's default `levelDiff`, tiles drawn at 512 px),
so data zooms 6-14 serve display zooms 7-15 and are stretched beyond.

Layers and their properties:

    boundaries  lines      kind: force | district | ward (shared edges drawn once)
    places      points     kind: district | ward, name, code
    sectors     points     sector ("BS1 6"), postcodes (how many it holds)
    density     polygons   postcodes (in the square), per_km2, cell_m
    <yours>     as given   the GeoJSON's scalar properties
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from mapbox_vector_tile import encode
from mapbox_vector_tile.encoder import on_invalid_geometry_make_valid
from pmtiles.reader import MmapSource, Reader
from pmtiles.tile import (
    Compression,
    MagicNumberNotFound,
    SpecVersionUnsupported,
    TileType,
    zxy_to_tileid,
)
from pmtiles.writer import Writer
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geo.geojson import read_feature_collection
from geo.postcodes import display
from geo.projection import BNG, WGS84, bng_to_wgs84, transform_geometry

WEB_MERCATOR = 3857
HALF_WORLD_M = 20_037_508.342789244  # Web Mercator's x at 180 degrees east
MAX_LATITUDE = 85.05112878  # where Web Mercator's square world ends
EXTENT = 4096  # tile coordinates across a tile (the MVT default)
# Data beyond each tile's edge, in tile units (an eighth of a 512-pixel tile is 8
# units a pixel): lines and fills run past the edge, so no seam shows where tiles meet.
BUFFER = 128
# Geometry is simplified to half a display pixel of its zoom: finer detail is invisible
# and only makes the file bigger.
SIMPLIFY_PIXELS = 0.5
DISPLAY_TILE_PX = 512
# Bump when the tiles this module writes change for the same input, so a file built by
# an older version is rebuilt.
BUILDER_VERSION = 1

# The zooms of the standard layers. Data zoom 6 is a whole force on a phone (display
# zoom 7); 14 shows streets (display 15, overzoomed beyond).
MIN_ZOOM = 6
MAX_ZOOM = 14
DISTRICT_LABEL_ZOOMS = (6, 10)
WARD_OUTLINE_MIN_ZOOM = 8
WARD_LABEL_ZOOMS = (10, 14)
SECTOR_LABEL_ZOOMS = (12, 14)
# Squares of the British National Grid, larger when zoomed out so a square is always a
# few pixels across: (first zoom, last zoom, side in metres).
DENSITY_SQUARES = ((6, 9, 2000), (10, 11, 1000), (12, 13, 500), (14, 14, 250))
# Label points need not be exact: the centre of the largest circle inside the area,
# found to within this many metres.
LABEL_POINT_TOLERANCE_M = 50

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Feature:
    """One feature in WGS84 longitude/latitude, shown from min_zoom to max_zoom of its
    layer's range (None: the layer's)."""

    geometry: BaseGeometry
    properties: dict[str, Scalar] = field(default_factory=dict)
    min_zoom: int | None = None
    max_zoom: int | None = None


@dataclass(frozen=True)
class Layer:
    name: str
    features: Sequence[Feature]
    min_zoom: int = MIN_ZOOM
    max_zoom: int = MAX_ZOOM
    description: str = ""


@dataclass(frozen=True)
class Place:
    """A named area in BNG metres, as the caller holds it."""

    kind: str
    code: str
    name: str
    boundary_bng: BaseGeometry


@dataclass
class BuildSummary:
    path: Path
    size_bytes: int = 0
    tiles: int = 0  # tiles addressed (with something in them)
    unique_tiles: int = 0  # tiles stored (identical tiles are stored once)
    tiles_per_zoom: dict[int, int] = field(default_factory=dict)
    features: dict[str, int] = field(default_factory=dict)  # per layer, as given
    seconds: float = 0.0
    digest: str = ""

    def lines(self) -> list[str]:
        zooms = ", ".join(f"z{z} {n}" for z, n in sorted(self.tiles_per_zoom.items()))
        layers = ", ".join(f"{name} {n:,}" for name, n in self.features.items())
        return [
            f"{self.path}: {self.size_bytes / 1e6:.1f} MB, {self.tiles:,} tiles "
            f"({self.unique_tiles:,} stored) in {self.seconds:.1f} s",
            f"  tiles per zoom: {zooms}",
            f"  features per layer: {layers}",
        ]


# --- the standard layers, from places and postcodes --------------------------------


def standard_layers(
    *,
    force: Place | None,
    districts: Iterable[Place],
    wards: Iterable[Place],
    postcodes: Sequence[tuple[str, float, float]],
) -> list[Layer]:
    """Outlines, names, postcode sectors and density from a force's places (BNG) and its
    live postcodes as (postcode, easting, northing)."""
    districts, wards = list(districts), list(wards)
    outlines = outline_features("district", districts)
    outlines += outline_features("ward", wards, min_zoom=WARD_OUTLINE_MIN_ZOOM)
    if force is not None:
        outlines += outline_features("force", [force])
    names = name_features("district", districts, zooms=DISTRICT_LABEL_ZOOMS)
    names += name_features("ward", wards, zooms=WARD_LABEL_ZOOMS)
    eastings = np.array([p[1] for p in postcodes], dtype=float)
    northings = np.array([p[2] for p in postcodes], dtype=float)
    density: list[Feature] = []
    for first, last, side_m in DENSITY_SQUARES:
        density += density_features(eastings, northings, side_m, zooms=(first, last))
    return [
        Layer("density", density, description="Live postcodes per square of the national grid"),
        Layer("boundaries", outlines, description="Force, district and ward outlines"),
        Layer("places", names, description="District and ward names"),
        Layer(
            "sectors",
            sector_features(postcodes),
            *SECTOR_LABEL_ZOOMS,
            description="Postcode sectors, at their middle postcode",
        ),
    ]


def outline_features(
    kind: str, places: Sequence[Place], *, min_zoom: int | None = None
) -> list[Feature]:
    """The outlines of places of one kind as lines, each shared edge once.

    >>> from shapely import box
    >>> two = [Place("ward", "A", "A", box(0, 0, 1000, 1000)),
    ...        Place("ward", "B", "B", box(1000, 0, 2000, 1000))]
    >>> [round(f.geometry.length, 3) > 0 for f in outline_features("ward", two)]
    [True]
    >>> outline_features("ward", [])
    []
    """
    if not places:
        return []
    edges = shapely.line_merge(shapely.union_all([p.boundary_bng.boundary for p in places]))
    edges = transform_geometry(edges, BNG, WGS84)
    return [Feature(edges, {"kind": kind}, min_zoom=min_zoom)]


def name_features(kind: str, places: Sequence[Place], *, zooms: tuple[int, int]) -> list[Feature]:
    """A label point for each place: the centre of the largest circle inside it, so a
    crescent-shaped ward is labelled on itself."""
    features = []
    for place in places:
        circle = shapely.maximum_inscribed_circle(place.boundary_bng, LABEL_POINT_TOLERANCE_M)
        centre = shapely.get_point(circle, 0)
        features.append(
            Feature(
                transform_geometry(centre, BNG, WGS84),
                {"kind": kind, "name": place.name, "code": place.code},
                *zooms,
            )
        )
    return features


def sector_of(postcode: str) -> str:
    """The postcode sector: the outward code and the inward code's digit.

    >>> sector_of("bs16ad"), sector_of("SW1A 1AA")
    ('BS1 6', 'SW1A 1')
    """
    return display(postcode)[:-2]


def sector_features(postcodes: Sequence[tuple[str, float, float]]) -> list[Feature]:
    """One point per postcode sector, at its postcode nearest the sector's mean centre
    (a mean alone can fall in a neighbouring sector), with how many postcodes it holds.

    >>> [(f.properties["sector"], f.properties["postcodes"])
    ...  for f in sector_features([("BS1 6AD", 358000, 173000), ("BS16AE", 358100, 173000),
    ...                            ("BS1 5AA", 359000, 172000)])]
    [('BS1 5', 1), ('BS1 6', 2)]
    >>> sector_features([])
    []
    """
    by_sector: dict[str, list[tuple[float, float]]] = {}
    for postcode, easting, northing in postcodes:
        by_sector.setdefault(sector_of(postcode), []).append((easting, northing))
    names, points = [], []
    for sector in sorted(by_sector):
        members = np.array(by_sector[sector], dtype=float)
        nearest = np.argmin(((members - members.mean(axis=0)) ** 2).sum(axis=1))
        names.append((sector, len(members)))
        points.append(members[nearest])
    if not points:
        return []
    xy = np.array(points)
    lons, lats = bng_to_wgs84(xy[:, 0], xy[:, 1])
    return [
        Feature(shapely.Point(lon, lat), {"sector": sector, "postcodes": count})
        for (sector, count), lon, lat in zip(names, lons, lats, strict=True)
    ]


def density_features(
    eastings: np.ndarray,
    northings: np.ndarray,
    side_m: int,
    *,
    zooms: tuple[int, int] | None = None,
) -> list[Feature]:
    """Squares of the national grid holding at least one of the points, with how many.

    >>> squares = density_features(np.array([100.0, 900.0, 1500.0]),
    ...                            np.array([100.0, 200.0, 100.0]), 1000)
    >>> [(f.properties["postcodes"], f.properties["per_km2"]) for f in squares]
    [(2, 2), (1, 1)]
    """
    if len(eastings) == 0:
        return []
    cells = np.stack([np.floor(eastings / side_m), np.floor(northings / side_m)], axis=1)
    found, counts = np.unique(cells.astype(np.int64), axis=0, return_counts=True)
    squares = shapely.box(
        found[:, 0] * side_m,
        found[:, 1] * side_m,
        (found[:, 0] + 1) * side_m,
        (found[:, 1] + 1) * side_m,
    )
    squares = transform_geometry(squares, BNG, WGS84)
    per_km2 = counts / (side_m / 1000) ** 2
    first, last = zooms if zooms else (None, None)
    return [
        Feature(
            square,
            {"postcodes": int(count), "per_km2": round(float(density)), "cell_m": side_m},
            first,
            last,
        )
        for square, count, density in zip(squares, counts, per_km2, strict=True)
    ]


# --- a force's own layers ----------------------------------------------------------


def read_geojson_layer(
    path: Path, name: str, *, min_zoom: int = MIN_ZOOM, max_zoom: int = MAX_ZOOM
) -> Layer:
    """A GeoJSON FeatureCollection as a layer: WGS84 (RFC 7946), or British National Grid
    when its legacy "crs" member names EPSG:27700 (as ogr2ogr writes it for OS data).
    Only scalar properties are kept; features with no geometry are skipped, invalid
    ones repaired.

    Raises ValueError when the file is not a FeatureCollection.
    """
    items, srid = read_feature_collection(path)
    from_bng = srid == BNG
    features = []
    for item in items:
        if not (item or {}).get("geometry"):
            continue
        geometry = shape(item["geometry"])
        if geometry.is_empty:
            continue
        if not geometry.is_valid:
            geometry = shapely.make_valid(geometry)
        if from_bng:
            geometry = transform_geometry(geometry, BNG, WGS84)
        properties = {
            key: value
            for key, value in (item.get("properties") or {}).items()
            if isinstance(key, str) and isinstance(value, Scalar) and value == value  # no NaN
        }
        features.append(Feature(geometry, properties))
    return Layer(name, features, min_zoom, max_zoom, description=f"From {Path(path).name}")


# --- tiling ------------------------------------------------------------------------


def layers_digest(layers: Sequence[Layer], **options) -> str:
    """A fingerprint of what a build would write: the same layers and options give the
    same digest, so a build can be skipped when the file already holds it."""
    digest = hashlib.sha256(json.dumps([BUILDER_VERSION, options], sort_keys=True).encode())
    for layer in layers:
        digest.update(json.dumps([layer.name, layer.min_zoom, layer.max_zoom]).encode())
        geometries = [f.geometry for f in layer.features]
        for wkb in shapely.to_wkb(geometries, output_dimension=2, include_srid=False):
            digest.update(wkb)
        for feature in layer.features:
            digest.update(
                json.dumps(
                    [feature.properties, feature.min_zoom, feature.max_zoom], sort_keys=True
                ).encode()
            )
    return digest.hexdigest()


def describe(path: Path) -> dict | None:
    """What a map needs to know of a PMTiles file: its zooms, bounds (west, south, east,
    north) and JSON metadata; None when it is missing or not a PMTiles file."""
    try:
        with open(path, "rb") as handle:
            reader = Reader(MmapSource(handle))
            header = reader.header()
            metadata = reader.metadata()
    except (OSError, ValueError, KeyError, MagicNumberNotFound, SpecVersionUnsupported):
        return None
    return {
        "min_zoom": header["min_zoom"],
        "max_zoom": header["max_zoom"],
        "bounds": [
            header["min_lon_e7"] / 1e7,
            header["min_lat_e7"] / 1e7,
            header["max_lon_e7"] / 1e7,
            header["max_lat_e7"] / 1e7,
        ],
        "metadata": metadata,
    }


def tile_bounds_m(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """A tile's (min x, min y, max x, max y) in Web Mercator metres (y of the XYZ scheme
    counts down from the north).

    >>> [round(v) for v in tile_bounds_m(0, 0, 0)]
    [-20037508, -20037508, 20037508, 20037508]
    """
    size = 2 * HALF_WORLD_M / (1 << z)
    return (
        -HALF_WORLD_M + x * size,
        HALF_WORLD_M - (y + 1) * size,
        -HALF_WORLD_M + (x + 1) * size,
        HALF_WORLD_M - y * size,
    )


def _tile_range(bounds_m: tuple[float, float, float, float], z: int) -> tuple[range, range]:
    size = 2 * HALF_WORLD_M / (1 << z)
    last = (1 << z) - 1
    minx, miny, maxx, maxy = bounds_m
    xs = range(
        max(0, math.floor((minx + HALF_WORLD_M) / size)),
        min(last, math.floor((maxx + HALF_WORLD_M) / size)) + 1,
    )
    ys = range(
        max(0, math.floor((HALF_WORLD_M - maxy) / size)),
        min(last, math.floor((HALF_WORLD_M - miny) / size)) + 1,
    )
    return xs, ys


def _to_web_mercator(geometries: list[BaseGeometry]) -> np.ndarray:
    return transform_geometry(np.array(geometries, dtype=object), WGS84, WEB_MERCATOR)


def _geometry_type(layer: Layer) -> str:
    kinds = {
        {"Point": "point", "LineString": "line", "Polygon": "polygon"}.get(
            f.geometry.geom_type.removeprefix("Multi"), "mixed"
        )
        for f in layer.features
    }
    return kinds.pop() if len(kinds) == 1 else "mixed"


def build_pmtiles(
    path: Path,
    layers: Sequence[Layer],
    *,
    name: str,
    attribution: str,
    description: str = "",
    metadata: dict | None = None,
    max_zoom: int | None = None,
) -> BuildSummary:
    """Write the layers as gzipped vector tiles into a PMTiles file at `path` (replaced
    only once the new file is complete). Empty tiles are left out. With max_zoom, no
    zoom beyond it is written (a smaller file; the map stretches the last zoom).

    Raises ValueError when no layer has a feature.
    """
    started = time.perf_counter()
    path = Path(path)
    summary = BuildSummary(
        path=path, features={layer.name: len(layer.features) for layer in layers}
    )
    summary.digest = (metadata or {}).get("source_digest", "")
    prepared = []  # (layer name, mercator geometries, properties, first zoom, last zoom)
    for layer in layers:
        if not layer.features:
            continue
        geometries = _to_web_mercator([f.geometry for f in layer.features])
        first = np.array(
            [layer.min_zoom if f.min_zoom is None else f.min_zoom for f in layer.features]
        )
        last = np.array(
            [layer.max_zoom if f.max_zoom is None else f.max_zoom for f in layer.features]
        )
        first = np.maximum(first, layer.min_zoom)
        last = np.minimum(
            last, layer.max_zoom if max_zoom is None else min(max_zoom, layer.max_zoom)
        )
        properties = [f.properties for f in layer.features]
        prepared.append((layer.name, geometries, properties, first, last))
    if not prepared:
        raise ValueError("Nothing to draw: every layer is empty.")
    min_zoom = min(int(p[3].min()) for p in prepared)
    max_zoom = max(int(p[4].max()) for p in prepared)
    if max_zoom < min_zoom:
        raise ValueError("Nothing to draw: no feature is shown at any zoom asked for.")

    tiles: list[tuple[int, bytes]] = []
    for z in range(min_zoom, max_zoom + 1):
        tiles += _tiles_at_zoom(z, prepared)
        summary.tiles_per_zoom[z] = len(tiles) - sum(summary.tiles_per_zoom.values())
    if not tiles:
        raise ValueError("Nothing to draw: no feature falls in any tile.")
    tiles.sort(key=lambda tile: tile[0])

    all_bounds = shapely.total_bounds(
        [f.geometry for layer in layers for f in layer.features if not f.geometry.is_empty]
    )
    min_lon, min_lat, max_lon, max_lat = (float(v) for v in all_bounds)
    min_lat, max_lat = max(min_lat, -MAX_LATITUDE), min(max_lat, MAX_LATITUDE)
    header = {
        "tile_type": TileType.MVT,
        "tile_compression": Compression.GZIP,
        "min_lon_e7": int(min_lon * 1e7),
        "min_lat_e7": int(min_lat * 1e7),
        "max_lon_e7": int(max_lon * 1e7),
        "max_lat_e7": int(max_lat * 1e7),
        "center_zoom": min(min_zoom + 2, max_zoom),
        "center_lon_e7": int((min_lon + max_lon) / 2 * 1e7),
        "center_lat_e7": int((min_lat + max_lat) / 2 * 1e7),
    }
    document = {
        "name": name,
        "description": description,
        "attribution": attribution,
        "type": "overlay",
        "format": "pbf",
        "vector_layers": [
            {
                "id": layer.name,
                "description": layer.description,
                "minzoom": layer.min_zoom,
                "maxzoom": layer.max_zoom,
                "geometry": _geometry_type(layer),
                "fields": {
                    key: "Number" if isinstance(value, int | float) else "String"
                    for f in layer.features[:1000]
                    for key, value in f.properties.items()
                },
            }
            for layer in layers
            if layer.features
        ],
    } | (metadata or {})

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        writer = Writer(handle)
        for tile_id, data in tiles:
            writer.write_tile(tile_id, data)
        writer.finalize(header, document)
        summary.unique_tiles = len(writer.hash_to_offset)
    partial.replace(path)  # atomic: a page never reads half a file
    summary.tiles = len(tiles)
    summary.size_bytes = path.stat().st_size
    summary.seconds = time.perf_counter() - started
    return summary


def _tiles_at_zoom(z: int, prepared) -> list[tuple[int, bytes]]:
    size_m = 2 * HALF_WORLD_M / (1 << z)
    tolerance_m = size_m / DISPLAY_TILE_PX * SIMPLIFY_PIXELS
    buffer_m = size_m * BUFFER / EXTENT
    names, geometries, properties = [], [], []
    for name, layer_geometries, layer_properties, first, last in prepared:
        shown = np.flatnonzero((first <= z) & (z <= last))
        if len(shown) == 0:
            continue
        simplified = shapely.simplify(layer_geometries[shown], tolerance_m, preserve_topology=True)
        for index, geometry in zip(shown, simplified, strict=True):
            if not geometry.is_empty:
                names.append(name)
                geometries.append(geometry)
                properties.append(layer_properties[index])
    if not geometries:
        return []
    geometries_array = np.array(geometries, dtype=object)
    tree = shapely.STRtree(geometries_array)
    layer_order = list(dict.fromkeys(names))
    xs, ys = _tile_range(tuple(shapely.total_bounds(geometries_array)), z)
    tiles = []
    for x in xs:
        for y in ys:
            minx, miny, maxx, maxy = tile_bounds_m(z, x, y)
            window = (minx - buffer_m, miny - buffer_m, maxx + buffer_m, maxy + buffer_m)
            hits = tree.query(shapely.box(*window))
            if len(hits) == 0:
                continue
            hits.sort()  # the order given, so features draw in a stable order
            clipped = shapely.clip_by_rect(geometries_array[hits], *window)
            kept = ~shapely.is_empty(clipped)
            if not kept.any():
                continue
            hits = hits[kept]
            # Tile units with y down, rounded as the encoder would, all at once.
            local = shapely.transform(
                clipped[kept],
                lambda xy, minx=minx, maxy=maxy: np.round(
                    (xy - (minx, maxy)) * (EXTENT / size_m, -EXTENT / size_m)
                ),
            )
            by_layer: dict[str, list[dict]] = {}
            for index, geometry in zip(hits, local, strict=True):
                by_layer.setdefault(names[index], []).append(
                    {"geometry": geometry, "properties": properties[index]}
                )
            if not by_layer:
                continue
            data = encode(
                [{"name": n, "features": by_layer[n]} for n in layer_order if n in by_layer],
                default_options={
                    "y_coord_down": True,
                    "extents": EXTENT,
                    "on_invalid_geometry": on_invalid_geometry_make_valid,
                },
            )
            tiles.append((zxy_to_tileid(z, x, y), gzip.compress(data, mtime=0)))
    return tiles
