"""Reading a GeoJSON FeatureCollection a force gives us (roads, place names), in the
coordinate system it says it is in.

RFC 7946 GeoJSON is WGS84 longitude/latitude. ogr2ogr writes OS data (Open Roads, Open
Names) in the British National Grid and says so in the legacy "crs" member, e.g.
"urn:ogc:def:crs:EPSG::27700". Both the base map's layers and the named places read
files through here, so the two agree on which files are which.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from geo.projection import BNG, WGS84


def srid_of(collection: dict) -> int:
    """BNG when the collection's legacy "crs" member names EPSG:27700, else WGS84.

    >>> srid_of({"crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}}})
    27700
    >>> srid_of({"crs": {"properties": {"name": "EPSG:27700"}}}), srid_of({})
    (27700, 4326)
    """
    crs = collection.get("crs")
    properties = crs.get("properties") if isinstance(crs, dict) else None
    name = str(properties.get("name", "")) if isinstance(properties, dict) else ""
    return BNG if name.replace("::", ":").endswith(f":{BNG}") else WGS84


def read_feature_collection(path: Path) -> tuple[list, int]:
    """The features of a GeoJSON FeatureCollection file (gzipped or not, with or
    without a byte-order mark), as parsed JSON, and the SRID their coordinates are in.

    Raises ValueError when the file is not JSON or not a FeatureCollection.
    """
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rt", encoding="utf-8-sig") as handle:
        try:
            collection = json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not a GeoJSON FeatureCollection ({error})") from None
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise ValueError(f"{path} is not a GeoJSON FeatureCollection")
    features = collection.get("features") or []
    if not isinstance(features, list):
        raise ValueError(f"{path} is not a GeoJSON FeatureCollection (its features are no list)")
    return features, srid_of(collection)
