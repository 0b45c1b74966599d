"""Conversions between WGS84 (what maps and phones speak) and the British National Grid.

The British National Grid (EPSG:27700) is in metres, so distances, buffers and areas
are computed there; WGS84 longitude/latitude (EPSG:4326) is kept for the map. Axis
order is always (x, y): easting/northing, longitude/latitude, as the names say.

Accuracy: pyproj's default EPSG:27700 <-> 4326 transformation is the Helmert
approximation, good to about 5 m across GB (typically 2-3 m). Installing the OSTN15
grid (proj-data / `pyproj sync`, file uk_os_OSTN15_NTv2_OSGBtoETRS.tif) makes pyproj
pick the 0.1 m transformation automatically. Postcode centroids are themselves only
"within the building of the closest address", so the default is adequate here.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import Transformer

BNG = 27700
WGS84 = 4326


@lru_cache(maxsize=4)
def _transformer(source: int, target: int) -> Transformer:
    # always_xy: EPSG:4326 is officially lat/long; we only ever use long/lat.
    return Transformer.from_crs(source, target, always_xy=True)


def bng_to_wgs84(eastings, northings):
    """Vectorised: arrays of eastings/northings in metres -> (longitudes, latitudes)."""
    lons, lats = _transformer(BNG, WGS84).transform(
        np.asarray(eastings, dtype=float), np.asarray(northings, dtype=float)
    )
    return lons, lats


def wgs84_to_bng(longitudes, latitudes):
    """Vectorised: arrays of longitudes/latitudes -> (eastings, northings) in metres."""
    return _transformer(WGS84, BNG).transform(
        np.asarray(longitudes, dtype=float), np.asarray(latitudes, dtype=float)
    )


def transform_geometry(geometry, source: int, target: int):
    """Return a shapely geometry re-projected from one EPSG code to another."""
    import shapely

    transformer = _transformer(source, target)
    return shapely.transform(geometry, lambda x, y: transformer.transform(x, y), interleaved=False)
