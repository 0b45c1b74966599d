"""Bulk loaders for postcode directories and boundary files.

They take an open psycopg 3 connection and never commit: the caller owns the
transaction, so a load that fails part-way changes nothing. Rows are streamed in chunks
(never the whole file in memory), projected with pyproj in vectorised batches, and sent
with COPY into a temporary staging table, then merged into the live table in one
statement, which reports how many rows were new or changed. Loading the same file twice
changes nothing the second time.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from shapely import MultiPolygon, Polygon, make_valid
from shapely.geometry import shape

from geo import postcodes
from geo.areas import as_multipolygon
from geo.projection import BNG, WGS84, bng_to_wgs84, transform_geometry

CODEPOINT_COLUMNS = [
    "postcode",
    "positional_quality",
    "eastings",
    "northings",
    "country_code",
    "nhs_regional_ha_code",
    "nhs_ha_code",
    "admin_county_code",
    "admin_district_code",
    "admin_ward_code",
]
# Code-Point Open's "no coordinates" quality: eastings/northings are 0, not a place.
NO_COORDINATES_QUALITY = 90
CHUNK_ROWS = 50_000


@dataclass
class LoadSummary:
    read: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    repaired: int = 0
    rejected: Counter = field(default_factory=Counter)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def lines(self) -> list[str]:
        out = [
            f"read {self.read:,}",
            f"new {self.new:,}",
            f"changed {self.changed:,}",
            f"unchanged {self.unchanged:,}",
            f"repaired {self.repaired:,}",
            f"rejected {self.rejected_total:,}",
        ]
        out += [f"  {count:,} {reason}" for reason, count in self.rejected.most_common()]
        return out


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def codepoint_files(path: Path) -> list[Path]:
    """A Code-Point Open folder (one CSV per postcode area, gzipped or not) or one file."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.endswith((".csv", ".csv.gz")))
        if not files:
            raise FileNotFoundError(f"No .csv or .csv.gz files in {path}")
        return files
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    return [path]


def iter_codepoint_rows(path: Path) -> Iterator[list[str]]:
    """Rows of one Code-Point Open CSV as lists in CODEPOINT_COLUMNS order.

    Works with or without the header row; extra columns after the ten standard ones
    (as in the Avon and Somerset extract) are ignored.
    """
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        for row in reader:
            if not row:
                continue
            if row[0].strip().lower() == "postcode":
                continue  # header
            yield (row + [""] * len(CODEPOINT_COLUMNS))[: len(CODEPOINT_COLUMNS)]


def _chunks(rows: Iterable[list[str]], size: int) -> Iterator[list[list[str]]]:
    chunk: list[list[str]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load_codepoint(
    conn,
    path: Path,
    *,
    source: str,
    progress: Callable[[int], None] | None = None,
) -> LoadSummary:
    """Merge OS Code-Point Open rows into the postcodes table. Does not commit."""
    summary = LoadSummary()
    with conn.cursor() as cur:
        cur.execute(
            """
            CREATE TEMPORARY TABLE postcodes_staging (
                postcode text PRIMARY KEY,
                display text NOT NULL,
                positional_quality smallint,
                country_code text,
                admin_district_code text,
                admin_ward_code text,
                easting double precision,
                northing double precision,
                longitude double precision,
                latitude double precision
            ) ON COMMIT DROP
            """
        )
        seen: set[str] = set()
        with cur.copy(
            "COPY postcodes_staging (postcode, display, positional_quality, country_code, "
            "admin_district_code, admin_ward_code, easting, northing, longitude, latitude) "
            "FROM STDIN"
        ) as copy:
            for file in codepoint_files(path):
                for chunk in _chunks(iter_codepoint_rows(file), CHUNK_ROWS):
                    summary.read += len(chunk)
                    _copy_codepoint_chunk(copy, chunk, seen, summary)
                    if progress:
                        progress(len(chunk))
        cur.execute(
            """
            WITH staged AS (
                SELECT postcode, display, positional_quality, country_code,
                       NULLIF(admin_district_code, '') AS admin_district_code,
                       NULLIF(admin_ward_code, '') AS admin_ward_code,
                       CASE WHEN easting IS NULL THEN NULL
                            ELSE ST_SetSRID(ST_MakePoint(easting, northing), %(bng)s) END
                           AS location,
                       CASE WHEN longitude IS NULL THEN NULL
                            ELSE ST_SetSRID(ST_MakePoint(longitude, latitude), %(wgs84)s) END
                           AS location_wgs84
                FROM postcodes_staging
            ), merged AS (
                INSERT INTO postcodes AS p (postcode, display, positional_quality, country_code,
                    admin_district_code, admin_ward_code, location, location_wgs84, source,
                    updated_at)
                SELECT s.*, %(source)s, now() FROM staged s
                ON CONFLICT (postcode) DO UPDATE SET
                    display = EXCLUDED.display,
                    positional_quality = EXCLUDED.positional_quality,
                    country_code = EXCLUDED.country_code,
                    admin_district_code = EXCLUDED.admin_district_code,
                    admin_ward_code = EXCLUDED.admin_ward_code,
                    location = EXCLUDED.location,
                    location_wgs84 = EXCLUDED.location_wgs84,
                    source = EXCLUDED.source,
                    updated_at = now()
                WHERE (p.positional_quality, p.country_code, p.admin_district_code,
                       p.admin_ward_code)
                      IS DISTINCT FROM
                      (EXCLUDED.positional_quality, EXCLUDED.country_code,
                       EXCLUDED.admin_district_code, EXCLUDED.admin_ward_code)
                   OR NOT ST_OrderingEquals(p.location, EXCLUDED.location)
                   OR (p.location IS NULL) <> (EXCLUDED.location IS NULL)
                RETURNING (xmax = 0) AS inserted
            )
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted)
            FROM merged
            """,
            {"bng": BNG, "wgs84": WGS84, "source": source},
        )
        summary.new, summary.changed = cur.fetchone()
        cur.execute("SELECT count(*) FROM postcodes_staging")
        staged = cur.fetchone()[0]
        summary.unchanged = staged - summary.new - summary.changed
        cur.execute("DROP TABLE postcodes_staging")
    return summary


def _copy_codepoint_chunk(copy, chunk: list[list[str]], seen: set[str], summary: LoadSummary):
    keys, displays, quality, eastings, northings, extra = [], [], [], [], [], []
    for row in chunk:
        key = postcodes.canonical(row[0])
        if not postcodes.is_valid(key):
            summary.rejected["not a postcode"] += 1
            continue
        if key in seen:
            summary.rejected["duplicate postcode"] += 1
            continue
        try:
            q = int(row[1]) if row[1].strip() else None
            e = float(row[2]) if row[2].strip() else 0.0
            n = float(row[3]) if row[3].strip() else 0.0
        except ValueError:
            summary.rejected["unreadable quality or coordinates"] += 1
            continue
        seen.add(key)
        keys.append(key)
        displays.append(postcodes.display(key))
        quality.append(q)
        no_location = q == NO_COORDINATES_QUALITY or (e == 0 and n == 0)
        eastings.append(np.nan if no_location else e)
        northings.append(np.nan if no_location else n)
        extra.append((row[4], row[8], row[9]))
    if not keys:
        return
    lons, lats = bng_to_wgs84(eastings, northings)
    for i, key in enumerate(keys):
        has_point = not np.isnan(eastings[i])
        copy.write_row(
            (
                key,
                displays[i],
                quality[i],
                extra[i][0] or None,
                extra[i][1],
                extra[i][2],
                eastings[i] if has_point else None,
                northings[i] if has_point else None,
                float(lons[i]) if has_point else None,
                float(lats[i]) if has_point else None,
            )
        )


@dataclass
class PlaceFeature:
    code: str
    name: str
    boundary_bng: MultiPolygon
    properties: dict


def read_places_geojson(
    path: Path, *, code_property: str, name_property: str, summary: LoadSummary
) -> list[PlaceFeature]:
    """Features of a WGS84 GeoJSON FeatureCollection, projected to BNG and repaired.

    Invalid geometries are repaired with shapely.make_valid and counted; features with
    no code, no name or no area left after repair are rejected with a reason.
    """
    with _open_text(Path(path)) as handle:
        collection = json.load(handle)
    features = []
    for feature in collection.get("features", []):
        summary.read += 1
        props = feature.get("properties") or {}
        code, name = props.get(code_property), props.get(name_property)
        if not code or not name:
            summary.rejected[f"no {code_property} or {name_property}"] += 1
            continue
        try:
            geometry = shape(feature.get("geometry"))
        except (AttributeError, ValueError, TypeError):
            summary.rejected["unreadable geometry"] += 1
            continue
        if not geometry.is_valid:
            geometry = make_valid(geometry)
            summary.repaired += 1
        polygonal = as_multipolygon(geometry)
        if polygonal.is_empty or not isinstance(polygonal, MultiPolygon | Polygon):
            summary.rejected["no area"] += 1
            continue
        features.append(
            PlaceFeature(
                code=str(code),
                name=str(name),
                boundary_bng=as_multipolygon(transform_geometry(polygonal, WGS84, BNG)),
                properties=props,
            )
        )
    return features


def load_places(
    conn, features: list[PlaceFeature], *, kind: str, release: str, summary: LoadSummary
) -> LoadSummary:
    """Upsert places of one kind and release. Does not commit."""
    with conn.cursor() as cur:
        for feature in features:
            cur.execute(
                """
                INSERT INTO places (kind, code, name, release, properties, boundary)
                VALUES (%(kind)s, %(code)s, %(name)s, %(release)s, %(props)s,
                        ST_Multi(ST_GeomFromWKB(%(wkb)s, %(bng)s)))
                ON CONFLICT (kind, code, release) DO UPDATE SET
                    name = EXCLUDED.name, properties = EXCLUDED.properties,
                    boundary = EXCLUDED.boundary
                WHERE places.name IS DISTINCT FROM EXCLUDED.name
                   OR NOT ST_Equals(places.boundary, EXCLUDED.boundary)
                RETURNING (xmax = 0) AS inserted
                """,
                {
                    "kind": kind,
                    "code": feature.code,
                    "name": feature.name,
                    "release": release,
                    "props": json.dumps(feature.properties),
                    "wkb": feature.boundary_bng.wkb,
                    "bng": BNG,
                },
            )
            row = cur.fetchone()
            if row is None:
                summary.unchanged += 1
            elif row[0]:
                summary.new += 1
            else:
                summary.changed += 1
    return summary
